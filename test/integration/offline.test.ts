import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createOfflineRequest } from '../../src/offline/request';
import { verifyOfflineResponse } from '../../src/offline/verify';
import { acquire, issueLicense, join, newAccount, newOrganization, release, type NewAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

let t: TestServer;
let keyDocument: string;
beforeAll(async () => {
  t = await startTestServer();
  keyDocument = await (await fetch(`${t.base}/.well-known/offline-signing-key`)).text();
});
afterAll(async () => {
  await t.stop();
});

const VALIDATE = `mutation($r: String!) { validateOfflineRequest(request: $r) { responseFile lease { id kind platform license { licenseId } } errors { code reason message } } }`;

function requestFor(owner: NewAccount, deviceId: string, platform: 'WINDOWS' | 'MAC' = 'WINDOWS') {
  return createOfflineRequest({ deviceId, platform, userId: owner.account.userId, serverUrl: t.base });
}

async function validate(token: string, request: string) {
  const r = await t.gql(VALIDATE, { r: request }, { token });
  if (!r.data) throw new Error(JSON.stringify(r));
  return r.data.validateOfflineRequest as {
    responseFile: string | null;
    lease: { id: string; kind: string; license: { licenseId: string } } | null;
    errors: Array<{ code: string; reason: string | null }>;
  };
}

async function ownerWith(facts: { type?: string; seats?: number; expiresAt?: string | null }) {
  const owner = await newAccount(t);
  const license = await issueLicense(t, {
    type: facts.type ?? 'COMMERCIAL',
    seats: facts.seats ?? 1,
    expiresAt: facts.expiresAt ?? null,
    redeemForUserId: owner.account.userId,
  });
  return { owner, license };
}

describe('R6 offline validation', () => {
  it('round trip: request file → validateOfflineRequest → response file → verification with the published key', async () => {
    const { owner, license } = await ownerWith({});
    const req = requestFor(owner, 'AIRGAP-01');
    const done = await validate(owner.token, req.html);
    expect(done.errors).toEqual([]);
    expect(done.lease).toMatchObject({ kind: 'OFFLINE_BOUND', platform: 'WINDOWS', license: { licenseId: license.licenseId } });
    const verified = verifyOfflineResponse({
      responseText: done.responseFile!,
      publicKey: keyDocument,
      deviceId: 'AIRGAP-01',
      expectedNonce: req.request.nonce,
      expectedUserId: owner.account.userId,
    });
    expect(verified).toMatchObject({ ok: true, payload: { licenseId: license.licenseId, userId: owner.account.userId, platform: 'WINDOWS' } });
    // The same key through the API.
    const pem = (await t.gql('{ offlineSigningKey }')).data!.offlineSigningKey;
    expect(JSON.parse(keyDocument).publicKeyPem).toBe(pem);
    // Idempotent: the same request answers the same file and binds no second seat.
    const again = await validate(owner.token, req.url);
    expect(again.responseFile).toBe(done.responseFile);
    expect(again.lease!.id).toBe(done.lease!.id);
    const rows = await t.server.ds.query("SELECT count(*)::int AS n FROM seat_leases WHERE account_id = $1 AND kind = 'OFFLINE_BOUND'", [owner.account.id]);
    expect(rows[0].n).toBe(1);
  });

  it('a tampered response or another device fails verification', async () => {
    const { owner } = await ownerWith({});
    const req = requestFor(owner, 'AIRGAP-02', 'MAC');
    const file = (await validate(owner.token, req.payload)).responseFile!;
    const other = verifyOfflineResponse({ responseText: file, publicKey: keyDocument, deviceId: 'SOMETHING-ELSE' });
    expect(other).toMatchObject({ ok: false, reason: 'WRONG_DEVICE' });
    const parsed = JSON.parse(file);
    const payload = JSON.parse(Buffer.from(parsed.payload, 'base64url').toString());
    payload.licenseId = 'L-000-000';
    const forged = JSON.stringify({ ...parsed, payload: Buffer.from(JSON.stringify(payload)).toString('base64url') });
    expect(verifyOfflineResponse({ responseText: forged, publicKey: keyDocument, deviceId: 'AIRGAP-02' })).toMatchObject({
      ok: false,
      reason: 'BAD_SIGNATURE',
    });
  });

  it('R6.1 refuses expiring, personal and trial licenses and requests for another account', async () => {
    const expiring = await ownerWith({ expiresAt: new Date(t.server.clock.nowMs() + 100 * 86400_000).toISOString() });
    expect((await validate(expiring.owner.token, requestFor(expiring.owner, 'a').payload)).errors[0]).toMatchObject({
      code: 'OFFLINE_NOT_ALLOWED',
      reason: 'NOT_PERMANENT',
    });
    const student = await ownerWith({ type: 'STUDENT' });
    expect((await validate(student.owner.token, requestFor(student.owner, 'b').payload)).errors[0]).toMatchObject({
      code: 'OFFLINE_NOT_ALLOWED',
      reason: 'NOT_PERMANENT',
    });
    const trial = await newAccount(t);
    await t.gql('mutation { requestTrial { errors { code } } }', {}, { token: trial.token });
    expect((await validate(trial.token, requestFor(trial, 'c').payload)).errors[0]).toMatchObject({ code: 'OFFLINE_NOT_ALLOWED', reason: 'TRIAL' });
    const { owner } = await ownerWith({});
    const someoneElse = await newAccount(t);
    expect((await validate(owner.token, requestFor(someoneElse, 'd').payload)).errors[0]).toMatchObject({
      code: 'OFFLINE_NOT_ALLOWED',
      reason: 'OTHER_ACCOUNT',
    });
    expect((await validate(owner.token, 'not a request')).errors[0]).toMatchObject({ code: 'BAD_USER_INPUT' });
    const bound = await t.server.ds.query("SELECT count(*)::int AS n FROM seat_leases WHERE kind = 'OFFLINE_BOUND' AND account_id = ANY($1::uuid[])", [
      [expiring.owner.account.id, student.owner.account.id, trial.account.id, owner.account.id],
    ]);
    expect(bound[0].n).toBe(0);
  });

  it('R6.4 the bound seat counts against the pool, cannot be released or logged out, and support can free it', async () => {
    const { organization, owner, license } = await newOrganization(t, { seats: 1, type: 'COMMERCIAL' });
    const [member] = [await newAccount(t)];
    await join(t, member.token, organization.inviteCode);
    const done = await validate(owner.token, requestFor(owner, 'AIRGAP-03').payload);
    expect(done.errors).toEqual([]);
    // The bound computer holds half of the owner's seat: the member has none, the owner's laptop shares it.
    expect((await acquire(t, member.token, 'member-pc')).errors[0].code).toBe('SEATS_EXHAUSTED');
    expect((await acquire(t, owner.token, 'owner-laptop')).errors).toEqual([]);
    expect((await acquire(t, owner.token, 'owner-third')).errors[0].code).toBe('SEATS_EXHAUSTED');
    // Not releasable, not even by logging out on it or everywhere.
    const rel = await release(t, owner.token, done.lease!.id, true);
    expect(rel.errors[0].code).toBe('OFFLINE_BOUND_SEAT');
    await t.gql('mutation { logoutEverywhere { endedLeases } }', {}, { token: owner.token });
    const [row] = await t.server.ds.query('SELECT ended_at FROM seat_leases WHERE id = $1', [done.lease!.id]);
    expect(row.ended_at).toBeNull();
    expect((await acquire(t, member.token, 'member-pc')).errors[0].code).toBe('SEATS_EXHAUSTED');
    // Support (R8) frees it through the API: the broken-computer case.
    const support = await newAccount(t, { name: 'Support' });
    await t.server.services.accounts.grantSupport(support.email);
    const freed = await t.gql(
      'mutation($i: SupportReleaseSeatsInput!) { supportReleaseSeats(input: $i) { count errors { code } } }',
      { i: { accountId: owner.account.id, licenseId: license.id } },
      { token: support.token },
    );
    expect(freed.data!.supportReleaseSeats).toEqual({ count: 1, errors: [] });
    expect((await acquire(t, member.token, 'member-pc')).errors).toEqual([]);
  });

  it('the /offline page: the request file leads there, the owner logs in and downloads a response file that verifies', async () => {
    const { owner } = await ownerWith({});
    const req = requestFor(owner, 'AIRGAP-04');
    const page = await fetch(req.url.replace(/^http:\/\/[^/]+/, t.base), { headers: { 'accept-language': 'de' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(owner.account.userId);
    const wrong = await fetch(`${t.base}/offline`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ request: req.payload, email: owner.email, password: 'wrong password here' }).toString(),
    });
    expect(wrong.status).toBe(400);
    const res = await fetch(`${t.base}/offline`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ request: req.payload, email: owner.email, password: owner.password }).toString(),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain('response.lic');
    const file = await res.text();
    expect(verifyOfflineResponse({ responseText: file, publicKey: keyDocument, deviceId: 'AIRGAP-04', expectedNonce: req.request.nonce })).toMatchObject({
      ok: true,
    });
    // The login made for the page does not stay usable.
    const tokens = await t.server.ds.query('SELECT count(*)::int AS n FROM auth_tokens WHERE account_id = $1 AND revoked_at IS NULL', [owner.account.id]);
    expect(tokens[0].n).toBe(1); // only the registration token
  });

  it('R6.5 the commands: offline-request writes a file, offline-verify accepts the saved key document and fails with the reason', async () => {
    const cli = path.join(__dirname, '..', '..', 'dist', 'src', 'cli.js');
    expect(fs.existsSync(cli)).toBe(true); // npm test builds first
    const { owner } = await ownerWith({});
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-offline-'));
    try {
      const env = { PATH: process.env.PATH ?? '' };
      const made = spawnSync(
        process.execPath,
        [
          cli,
          'offline-request',
          '--device',
          'AIRGAP-05',
          '--platform',
          'MAC',
          '--user',
          owner.account.userId,
          '--out',
          path.join(dir, 'request.html'),
          '--server-url',
          t.base,
        ],
        { env, encoding: 'utf8' },
      );
      expect(made.status).toBe(0);
      const html = fs.readFileSync(path.join(dir, 'request.html'), 'utf8');
      const done = await validate(owner.token, html);
      fs.writeFileSync(path.join(dir, 'response.lic'), done.responseFile!);
      fs.writeFileSync(path.join(dir, 'key.json'), keyDocument);
      const ok = spawnSync(
        process.execPath,
        [cli, 'offline-verify', '--response', path.join(dir, 'response.lic'), '--public-key', path.join(dir, 'key.json'), '--device', 'AIRGAP-05'],
        { env, encoding: 'utf8' },
      );
      expect(ok.status).toBe(0);
      expect(ok.stdout).toMatch(/^verified/);
      const bad = spawnSync(
        process.execPath,
        [cli, 'offline-verify', '--response', path.join(dir, 'response.lic'), '--public-key', path.join(dir, 'key.json'), '--device', 'OTHER'],
        { env, encoding: 'utf8' },
      );
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/WRONG_DEVICE/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
