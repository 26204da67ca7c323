import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { EntitlementKeyError, EntitlementKeys, OWNER_TOKEN_MS, REFUSED_TOKEN_MS, tokenExpiry } from '../../src/modules/entitlements';
import { createTestDatabase, dropTestDatabase, startTestServer } from '../helpers/server';

/** R7.5: the entitlement signing key is kept in the database, sealed under APP_SECRET, like the offline key (R6.3). */

describe('the signing key', () => {
  let databaseUrl: string;
  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
  });
  afterAll(async () => {
    await dropTestDatabase(databaseUrl);
  });

  test('survives a restart, and another APP_SECRET cannot decrypt it (a clear error)', async () => {
    const first = await startTestServer({}, { databaseUrl });
    const { keys } = await first.server.services.entitlements.jwks();
    const kid = (await new EntitlementKeys(first.server.ds, 'test-secret-test-secret-test-secret-0123', first.server.clock).signingKey()).kid;
    expect(keys.map((k) => k.kid)).toEqual([kid]);
    await first.stop();

    const again = await startTestServer({}, { databaseUrl });
    try {
      expect((await again.server.services.entitlements.jwks()).keys).toEqual(keys);
      const restarted = new EntitlementKeys(again.server.ds, 'test-secret-test-secret-test-secret-0123', again.server.clock);
      const key = await restarted.signingKey();
      expect(key.kid).toBe(kid);
      // What it signs verifies with the keys published before the restart.
      const token = await new SignJWT({ sub: 'A-000-000' }).setProtectedHeader({ alg: 'EdDSA', kid }).setExpirationTime('1h').sign(key.privateKey);
      expect(decodeProtectedHeader(token).kid).toBe(kid);
      await expect(jwtVerify(token, createLocalJWKSet({ keys }))).resolves.toBeTruthy();

      const wrong = new EntitlementKeys(again.server.ds, 'another-secret-another-secret-0123456789', again.server.clock);
      await expect(wrong.signingKey()).rejects.toThrow(EntitlementKeyError);
      await expect(wrong.signingKey()).rejects.toThrow(/cannot be decrypted: APP_SECRET differs/);
      // It did not replace the stored key either.
      expect((await again.server.services.entitlements.jwks()).keys).toEqual(keys);
    } finally {
      await again.stop();
    }
  });
});

describe('tokenExpiry', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const at = (ms: number) => new Date(now.getTime() + ms);
  const member = (lapse: Date | null) => ({ id: 'l', accountId: 'a', kind: 'MEMBER' as const, lapsesAt: lapse });

  test('canUse false: one hour', () => {
    expect(tokenExpiry({ canUse: false, license: null }, { lease: null, ofLease: false }, now)).toEqual(at(REFUSED_TOKEN_MS));
    expect(tokenExpiry({ canUse: false, license: { expiresAt: at(60_000) } }, { lease: member(at(1000)), ofLease: true }, now)).toEqual(at(REFUSED_TOKEN_MS));
  });

  test("a member lease: its lapse (even beyond 14 days, an offline reservation), never after the license's end", () => {
    expect(tokenExpiry({ canUse: true, license: { expiresAt: null } }, { lease: member(at(120_000)), ofLease: true }, now)).toEqual(at(120_000));
    expect(tokenExpiry({ canUse: true, license: { expiresAt: null } }, { lease: member(at(30 * 86_400_000)), ofLease: true }, now)).toEqual(
      at(30 * 86_400_000),
    );
    expect(tokenExpiry({ canUse: true, license: { expiresAt: at(60_000) } }, { lease: member(at(120_000)), ofLease: true }, now)).toEqual(at(60_000));
  });

  test("an owner seat and licenseStatus: 14 days, never after the license's end (nor a serving member lease's lapse)", () => {
    for (const kind of ['OWNER', 'OFFLINE_BOUND'] as const) {
      const lease = { id: 'l', accountId: 'a', kind, lapsesAt: null };
      expect(tokenExpiry({ canUse: true, license: { expiresAt: null } }, { lease, ofLease: true }, now)).toEqual(at(OWNER_TOKEN_MS));
      expect(tokenExpiry({ canUse: true, license: { expiresAt: at(1000) } }, { lease, ofLease: true }, now)).toEqual(at(1000));
    }
    expect(tokenExpiry({ canUse: true, license: { expiresAt: null } }, { lease: null, ofLease: false }, now)).toEqual(at(OWNER_TOKEN_MS));
    expect(tokenExpiry({ canUse: true, license: { expiresAt: null } }, { lease: member(at(120_000)), ofLease: false }, now)).toEqual(at(120_000));
    expect(tokenExpiry({ canUse: true, license: { expiresAt: null } }, { lease: member(at(30 * 86_400_000)), ofLease: false }, now)).toEqual(
      at(OWNER_TOKEN_MS),
    );
  });
});
