import { createHash } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { formatDateTime } from '../../src/platform/i18n';
import { login, me, newAccount, uniqueEmail } from '../helpers/factories';
import { tokenFrom, type CaughtMail } from '../helpers/mail';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * R1.6 (brute force), R1.7 (password reset) and the request guards, through the real API on a real
 * PostgreSQL. Every test uses its own accounts and its own client addresses (X-Forwarded-For), so
 * that the test clock moving forward in one test cannot hide or cause a block in another.
 */

const HOUR_MS = 3600_000;
const WRONG = 'not the right password at all';
const NEW_PASSWORD = 'a brand new passphrase 42';

const LOGIN = 'mutation($input: LoginInput!) { login(input: $input) { token account { id } errors { code message field reason } } }';
const REQUEST_RESET = 'mutation($email: String!) { requestPasswordReset(email: $email) { ok errors { code message field reason } } }';
const RESET = 'mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { ok errors { code message field reason } } }';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

let ipCounter = 0;
/** A client address no other test uses (documentation ranges). */
function nextIp(): string {
  ipCounter += 1;
  return `198.51.${100 + Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 1}`;
}

function codes(p: { errors: Array<{ code: string }> }): string[] {
  return p.errors.map((e) => e.code);
}

/** The formatted end of a block that began between `from` and `to` (server time), lasting `ms`. */
function endCandidates(from: Date, to: Date, ms: number): string[] {
  return [...new Set([formatDateTime('EN', new Date(from.getTime() + ms)), formatDateTime('EN', new Date(to.getTime() + ms))])];
}

async function throttleRows(accountId: string): Promise<Array<{ ip_hash: string; row: string; consecutive_failures: number }>> {
  return t.server.ds.query('SELECT ip_hash, consecutive_failures, row_to_json(x)::text AS row FROM login_ip_throttle x WHERE account_id = $1', [accountId]);
}

async function resetMail(email: string, except: CaughtMail[] = []): Promise<CaughtMail> {
  return t.mail.waitFor(email, (m) => m.text.includes('/reset-password?token=') && !except.includes(m));
}

async function resetPassword(token: string, newPassword: string) {
  const r = await t.gql(RESET, { input: { token, newPassword } });
  expect(r.errors).toBeUndefined();
  return r.data!.resetPassword as { ok: boolean; errors: Array<{ code: string; field: string[] | null }> };
}

// ------------------------------------------------------------------------------------------------
describe('R1.6 brute force', () => {
  it('R1.6 ten failures from one IP block that IP for the account until 60 minutes later, naming the end time', async () => {
    const victim = await newAccount(t);
    const bystander = await newAccount(t);
    const ip = nextIp();
    const otherIp = nextIp();

    for (let i = 1; i <= 9; i++) {
      expect(codes(await login(t, victim.email, WRONG, { ip }))).toEqual(['INVALID_CREDENTIALS']);
    }
    const before = t.server.clock.now();
    // The tenth failure is still answered as a failure; it starts the block.
    expect(codes(await login(t, victim.email, WRONG, { ip }))).toEqual(['INVALID_CREDENTIALS']);
    const after = t.server.clock.now();

    // The 11th attempt, even with the right password, is blocked; the message names the end.
    const blocked = await login(t, victim.email, victim.password, { ip });
    expect(blocked.token).toBeNull();
    expect(codes(blocked)).toEqual(['LOGIN_BLOCKED']);
    const ends = endCandidates(before, after, HOUR_MS);
    expect(ends.some((end) => blocked.errors[0].message.includes(end))).toBe(true);

    // Another IP can still log in to that account …
    const elsewhere = await login(t, victim.email, victim.password, { ip: otherIp });
    expect(elsewhere.errors).toEqual([]);
    expect(elsewhere.token).toBeTruthy();
    // … and the blocked IP can still log in to another account.
    const otherAccount = await login(t, bystander.email, bystander.password, { ip });
    expect(otherAccount.errors).toEqual([]);
    expect(otherAccount.token).toBeTruthy();

    // Neither success lifted the block of this IP for this account.
    expect(codes(await login(t, victim.email, victim.password, { ip }))).toEqual(['LOGIN_BLOCKED']);
    await t.advance(59 * 60);
    expect(codes(await login(t, victim.email, victim.password, { ip }))).toEqual(['LOGIN_BLOCKED']);

    // 60 minutes after the tenth failure the block has ended.
    await t.advance(60);
    const again = await login(t, victim.email, victim.password, { ip });
    expect(again.errors).toEqual([]);
    expect(again.token).toBeTruthy();
    expect(await me(t, again.token!)).toMatchObject({ id: victim.account.id });
  });

  it('R1.6 a success resets the count: 9 failures, a success, 9 failures do not block', async () => {
    const a = await newAccount(t);
    const ip = nextIp();
    for (let i = 0; i < 9; i++) expect(codes(await login(t, a.email, WRONG, { ip }))).toEqual(['INVALID_CREDENTIALS']);
    expect((await login(t, a.email, a.password, { ip })).errors).toEqual([]);
    for (let i = 0; i < 9; i++) expect(codes(await login(t, a.email, WRONG, { ip }))).toEqual(['INVALID_CREDENTIALS']);
    const ok = await login(t, a.email, a.password, { ip });
    expect(ok.errors).toEqual([]);
    expect(ok.token).toBeTruthy();

    // The count really restarted at the success: ten consecutive failures after it do block.
    for (let i = 0; i < 10; i++) expect(codes(await login(t, a.email, WRONG, { ip }))).toEqual(['INVALID_CREDENTIALS']);
    expect(codes(await login(t, a.email, a.password, { ip }))).toEqual(['LOGIN_BLOCKED']);
  });

  it('R1.6 failures count against the account whatever the letter case and spacing of the email', async () => {
    const a = await newAccount(t);
    const ip = nextIp();
    const variants = [a.email, a.email.toUpperCase(), `  ${a.email}  `, a.email.replace(/^./, (c) => c.toUpperCase())];
    for (let i = 0; i < 10; i++) {
      expect(codes(await login(t, variants[i % variants.length], WRONG, { ip }))).toEqual(['INVALID_CREDENTIALS']);
    }
    expect(codes(await login(t, a.email, a.password, { ip }))).toEqual(['LOGIN_BLOCKED']);
  });

  it('R1.6 failures in several aliased login fields of one document each count', async () => {
    const a = await newAccount(t);
    const ip = nextIp();
    const ten = Array.from({ length: 10 }, (_, i) => `l${i}: login(input: $input) { token errors { code } }`).join('\n');
    const r = await t.gql(`mutation($input: LoginInput!) { ${ten} }`, { input: { email: a.email, password: WRONG } }, { ip });
    expect(r.errors).toBeUndefined();
    for (let i = 0; i < 10; i++) expect(codes(r.data![`l${i}`])).toEqual(['INVALID_CREDENTIALS']);
    const next = await login(t, a.email, a.password, { ip });
    expect(codes(next)).toEqual(['LOGIN_BLOCKED']);
    expect(next.token).toBeNull();

    // Within one document too: the 11th to 15th aliased attempts are already blocked.
    const b = await newAccount(t);
    const ip2 = nextIp();
    const fifteen = Array.from({ length: 15 }, (_, i) => `l${i}: login(input: $input) { token errors { code } }`).join('\n');
    const r2 = await t.gql(`mutation($input: LoginInput!) { ${fifteen} }`, { input: { email: b.email, password: WRONG } }, { ip: ip2 });
    expect(r2.errors).toBeUndefined();
    const got = Array.from({ length: 15 }, (_, i) => codes(r2.data![`l${i}`])[0]);
    expect(got).toEqual([...Array(10).fill('INVALID_CREDENTIALS'), ...Array(5).fill('LOGIN_BLOCKED')]);
    expect(codes(await login(t, b.email, b.password, { ip: ip2 }))).toEqual(['LOGIN_BLOCKED']);
  });

  it('R1.6 100 failures within an hour from many IPs block every password login of the account for the rest of that hour', async () => {
    const a = await newAccount(t);
    const bystander = await newAccount(t);
    const ips = Array.from({ length: 100 }, (_, i) => `10.16.${Math.floor(i / 200)}.${(i % 200) + 1}`);

    const start = t.server.clock.now();
    expect(codes(await login(t, a.email, WRONG, { ip: ips[0] }))).toEqual(['INVALID_CREDENTIALS']);
    const afterFirst = t.server.clock.now();
    for (let i = 1; i < 50; i++) expect(codes(await login(t, a.email, WRONG, { ip: ips[i] }))).toEqual(['INVALID_CREDENTIALS']);

    // Half an hour later, 50 more: 100 within the hour that began with the first failure.
    await t.advance(1800);
    for (let i = 50; i < 99; i++) expect(codes(await login(t, a.email, WRONG, { ip: ips[i] }))).toEqual(['INVALID_CREDENTIALS']);
    // 99 failures do not block yet.
    const fresh1 = nextIp();
    expect(codes(await login(t, a.email, WRONG, { ip: fresh1 }))).toEqual(['INVALID_CREDENTIALS']); // the 100th

    // Now every password login is blocked: from a fresh IP, from an IP that failed once, with the right password.
    const fresh = nextIp();
    const blocked = await login(t, a.email, a.password, { ip: fresh });
    expect(codes(blocked)).toEqual(['LOGIN_BLOCKED']);
    expect(blocked.token).toBeNull();
    // "for the rest of that hour": it ends one hour after the first of the 100 failures.
    const ends = endCandidates(start, afterFirst, HOUR_MS);
    expect(ends.some((end) => blocked.errors[0].message.includes(end))).toBe(true);
    expect(codes(await login(t, a.email, a.password, { ip: ips[3] }))).toEqual(['LOGIN_BLOCKED']);
    expect(codes(await login(t, a.email, a.password, { ip: nextIp() }))).toEqual(['LOGIN_BLOCKED']);
    // Other accounts are not affected.
    expect((await login(t, bystander.email, bystander.password, { ip: fresh })).errors).toEqual([]);

    // Still blocked shortly before that hour is over …
    await t.advance(1700);
    expect(codes(await login(t, a.email, a.password, { ip: nextIp() }))).toEqual(['LOGIN_BLOCKED']);
    // … and over once it has passed (the first 50 failures left the window).
    await t.advance(101);
    const ok = await login(t, a.email, a.password, { ip: nextIp() });
    expect(ok.errors).toEqual([]);
    expect(ok.token).toBeTruthy();
  });

  it('R1.6 IP addresses are stored only as keyed hashes, and only while a block window needs them', async () => {
    const a = await newAccount(t);
    const ipA = nextIp();
    const ipB = nextIp();
    for (let i = 0; i < 3; i++) expect(codes(await login(t, a.email, WRONG, { ip: ipA }))).toEqual(['INVALID_CREDENTIALS']);
    for (let i = 0; i < 10; i++) expect(codes(await login(t, a.email, WRONG, { ip: ipB }))).toEqual(['INVALID_CREDENTIALS']);

    const rows = await throttleRows(a.account.id);
    expect(rows.map((r) => r.consecutive_failures).sort((x, y) => x - y)).toEqual([3, 10]);
    for (const ip of [ipA, ipB]) {
      const plain = [
        ip,
        createHash('sha256').update(ip).digest('hex'),
        createHash('sha256').update(ip).digest('base64'),
        createHash('sha256').update(ip).digest('base64url'),
      ];
      for (const r of rows) {
        expect(r.row).not.toContain(ip);
        // Keyed: not a bare hash that anyone could recompute over the 2^32 IPv4 addresses.
        expect(plain).not.toContain(r.ip_hash);
      }
    }
    // No table anywhere holds the raw addresses.
    const tables: Array<{ table_name: string }> = await t.server.ds.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    for (const { table_name } of tables) {
      const hits = await t.server.ds.query(`SELECT 1 FROM "${table_name}" x WHERE x::text LIKE $1 OR x::text LIKE $2 LIMIT 1`, [`%${ipA}%`, `%${ipB}%`]);
      expect({ table: table_name, hits: hits.length }).toEqual({ table: table_name, hits: 0 });
    }

    // A success from ipA ends what was kept about ipA.
    expect((await login(t, a.email, a.password, { ip: ipA })).errors).toEqual([]);
    expect((await throttleRows(a.account.id)).map((r) => r.consecutive_failures)).toEqual([10]);

    // Once ipB's block window is over, the next attempt (from anywhere) forgets ipB.
    await t.advance(3601);
    expect((await login(t, a.email, a.password, { ip: nextIp() })).errors).toEqual([]);
    expect(await throttleRows(a.account.id)).toEqual([]);
  });

  it('R1.6 30 concurrent wrong-password attempts from one IP give exactly 10 INVALID_CREDENTIALS and 20 LOGIN_BLOCKED', async () => {
    const a = await newAccount(t);
    const ip = nextIp();
    const results = await Promise.all(Array.from({ length: 30 }, () => t.gql(LOGIN, { input: { email: a.email, password: WRONG } }, { ip })));
    for (const r of results) expect(r.errors).toBeUndefined();
    const all = results.map((r) => codes(r.data!.login));
    expect(all.filter((c) => c.length === 1 && c[0] === 'INVALID_CREDENTIALS')).toHaveLength(10);
    expect(all.filter((c) => c.length === 1 && c[0] === 'LOGIN_BLOCKED')).toHaveLength(20);
    const [{ n }] = await t.server.ds.query('SELECT count(*)::int AS n FROM login_failures WHERE account_id = $1', [a.account.id]);
    expect(n).toBe(10);
    expect(codes(await login(t, a.email, a.password, { ip }))).toEqual(['LOGIN_BLOCKED']);
  });
});

// ------------------------------------------------------------------------------------------------
describe('R1.7 password reset', () => {
  it('R1.7 requestPasswordReset answers the same for an existing and an unknown email, and mails only the existing one', async () => {
    const a = await newAccount(t);
    const unknown = uniqueEmail('nobody');
    const known = await t.gql(REQUEST_RESET, { email: a.email });
    const missing = await t.gql(REQUEST_RESET, { email: unknown });
    expect(known.status).toBe(missing.status);
    expect(known.errors).toBeUndefined();
    expect(missing.errors).toBeUndefined();
    expect(known.data).toEqual(missing.data);
    expect(known.data).toEqual({ requestPasswordReset: { ok: true, errors: [] } });

    const mail = await resetMail(a.email);
    expect(mail.text).toContain(`${t.server.config.publicUrl}/reset-password?token=`);
    await new Promise((r) => setTimeout(r, 500));
    expect(t.mail.for(unknown)).toEqual([]);
  });

  it('R1.7 the emailed link resets the password once; the old password stops working, the new one works', async () => {
    const a = await newAccount(t);
    await t.gql(REQUEST_RESET, { email: a.email });
    const token = tokenFrom(await resetMail(a.email), '/reset-password');

    expect(await resetPassword(token, NEW_PASSWORD)).toEqual({ ok: true, errors: [] });
    const second = await resetPassword(token, 'yet another passphrase 43');
    expect(second.ok).toBe(false);
    expect(codes(second)).toEqual(['INVALID_TOKEN']);

    const ip = nextIp();
    expect(codes(await login(t, a.email, a.password, { ip }))).toEqual(['INVALID_CREDENTIALS']);
    const ok = await login(t, a.email, NEW_PASSWORD, { ip });
    expect(ok.errors).toEqual([]);
    expect(ok.token).toBeTruthy();
    expect(codes(await login(t, a.email, 'yet another passphrase 43', { ip }))).toEqual(['INVALID_CREDENTIALS']);
  });

  it('R1.7 a successful reset revokes every token of the account, WEB and DESKTOP', async () => {
    const a = await newAccount(t);
    const ip = nextIp();
    const web = await login(t, a.email, a.password, { ip, client: 'WEB' });
    const desktop = await login(t, a.email, a.password, { ip, client: 'DESKTOP' });
    const tokens = [a.token, web.token!, desktop.token!];
    for (const token of tokens) expect(await me(t, token)).toMatchObject({ id: a.account.id });

    await t.gql(REQUEST_RESET, { email: a.email });
    const link = tokenFrom(await resetMail(a.email), '/reset-password');
    expect(await resetPassword(link, NEW_PASSWORD)).toEqual({ ok: true, errors: [] });

    for (const token of tokens) expect(await me(t, token)).toBeNull();
    const fresh = await login(t, a.email, NEW_PASSWORD, { ip, client: 'DESKTOP' });
    expect(await me(t, fresh.token!)).toMatchObject({ id: a.account.id });
  });

  it('R1.7 a link is void after 60 minutes', async () => {
    const early = await newAccount(t);
    const late = await newAccount(t);
    await t.gql(REQUEST_RESET, { email: early.email });
    await t.gql(REQUEST_RESET, { email: late.email });
    const earlyToken = tokenFrom(await resetMail(early.email), '/reset-password');
    const lateToken = tokenFrom(await resetMail(late.email), '/reset-password');

    await t.advance(59 * 60);
    expect(await resetPassword(earlyToken, NEW_PASSWORD)).toEqual({ ok: true, errors: [] });
    await t.advance(61); // 60 minutes and 1 second after both were issued
    const expired = await resetPassword(lateToken, NEW_PASSWORD);
    expect(expired.ok).toBe(false);
    expect(codes(expired)).toEqual(['INVALID_TOKEN']);
    // Nothing changed: the old password still works.
    expect((await login(t, late.email, late.password, { ip: nextIp() })).errors).toEqual([]);
  });

  it('R1.7 asking again voids the earlier link', async () => {
    const a = await newAccount(t);
    await t.gql(REQUEST_RESET, { email: a.email });
    const first = await resetMail(a.email);
    await t.gql(REQUEST_RESET, { email: a.email });
    const second = await resetMail(a.email, [first]);
    const oldToken = tokenFrom(first, '/reset-password');
    const newToken = tokenFrom(second, '/reset-password');
    expect(newToken).not.toBe(oldToken);

    const old = await resetPassword(oldToken, NEW_PASSWORD);
    expect(old.ok).toBe(false);
    expect(codes(old)).toEqual(['INVALID_TOKEN']);
    expect(await resetPassword(newToken, NEW_PASSWORD)).toEqual({ ok: true, errors: [] });
    expect((await login(t, a.email, NEW_PASSWORD, { ip: nextIp() })).errors).toEqual([]);
  });

  it('R1.7 a weak new password is refused with WEAK_PASSWORD and the link stays usable', async () => {
    const a = await newAccount(t);
    await t.gql(REQUEST_RESET, { email: a.email });
    const token = tokenFrom(await resetMail(a.email), '/reset-password');
    for (const weak of ['short7!', 'password1']) {
      const r = await resetPassword(token, weak);
      expect(r.ok).toBe(false);
      expect(r.errors).toEqual([expect.objectContaining({ code: 'WEAK_PASSWORD', field: ['input', 'newPassword'] })]);
    }
    expect(await resetPassword(token, NEW_PASSWORD)).toEqual({ ok: true, errors: [] });
    expect((await login(t, a.email, NEW_PASSWORD, { ip: nextIp() })).errors).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------------
describe('request guards and operational endpoints', () => {
  async function post(body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
    const res = await fetch(t.url, { method: 'POST', headers: { 'x-forwarded-for': nextIp(), ...headers }, body });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json };
  }

  it('guard: a document with 16 aliases is refused; 15 are accepted', async () => {
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `a${i}: me { id }`).join(' ');
    const ok = await t.gql(`{ ${fields(15)} }`);
    expect(ok.status).toBe(200);
    expect(ok.errors).toBeUndefined();
    const refused = await t.gql(`{ ${fields(16)} }`);
    expect(refused.data ?? null).toBeNull();
    expect(refused.errors?.length).toBeGreaterThan(0);
    expect(refused.errors![0].message).toMatch(/alias/i);
    expect(refused.status).toBe(400);
  });

  it('guard: a query nested beyond the depth limit is refused', async () => {
    const nest = (levels: number) => {
      let inner = 'name';
      for (let i = 0; i < levels; i++) inner = `ofType { ${inner} }`;
      return `{ __type(name: "Account") { fields { type { ${inner} } } } }`;
    };
    const shallow = await t.gql(nest(3)); // depth 6
    expect(shallow.errors).toBeUndefined();
    const deep = await t.gql(nest(12)); // depth 15
    expect(deep.data ?? null).toBeNull();
    expect(deep.errors?.length).toBeGreaterThan(0);
    expect(deep.errors![0].message).toMatch(/depth/i);
    expect(deep.status).toBe(400);
  });

  it('guard: an HTTP array batch is refused', async () => {
    const r = await post(JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]));
    expect(r.status).toBe(400);
    expect(Array.isArray(r.json)).toBe(false);
    expect(r.text).toMatch(/batch/i);
  });

  it('guard: a POST with content-type text/plain is refused by CSRF prevention (400) and not executed', async () => {
    const a = await newAccount(t);
    const body = JSON.stringify({ query: 'mutation($email: String!) { requestPasswordReset(email: $email) { ok } }', variables: { email: a.email } });
    const r = await post(body, { 'content-type': 'text/plain' });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/CSRF|Cross-Site Request Forgery/i);
    expect(r.text).not.toContain('"data"');
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(t.mail.for(a.email).filter((m) => m.text.includes('/reset-password?token='))).toEqual([]);
  });

  it('guard: a request body over 100 KiB is refused with 413, one under it is served', async () => {
    const small = await post(JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(90 * 1024) } }));
    expect(small.status).toBe(200);
    expect(small.json.data).toEqual({ __typename: 'Query' });
    const big = await post(JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(101 * 1024) } }));
    expect(big.status).toBe(413);
  });

  it('guard: introspection works when NODE_ENV is not production', async () => {
    expect(process.env.NODE_ENV).not.toBe('production');
    const r = await t.gql('{ __schema { queryType { name } mutationType { name } } }');
    expect(r.errors).toBeUndefined();
    expect(r.data!.__schema).toEqual({ queryType: { name: 'Query' }, mutationType: { name: 'Mutation' } });
  });

  it('guard: over the WebSocket endpoint, a document with 16 aliases and a query beyond the depth limit are refused too', async () => {
    const client: Client = createClient({ url: t.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
    const run = (query: string) =>
      new Promise<{ data?: any; errors?: Array<{ message: string }> }>((resolve) => {
        let last: { data?: any; errors?: Array<{ message: string }> } = {};
        client.subscribe(
          { query },
          {
            next: (value) => void (last = value as typeof last),
            error: (err) => resolve({ errors: Array.isArray(err) ? err : [{ message: String((err as Error)?.message ?? err) }] }),
            complete: () => resolve(last),
          },
        );
      });
    try {
      const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: me { id }`).join(' ')} }`;
      // The transport works: an ordinary document is served.
      const ok = await run(aliases(15));
      expect(ok.errors).toBeUndefined();
      expect(Object.keys(ok.data ?? {})).toHaveLength(15);

      let inner = 'name';
      for (let i = 0; i < 12; i++) inner = `ofType { ${inner} }`;
      const tooMany = await run(aliases(16));
      const deep = await run(`{ __type(name: "Account") { fields { type { ${inner} } } } }`);
      const refused = (r: { data?: unknown; errors?: Array<{ message: string }> }, pattern: RegExp) =>
        (r.data ?? null) === null && pattern.test(r.errors?.[0]?.message ?? '');
      expect({ sixteenAliasesRefused: refused(tooMany, /alias/i), tooDeepRefused: refused(deep, /depth/i) }).toEqual({
        sixteenAliasesRefused: true,
        tooDeepRefused: true,
      });
    } finally {
      await client.dispose();
    }
  });

  it('guard: introspection is refused when NODE_ENV=production, over HTTP and over the WebSocket endpoint', async () => {
    const prod = await startTestServer({ NODE_ENV: 'production', TEST_CLOCK: '0' });
    const client: Client = createClient({ url: prod.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
    try {
      const query = '{ __schema { queryType { name } } }';
      const http = await prod.gql(query);
      expect(http.data?.__schema ?? null).toBeNull();
      expect(http.errors?.length).toBeGreaterThan(0);
      expect((await prod.gql('{ me { id } }')).data).toEqual({ me: null });

      const ws = await new Promise<{ data?: any; errors?: unknown[] }>((resolve) => {
        let last: { data?: any; errors?: unknown[] } = {};
        client.subscribe(
          { query },
          {
            next: (value) => void (last = value as typeof last),
            error: (err) => resolve({ errors: Array.isArray(err) ? err : [err] }),
            complete: () => resolve(last),
          },
        );
      });
      expect(ws.data?.__schema ?? null).toBeNull();
      expect(ws.errors?.length).toBeGreaterThan(0);
    } finally {
      await client.dispose();
      await prod.stop();
    }
  });

  it('ops: /healthz and /readyz answer 200, /metrics counts operations by root field and shows the pool', async () => {
    expect((await fetch(`${t.base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.base}/readyz`);
    expect(ready.status).toBe(200);

    const a = await newAccount(t);
    expect((await login(t, a.email, a.password, { ip: nextIp() })).errors).toEqual([]);
    const res = await fetch(`${t.base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^tessera_graphql_operations_total\{[^}]*operation="login"[^}]*\} [1-9]\d*$/m);
    expect(text).toMatch(/^tessera_db_pool_connections\{[^}]*\} \d+$/m);
  });
});

// ------------------------------------------------------------------------------------------------
describe('logs carry no secrets', () => {
  // A server of its own whose log lines (every level) are kept in memory.
  const lines: string[] = [];
  let logged: TestServer;
  beforeAll(async () => {
    logged = await startTestServer({ LOG_LEVEL: 'trace' }, { logLines: lines });
  });
  afterAll(async () => {
    await logged?.stop();
  });

  it('R1.4 R1.6 logs hold no passwords, tokens, emailed link tokens or raw IP addresses', async () => {
    const ip = '192.0.2.77';
    const password = 'log secret passphrase 9071';
    const wrong = 'log wrong passphrase 5523';
    const newPassword = 'log new passphrase 3386';
    const email = uniqueEmail('logs');
    const gql = (query: string, variables: Record<string, unknown> = {}, token?: string) => logged.gql(query, variables, { ip, token });
    const mail = logged.mail;

    const reg = await gql('mutation($input: RegisterInput!) { register(input: $input) { token errors { code } } }', {
      input: { email, password, name: 'Log Test', language: 'EN' },
    });
    const registerToken: string = reg.data!.register.token;
    const verifyToken = tokenFrom(await mail.waitFor(email, (m) => m.text.includes('/verify-email?token=')), '/verify-email');
    await gql('mutation($t: String!) { verifyEmail(token: $t) { errors { code } } }', { t: verifyToken });
    await gql(LOGIN, { input: { email, password: wrong } });
    const loggedIn = await gql(LOGIN, { input: { email, password, client: 'DESKTOP' } });
    const loginToken: string = loggedIn.data!.login.token;
    await gql('{ me { id } }', {}, loginToken);
    await gql('{ me { id } }', {}, 'not-a-real-token-but-secret-looking-3141');
    // A request that fails validation, with the password among its variables.
    await gql('mutation($input: LoginInput!) { login(input: $input) { nosuchfield } }', { input: { email, password } });
    await gql('mutation($email: String!) { requestPasswordReset(email: $email) { ok } }', { email });
    const resetToken = tokenFrom(await mail.waitFor(email, (m) => m.text.includes('/reset-password?token=')), '/reset-password');
    const reset = await gql('mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { ok } }', { input: { token: resetToken, newPassword } });
    expect(reset.data!.resetPassword.ok).toBe(true);

    await logged.server.mailer.drain();
    const log = lines.join('');
    // The capture works: requests were logged.
    expect(log).toContain('"msg":"graphql"');
    for (const secret of [password, wrong, newPassword, registerToken, loginToken, 'not-a-real-token-but-secret-looking-3141', verifyToken, resetToken, ip]) {
      expect({ secret, found: log.includes(secret) }).toEqual({ secret, found: false });
    }
  });
});
