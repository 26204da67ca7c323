import { ACCOUNT_FIELDS, newAccount, PASSWORD, uniqueEmail } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

const REGISTER = `mutation($input: RegisterInput!) {
  register(input: $input) { token account { ${ACCOUNT_FIELDS} } errors { code message field reason } }
}`;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

describe('R1.1 registration', () => {
  it('registers with email, password, name and language, and logs in with a WEB token', async () => {
    const email = uniqueEmail('Reg');
    const r = await t.gql(REGISTER, { input: { email: `  ${email}  `, password: PASSWORD, name: ' Ada Lovelace ', language: 'DE' } });
    const p = r.data!.register;
    expect(p.errors).toEqual([]);
    expect(p.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.account).toMatchObject({ email, name: 'Ada Lovelace', language: 'DE', emailVerified: false, roles: ['USER'] });
    const me = await t.gql(`{ me { ${ACCOUNT_FIELDS} } }`, {}, { token: p.token });
    expect(me.data!.me.id).toBe(p.account.id);
  });

  it('refuses an email that is already registered, also in another letter case, and changes nothing', async () => {
    const first = await newAccount(t);
    for (const variant of [first.email, first.email.toUpperCase(), ` ${first.email.replace('user', 'USER')} `]) {
      const r = await t.gql(REGISTER, { input: { email: variant, password: PASSWORD, name: 'Other', language: 'EN' } });
      expect(r.data!.register).toMatchObject({ token: null, account: null });
      expect(r.data!.register.errors).toEqual([expect.objectContaining({ code: 'EMAIL_ALREADY_REGISTERED', field: ['input', 'email'] })]);
    }
    const count = await t.server.ds.query('SELECT count(*)::int AS n FROM accounts WHERE email_normalized = $1', [first.email.toLowerCase()]);
    expect(count[0].n).toBe(1);
  });

  it('lets exactly one of many concurrent registrations of one address through', async () => {
    const email = uniqueEmail('race');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        t.gql(REGISTER, { input: { email: i % 2 ? email.toUpperCase() : email, password: PASSWORD, name: 'Racer', language: 'EN' } }),
      ),
    );
    const ok = results.filter((r) => r.data!.register.errors.length === 0);
    const refused = results.filter((r) => r.data!.register.errors[0]?.code === 'EMAIL_ALREADY_REGISTERED');
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(7);
  });

  it('refuses a malformed email address or name with BAD_USER_INPUT', async () => {
    const bad = await t.gql(REGISTER, { input: { email: 'not-an-address', password: PASSWORD, name: 'X', language: 'EN' } });
    expect(bad.data!.register.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'email'] });
    const noName = await t.gql(REGISTER, { input: { email: uniqueEmail(), password: PASSWORD, name: '   ', language: 'EN' } });
    expect(noName.data!.register.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'name'] });
  });
});

describe('R1.2 user IDs', () => {
  it('gives every account a public user ID A-XXX-XXX distinct from its internal UUID', async () => {
    const accounts = await Promise.all(Array.from({ length: 5 }, () => newAccount(t, { verified: false })));
    const ids = new Set<string>();
    for (const a of accounts) {
      expect(a.account.userId).toMatch(/^A-[0-9A-F]{3}-[0-9A-F]{3}$/);
      expect(a.account.id).toMatch(/^[0-9a-f-]{36}$/);
      ids.add(a.account.userId);
    }
    expect(ids.size).toBe(5);
  });
});

describe('R1.4 passwords', () => {
  const cases: Array<[string, string]> = [
    ['short7!', 'TOO_SHORT'],
    ['x'.repeat(129), 'TOO_LONG'],
    ['password1', 'TOO_COMMON'],
    ['Iloveyou1', 'TOO_COMMON'],
    ['qwertyuiop', 'TOO_COMMON'],
  ];
  it.each(cases)('refuses %s (%s) with WEAK_PASSWORD and creates no account', async (password, reason) => {
    const email = uniqueEmail('weak');
    const r = await t.gql(REGISTER, { input: { email, password, name: 'Weak', language: 'EN' } });
    expect(r.data!.register.errors).toEqual([expect.objectContaining({ code: 'WEAK_PASSWORD', reason, field: ['input', 'password'] })]);
    const rows = await t.server.ds.query('SELECT 1 FROM accounts WHERE email_normalized = $1', [email]);
    expect(rows).toHaveLength(0);
  });

  it('accepts 8 and 128 characters with no composition rules, and stores argon2id with m=19456, t=2, p=1', async () => {
    for (const password of ['zqxjvbnm', 'ü'.repeat(128)]) {
      const a = await newAccount(t, { password, verified: false });
      const [row] = await t.server.ds.query('SELECT password_hash FROM accounts WHERE id = $1', [a.account.id]);
      const [, algorithm, , params] = row.password_hash.split('$');
      expect(algorithm).toBe('argon2id');
      expect(Object.fromEntries(params.split(',').map((kv: string) => kv.split('=')))).toEqual({ m: '19456', t: '2', p: '1' });
      expect(row.password_hash).not.toContain(password);
    }
  });

  it('never returns the password or its hash through the API', async () => {
    const r = await t.gql('{ __type(name: "Account") { fields { name } } }');
    const names = r.data!.__type.fields.map((f: { name: string }) => f.name);
    expect(names.some((n: string) => /password/i.test(n))).toBe(false);
  });
});
