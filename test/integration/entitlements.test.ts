import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { deviceDigest } from '../../src/offline/format';
import { jwksHandler, JWKS_PATH, RETIRE_MARGIN_MS } from '../../src/modules/entitlements';
import { issueLicense, join, login, newAccount, newOrganization, type NewAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * R7.5: what the app is told online carries `entitlement.token`, a compact JWS (EdDSA) that the app
 * verifies with the keys at /.well-known/jwks.json; keys rotate without breaking tokens in use.
 */

const ENTITLEMENT = 'canUse canSave expiresAt license { licenseId } token';
const LEASE = `id kind expiresAt entitlement { ${ENTITLEMENT} }`;
const DAY_S = 86_400;

let t: TestServer;
/** The JWKS handler, mounted on its own app over the server's services (src/server.ts wires it separately). */
let jwksApp: Server;
let jwksUrl: string;

beforeAll(async () => {
  t = await startTestServer();
  jwksApp = express().get(JWKS_PATH, jwksHandler(t.server.services)).listen(0);
  await new Promise((r) => jwksApp.once('listening', r));
  jwksUrl = `http://127.0.0.1:${(jwksApp.address() as AddressInfo).port}${JWKS_PATH}`;
});

afterAll(async () => {
  await new Promise((r) => jwksApp?.close(r));
  await t?.stop();
});

async function fetchJwks(url = jwksUrl): Promise<{ jwks: JSONWebKeySet; cacheControl: string | null; contentType: string | null }> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return { jwks: (await res.json()) as JSONWebKeySet, cacheControl: res.headers.get('cache-control'), contentType: res.headers.get('content-type') };
}

/** What the desktop app does: verify against the published keys, at the server's time (the test clock). */
async function verify(token: string, server: TestServer = t): Promise<{ payload: JWTPayload & Record<string, unknown>; kid: string }> {
  const { jwks } = await fetchJwks();
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
    algorithms: ['EdDSA'],
    typ: 'tessera-entitlement+jwt',
    issuer: t.server.config.publicUrl,
    audience: 'tessera-desktop',
    currentDate: server.server.clock.now(),
  });
  return { payload, kid: protectedHeader.kid! };
}

async function licenseStatus(token: string, deviceId: string, server: TestServer = t) {
  const r = await server.gql(`query($d: String!) { licenseStatus(deviceId: $d) { ${ENTITLEMENT} } }`, { d: deviceId }, { token });
  expect(r.errors).toBeUndefined();
  return r.data!.licenseStatus as { canUse: boolean; canSave: boolean; license: { licenseId: string } | null; token: string | null };
}

async function acquireSeat(token: string, deviceId: string, organizationId?: string) {
  const r = await t.gql(
    `mutation($input: AcquireSeatInput!) { acquireSeat(input: $input) { lease { ${LEASE} } errors { code } } }`,
    { input: { deviceId, platform: 'WINDOWS', organizationId } },
    { token },
  );
  expect(r.errors).toBeUndefined();
  expect(r.data!.acquireSeat.errors).toEqual([]);
  return r.data!.acquireSeat.lease as { id: string; kind: string; expiresAt: string | null; entitlement: { canUse: boolean; token: string | null } };
}

async function heartbeatSeat(token: string, leaseId: string) {
  const r = await t.gql(`mutation($id: ID!) { heartbeatSeat(leaseId: $id) { lease { ${LEASE} } errors { code } } }`, { id: leaseId }, { token });
  expect(r.errors).toBeUndefined();
  return r.data!.heartbeatSeat as {
    lease: { id: string; kind: string; expiresAt: string | null; entitlement: { canUse: boolean; token: string | null } } | null;
  };
}

function tamperPayload(token: string, change: Record<string, unknown>): string {
  const [h, p, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
  return [h, Buffer.from(JSON.stringify({ ...claims, ...change })).toString('base64url'), s].join('.');
}

function tamperSignature(token: string): string {
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s, 'base64url');
  sig[10] ^= 0x01;
  return [h, p, sig.toString('base64url')].join('.');
}

let owner: NewAccount;
let ownerLicense: { licenseId: string };

beforeAll(async () => {
  owner = await newAccount(t, { name: 'Owner' });
  ownerLicense = await issueLicense(t, { seats: 2, redeemForUserId: owner.account.userId });
});

describe('the JWKS', () => {
  test('is a JWK Set of Ed25519 public keys with a kid each, briefly cacheable', async () => {
    const { jwks, cacheControl, contentType } = await fetchJwks();
    expect(jwks.keys.length).toBeGreaterThanOrEqual(1);
    for (const k of jwks.keys) {
      expect(Object.keys(k).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      expect(k).toMatchObject({ kty: 'OKP', crv: 'Ed25519', use: 'sig', alg: 'EdDSA' });
      expect(k.x).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    expect(cacheControl).toMatch(/max-age=\d+/);
    expect(contentType).toMatch(/json/);
  });
});

describe('licenseStatus', () => {
  test('carries a token with the account, license, device and what the app may do, for 14 days', async () => {
    const deviceId = 'laptop-of-the-owner';
    const status = await licenseStatus(owner.token, deviceId);
    expect(status.canUse).toBe(true);
    const { payload, kid } = await verify(status.token!);
    expect(decodeProtectedHeader(status.token!)).toEqual({ alg: 'EdDSA', kid, typ: 'tessera-entitlement+jwt' });
    expect(payload).toEqual({
      iss: t.server.config.publicUrl,
      aud: 'tessera-desktop',
      sub: owner.account.userId,
      lic: ownerLicense.licenseId,
      dev: deviceDigest(deviceId),
      canUse: true,
      canSave: true,
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
    expect(payload.dev).toMatch(/^[0-9a-f]{64}$/);
    expect(payload.exp! - payload.iat!).toBe(14 * DAY_S);
    expect(Math.abs(payload.iat! - t.server.clock.nowMs() / 1000)).toBeLessThan(5);
  });

  test('never outlives the license', async () => {
    const someone = await newAccount(t);
    const ends = new Date(t.server.clock.nowMs() + 3 * DAY_S * 1000);
    await issueLicense(t, { redeemForUserId: someone.account.userId, expiresAt: ends.toISOString() });
    const { payload } = await verify((await licenseStatus(someone.token, 'dev-x')).token!);
    expect(payload.canUse).toBe(true);
    expect(payload.exp).toBe(Math.floor(ends.getTime() / 1000));
  });

  test('an answer that says no is signed too, with lic null and a short expiry (1 hour)', async () => {
    const nobody = await newAccount(t);
    const status = await licenseStatus(nobody.token, 'dev-nobody');
    expect(status.canUse).toBe(false);
    const { payload } = await verify(status.token!);
    expect(payload).toMatchObject({ sub: nobody.account.userId, lic: null, canUse: false, canSave: false, dev: deviceDigest('dev-nobody') });
    expect(payload.exp! - payload.iat!).toBe(3600);
  });

  test('a tampered token (payload or signature) is rejected', async () => {
    const nobody = await newAccount(t);
    const { token } = await licenseStatus(nobody.token, 'dev-proxy');
    await expect(verify(tamperPayload(token!, { canUse: true, canSave: true }))).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    await expect(verify(tamperSignature(token!))).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    // A token for another device says so: the app compares `dev` with its own digest.
    const { payload } = await verify(token!);
    expect(payload.dev).not.toBe(deviceDigest('another-device'));
  });
});

describe('leases', () => {
  test('acquireSeat and heartbeatSeat of an owner seat carry the lease and 14 days', async () => {
    const deviceId = 'owner-desktop-1';
    const lease = await acquireSeat(owner.token, deviceId);
    expect(lease.kind).toBe('OWNER');
    const acquired = await verify(lease.entitlement.token!);
    expect(acquired.payload).toEqual({
      iss: t.server.config.publicUrl,
      aud: 'tessera-desktop',
      sub: owner.account.userId,
      lic: ownerLicense.licenseId,
      dev: deviceDigest(deviceId),
      canUse: true,
      canSave: true,
      lease: lease.id,
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
    expect(acquired.payload.exp! - acquired.payload.iat!).toBe(14 * DAY_S);

    // The heartbeat names only the lease: the server kept the device (sealed) at acquire.
    await t.advance(30);
    const beat = await heartbeatSeat(owner.token, lease.id);
    const beaten = await verify(beat.lease!.entitlement.token!);
    expect(beaten.payload).toMatchObject({ lease: lease.id, dev: deviceDigest(deviceId), sub: owner.account.userId, canUse: true });
    expect(beaten.payload.iat).toBeGreaterThanOrEqual(acquired.payload.iat! + 30);
  });

  test("a member seat's token expires at the lease's lapse; administrators listing it get no token", async () => {
    const { owner: admin, organization } = await newOrganization(t, { seats: 3 });
    const member = await newAccount(t, { name: 'Member' });
    await join(t, member.token, organization.inviteCode);
    const lease = await acquireSeat(member.token, 'member-pc', organization.id);
    expect(lease.kind).toBe('MEMBER');
    const { payload } = await verify(lease.entitlement.token!);
    expect(payload).toMatchObject({ sub: member.account.userId, lease: lease.id, canUse: true, dev: deviceDigest('member-pc') });
    expect(payload.exp).toBe(Math.floor(new Date(lease.expiresAt!).getTime() / 1000));

    // licenseStatus on that device: 14 days at most, and not past the lease's lapse.
    const status = await verify((await licenseStatus(member.token, 'member-pc')).token!);
    expect(status.payload.lease).toBeUndefined();
    expect(status.payload.exp).toBe(payload.exp);

    const listed = await t.gql(
      `query($id: ID!) { organization(id: $id) { activeLeases { id entitlement { canUse token } } } }`,
      { id: organization.id },
      { token: admin.token },
    );
    expect(listed.errors).toBeUndefined();
    const seen = (listed.data!.organization.activeLeases as Array<{ id: string; entitlement: { canUse: boolean; token: string | null } }>).find(
      (l) => l.id === lease.id,
    );
    expect(seen?.entitlement).toEqual({ canUse: true, token: null });
  });

  test('an expired token is rejected', async () => {
    const { organization } = await newOrganization(t, { seats: 1 });
    const member = await newAccount(t);
    await join(t, member.token, organization.inviteCode);
    const lease = await acquireSeat(member.token, 'short-lived', organization.id);
    const { payload } = await verify(lease.entitlement.token!);
    await t.advance(payload.exp! - Math.floor(t.server.clock.nowMs() / 1000) + 1);
    await expect(verify(lease.entitlement.token!)).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });
});

describe('instances and rotation', () => {
  test('a second instance on the same database signs with the same key', async () => {
    // Instances behind one address share PUBLIC_URL (the `iss` claim).
    const second = await startTestServer({ PUBLIC_URL: t.server.config.publicUrl }, { databaseUrl: t.databaseUrl });
    try {
      const first = await verify((await licenseStatus(owner.token, 'shared-1')).token!);
      const other = (await licenseStatus(owner.token, 'shared-1', second)).token!;
      const { kid } = await verify(other, second);
      expect(kid).toBe(first.kid);
      expect((await second.server.services.entitlements.jwks()).keys).toEqual((await fetchJwks()).jwks.keys);
    } finally {
      await second.stop();
    }
  });

  test('after a rotation new tokens carry the new kid, old ones verify until they expire, then the old key leaves the JWKS', async () => {
    const before = (await licenseStatus(owner.token, 'rotating')).token!;
    const oldKid = (await verify(before)).kid;

    const rotated = await t.server.services.entitlements.rotateKey();
    expect(rotated.previousKid).toBe(oldKid);
    expect(rotated.kid).not.toBe(oldKid);

    const after = (await licenseStatus(owner.token, 'rotating')).token!;
    expect(decodeProtectedHeader(after).kid).toBe(rotated.kid);
    expect((await verify(after)).kid).toBe(rotated.kid);
    expect((await fetchJwks()).jwks.keys.map((k) => k.kid)).toEqual([rotated.kid, oldKid]);
    // The token signed before the rotation still verifies.
    expect((await verify(before)).kid).toBe(oldKid);

    // Still published the day before it could be retired: tokens it signed can be valid (14 days).
    await t.advance(13 * DAY_S);
    expect((await fetchJwks()).jwks.keys.map((k) => k.kid)).toContain(oldKid);
    expect((await verify(before)).kid).toBe(oldKid);

    // Its last token expired (day-rounded) plus the margin: retired, gone from the JWKS.
    await t.advance(2 * DAY_S + RETIRE_MARGIN_MS / 1000 + 60);
    const { jwks } = await fetchJwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual([rotated.kid]);
    await expect(jwtVerify(before, createLocalJWKSet(jwks), { currentDate: new Date(0) })).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    // New tokens keep verifying (a fresh login: the web token lapsed meanwhile, R1.5).
    const { token: fresh } = await login(t, owner.email, owner.password);
    expect((await verify((await licenseStatus(fresh!, 'rotating')).token!)).kid).toBe(rotated.kid);
  });
});
