import { generateLicenseKey } from '../../src/modules/licenses/codes';
import { newAccount, PASSWORD, redeem, uniqueEmail } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { token errors { code } } }`;

let t: TestServer;
beforeAll(async () => {
  // RATE_LIMIT_FACTOR scales every limit: 0.1 turns 30 registrations per IP and hour into 3,
  // and 5 reset requests per address and hour into 1.
  t = await startTestServer({ RATE_LIMIT_FACTOR: '0.1' });
});
afterAll(async () => {
  await t.stop();
});

describe('request rate limits (RATE_LIMIT_FACTOR)', () => {
  it('limits registrations per IP and answers RATE_LIMITED with a localized message and retryAfterSeconds', async () => {
    const ip = '198.51.100.20';
    for (let i = 0; i < 3; i++) {
      const r = await t.gql(REGISTER, { input: { email: uniqueEmail('rl'), password: PASSWORD, name: 'R', language: 'EN' } }, { ip });
      expect(r.data!.register.errors).toEqual([]);
    }
    const email = uniqueEmail('rl-over');
    const over = await t.gql(REGISTER, { input: { email, password: PASSWORD, name: 'R', language: 'EN' } }, { ip, lang: 'de' });
    expect(over.errors?.[0].extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect(over.errors?.[0].extensions?.retryAfterSeconds).toBeGreaterThan(0);
    expect(over.errors?.[0].message).toMatch(/Zu viele Anfragen/);
    const rows = await t.server.ds.query('SELECT 1 FROM accounts WHERE email_normalized = $1', [email]);
    expect(rows).toHaveLength(0);
    // Another address is not affected.
    const other = await t.gql(REGISTER, { input: { email, password: PASSWORD, name: 'R', language: 'EN' } }, { ip: '198.51.100.21' });
    expect(other.data!.register.errors).toEqual([]);
  });

  it('limits password reset requests per email address and requesting IP, whether or not it has an account (R1.6)', async () => {
    const known = await newAccount(t, { verified: false });
    const ask = (e: string, ip: string) => t.gql('mutation($e: String!) { requestPasswordReset(email: $e) { ok errors { code } } }', { e }, { ip });
    for (const email of [known.email, uniqueEmail('unknown')]) {
      expect((await ask(email, '198.51.100.30')).data!.requestPasswordReset.ok).toBe(true);
      expect((await ask(email, '198.51.100.30')).errors?.[0].extensions?.code).toBe('RATE_LIMITED');
      // Another address has its own allowance: a stranger cannot use up the owner's resets.
      expect((await ask(email, '198.51.100.31')).data!.requestPasswordReset.ok).toBe(true);
    }
  });

  it('limits key redemption attempts per account, so that keys cannot be found by trying', async () => {
    const a = await newAccount(t);
    const tries = [];
    for (let i = 0; i < 3; i++) tries.push(await redeem(t, a.token, generateLicenseKey(), { ip: `198.51.100.${40 + i}` }));
    // 30 per hour and account, times 0.1: the fourth attempt is refused before any lookup.
    expect(tries.map((r) => r.errors[0].code)).toEqual(['INVALID_LICENSE_KEY', 'INVALID_LICENSE_KEY', 'INVALID_LICENSE_KEY']);
    const over = await t.gql('mutation($c: String!) { redeemCode(code: $c) { alreadyRedeemedByYou } }', { c: generateLicenseKey() }, { token: a.token });
    expect(over.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
  });

  it('stores limiter keys without raw IP addresses or email addresses', async () => {
    const rows: Array<{ key: string }> = await t.server.ds.query('SELECT key FROM rate_limits');
    expect(rows.length).toBeGreaterThan(0);
    for (const { key } of rows) {
      expect(key).not.toMatch(/198\.51\.100|@/);
    }
  });
});
