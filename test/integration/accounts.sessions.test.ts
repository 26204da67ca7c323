import { createHash } from 'node:crypto';
import http from 'node:http';
import { ACCOUNT_FIELDS, login, me, newAccount, PASSWORD, uniqueEmail } from '../helpers/factories';
import { tokenFrom, type CaughtMail } from '../helpers/mail';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * R1.3 (verification), R1.5 (login and tokens) and R1.8 (profile and language), through the
 * GraphQL API of a real server. The test clock only moves forward and is shared by the whole file,
 * so every test makes its own accounts and tokens after the moves of the tests before it.
 */

const PUBLIC_URL = 'https://licenses.example.test';
const MINUTE = 60;
const DAY = 24 * 60 * MINUTE;

const REGISTER = `mutation($input: RegisterInput!) {
  register(input: $input) { token account { ${ACCOUNT_FIELDS} } errors { code message field reason } }
}`;
const VERIFY = `mutation($t: String!) { verifyEmail(token: $t) { account { id emailVerified } errors { code message field } } }`;
const RESEND = `mutation { resendVerificationEmail { ok errors { code message } } }`;
const LOGOUT = `mutation { logout { ok errors { code message } } }`;
const LOGOUT_EVERYWHERE = `mutation { logoutEverywhere { revokedTokens endedLeases errors { code message } } }`;
const UPDATE_PROFILE = `mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { account { ${ACCOUNT_FIELDS} } errors { code message field reason } }
}`;
const REQUEST_RESET = `mutation($e: String!) { requestPasswordReset(email: $e) { ok errors { code } } }`;

/** The messages the tests expect, per language (R1.8). */
const MSG = {
  EMAIL_NOT_VERIFIED: {
    EN: 'Please confirm your email address first. We can send you the email again.',
    DE: 'Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse. Wir können Ihnen die E-Mail erneut senden.',
    ES: 'Confirme primero su dirección de correo. Podemos enviarle el correo de nuevo.',
  },
  NAME_LENGTH: {
    EN: 'The name must have between 1 and 200 characters.',
    DE: 'Der Name muss zwischen 1 und 200 Zeichen lang sein.',
    ES: 'El nombre debe tener entre 1 y 200 caracteres.',
  },
  INVALID_TOKEN: {
    EN: 'This link is invalid or has expired. Please request a new one.',
    DE: 'Dieser Link ist ungültig oder abgelaufen. Bitte fordern Sie einen neuen an.',
    ES: 'Este enlace no es válido o ha caducado. Solicite uno nuevo.',
  },
  INVALID_CREDENTIALS: {
    EN: 'The email address or the password is wrong.',
  },
  UNAUTHENTICATED: {
    EN: 'Please log in.',
  },
} as const;

const SUBJECT = {
  verify: { EN: 'Please confirm your email address', DE: 'Bitte bestätigen Sie Ihre E-Mail-Adresse', ES: 'Confirme su dirección de correo' },
  reset: { EN: 'Reset your password', ES: 'Restablecer la contraseña' },
} as const;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ PUBLIC_URL });
});
afterAll(async () => {
  await t?.stop();
});

// ------------------------------------------------------------------------------------------ helpers

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

const isVerification = (m: CaughtMail) => m.text.includes('/verify-email?token=');
const isReset = (m: CaughtMail) => m.text.includes('/reset-password?token=');

/** Waits for a mail to `to` matching `filter` that is not among `seen`. */
function nextMail(to: string, filter: (m: CaughtMail) => boolean, seen: CaughtMail[] = []): Promise<CaughtMail> {
  return t.mail.waitFor(to, (m) => filter(m) && !seen.includes(m));
}

/** Lets every mail the server has started go out, so that "no mail" is a real observation. */
async function settleMail(): Promise<void> {
  await t.server.mailer.drain();
  await new Promise((r) => setTimeout(r, 200));
  await t.server.mailer.drain();
}

/**
 * A GraphQL request with no Accept-Language header at all. `t.gql` uses fetch, and Node's fetch
 * (undici) adds `Accept-Language: *` to every request that names none, so it cannot send "no header".
 */
function rawGql(query: string, variables: Record<string, unknown>, token?: string): Promise<{ data?: any; errors?: any[] }> {
  const body = JSON.stringify({ query, variables });
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-forwarded-for': '203.0.113.9',
  };
  if (token) headers.authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const req = http.request(t.url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function register(input: { email?: string; name?: string; language?: 'EN' | 'DE' | 'ES' } = {}) {
  const email = input.email ?? uniqueEmail('sess');
  const r = await t.gql(REGISTER, { input: { email, password: PASSWORD, name: input.name ?? 'Sam Session', language: input.language ?? 'EN' } });
  const p = r.data?.register;
  if (!p || p.errors.length) throw new Error(`register failed: ${JSON.stringify(r)}`);
  return { email, token: p.token as string, account: p.account as { id: string; email: string; language: string; name: string } };
}

async function verify(token: string, lang?: string) {
  const r = await t.gql(VERIFY, { t: token }, { lang });
  expect(r.errors).toBeUndefined();
  return r.data!.verifyEmail as {
    account: { id: string; emailVerified: boolean } | null;
    errors: Array<{ code: string; message: string; field: string[] | null }>;
  };
}

async function accountRow(id: string) {
  const [row] = await t.server.ds.query('SELECT email, email_normalized, name, language, email_verified_at, updated_at FROM accounts WHERE id = $1', [id]);
  return row as { email: string; email_normalized: string; name: string; language: string; email_verified_at: Date | null; updated_at: Date };
}

async function liveTokenCount(accountId: string): Promise<number> {
  const [row] = await t.server.ds.query('SELECT count(*)::int AS n FROM auth_tokens WHERE account_id = $1 AND revoked_at IS NULL', [accountId]);
  return row.n;
}

async function loginToken(email: string, client: 'WEB' | 'DESKTOP' = 'WEB'): Promise<string> {
  const r = await login(t, email, PASSWORD, { client });
  expect(r.errors).toEqual([]);
  expect(r.token).toBeTruthy();
  return r.token!;
}

function expectUnauthenticated(r: { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }, field: string) {
  expect(r.errors).toBeDefined();
  expect(r.errors![0].extensions?.code).toBe('UNAUTHENTICATED');
  expect(r.data?.[field] ?? null).toBeNull();
}

// ------------------------------------------------------------------------------------------ R1.3

describe('R1.3 email verification', () => {
  it('R1.3 registration sends the verification email to the account address with a PUBLIC_URL/verify-email link, in text and HTML', async () => {
    const email = uniqueEmail('Verify');
    const { account } = await register({ email: `  ${email} ` });
    const mail = await nextMail(email, isVerification);

    expect(mail.to.toLowerCase()).toBe(email.toLowerCase());
    expect(mail.parsed.to && !Array.isArray(mail.parsed.to) ? mail.parsed.to.value.map((a) => a.address) : []).toEqual([email]);
    expect(mail.subject).toBe(SUBJECT.verify.EN);

    const link = /(\S+\/verify-email\?token=)([A-Za-z0-9_%-]+)/.exec(mail.text);
    expect(link).not.toBeNull();
    expect(link![1]).toBe(`${PUBLIC_URL}/verify-email?token=`);
    const token = decodeURIComponent(link![2]);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // Both parts, and the HTML part carries the same link.
    expect(mail.text.trim().length).toBeGreaterThan(0);
    expect(mail.html).toContain(`href="${PUBLIC_URL}/verify-email?token=${link![2]}"`);

    // Exactly one verification mail, and the link token is stored only as a hash.
    await settleMail();
    expect(t.mail.for(email).filter(isVerification)).toHaveLength(1);
    const rows = await t.server.ds.query(`SELECT token_hash FROM email_tokens WHERE account_id = $1 AND purpose = 'VERIFY_EMAIL'`, [account.id]);
    expect(rows).toHaveLength(1);
    expect(Buffer.compare(rows[0].token_hash, sha256(token))).toBe(0);
  });

  it('R1.3 the verification link verifies once; a second use is INVALID_TOKEN', async () => {
    const { email, token, account } = await register();
    expect(await me(t, token)).toMatchObject({ id: account.id, emailVerified: false });
    const link = tokenFrom(await nextMail(email, isVerification), '/verify-email');

    const first = await verify(link);
    expect(first.errors).toEqual([]);
    expect(first.account).toEqual({ id: account.id, emailVerified: true });
    expect(await me(t, token)).toMatchObject({ emailVerified: true });
    const verifiedAt = (await accountRow(account.id)).email_verified_at;
    expect(verifiedAt).not.toBeNull();

    const second = await verify(link);
    expect(second.account).toBeNull();
    expect(second.errors).toEqual([expect.objectContaining({ code: 'INVALID_TOKEN', field: ['token'] })]);
    expect((await accountRow(account.id)).email_verified_at).toEqual(verifiedAt);
  });

  it('R1.3 the verification link is valid for 7 days', async () => {
    const a = await register();
    const b = await register();
    const linkA = tokenFrom(await nextMail(a.email, isVerification), '/verify-email');
    const linkB = tokenFrom(await nextMail(b.email, isVerification), '/verify-email');

    await t.advance(7 * DAY - MINUTE);
    const early = await verify(linkA);
    expect(early.errors).toEqual([]);
    expect(early.account).toEqual({ id: a.account.id, emailVerified: true });

    await t.advance(MINUTE + 1); // 7 days and 1 second after registration
    const late = await verify(linkB);
    expect(late.account).toBeNull();
    expect(late.errors).toEqual([expect.objectContaining({ code: 'INVALID_TOKEN' })]);
    expect((await accountRow(b.account.id)).email_verified_at).toBeNull();
  });

  it('R1.3 resendVerificationEmail sends a new link and the old link stops working', async () => {
    const { email, token, account } = await register();
    const firstMail = await nextMail(email, isVerification);
    const oldLink = tokenFrom(firstMail, '/verify-email');

    const r = await t.gql(RESEND, {}, { token });
    expect(r.errors).toBeUndefined();
    expect(r.data!.resendVerificationEmail).toEqual({ ok: true, errors: [] });
    const secondMail = await nextMail(email, isVerification, [firstMail]);
    const newLink = tokenFrom(secondMail, '/verify-email');
    expect(newLink).not.toBe(oldLink);
    expect(secondMail.text).toContain(`${PUBLIC_URL}/verify-email?token=`);

    const old = await verify(oldLink);
    expect(old.account).toBeNull();
    expect(old.errors).toEqual([expect.objectContaining({ code: 'INVALID_TOKEN' })]);
    expect((await accountRow(account.id)).email_verified_at).toBeNull();

    const fresh = await verify(newLink);
    expect(fresh.errors).toEqual([]);
    expect(fresh.account).toEqual({ id: account.id, emailVerified: true });
  });

  it('R1.3 resendVerificationEmail on a verified account answers ok and sends no mail', async () => {
    const a = await newAccount(t);
    await settleMail();
    const mailsBefore = t.mail.for(a.email).length;
    const [{ n: linksBefore }] = await t.server.ds.query('SELECT count(*)::int AS n FROM email_tokens WHERE account_id = $1', [a.account.id]);

    const r = await t.gql(RESEND, {}, { token: a.token });
    expect(r.errors).toBeUndefined();
    expect(r.data!.resendVerificationEmail).toEqual({ ok: true, errors: [] });

    await settleMail();
    expect(t.mail.for(a.email)).toHaveLength(mailsBefore);
    const [{ n: linksAfter }] = await t.server.ds.query('SELECT count(*)::int AS n FROM email_tokens WHERE account_id = $1', [a.account.id]);
    expect(linksAfter).toBe(linksBefore);
  });
});

describe('R1.3 unverified accounts', () => {
  it('R1.3 an unverified account can log in, see itself and re-send the email', async () => {
    const { email, account } = await register();
    const firstMail = await nextMail(email, isVerification);

    for (const client of ['WEB', 'DESKTOP'] as const) {
      const token = await loginToken(email, client);
      expect(await me(t, token)).toMatchObject({ id: account.id, email, emailVerified: false });
    }
    const token = await loginToken(email);
    const r = await t.gql(RESEND, {}, { token });
    expect(r.data!.resendVerificationEmail).toEqual({ ok: true, errors: [] });
    await nextMail(email, isVerification, [firstMail]);
  });

  it('R1.3 an unverified account cannot update its profile (EMAIL_NOT_VERIFIED) and nothing changes', async () => {
    const { token, account } = await register({ name: 'Unverified Una' });
    const before = await accountRow(account.id);

    const r = await t.gql(UPDATE_PROFILE, { input: { name: 'Changed Name', language: 'ES' } }, { token });
    expect(r.errors).toBeUndefined();
    expect(r.data!.updateProfile.account).toBeNull();
    expect(r.data!.updateProfile.errors).toEqual([expect.objectContaining({ code: 'EMAIL_NOT_VERIFIED', message: MSG.EMAIL_NOT_VERIFIED.EN })]);

    expect(await accountRow(account.id)).toEqual(before);
    expect(before).toMatchObject({ name: 'Unverified Una', language: 'EN', email_verified_at: null });
    expect(await me(t, token)).toMatchObject({ name: 'Unverified Una', language: 'EN' });
  });
});

// ------------------------------------------------------------------------------------------ R1.5

describe('R1.5 login and tokens', () => {
  it('R1.5 login issues an opaque token of at least 256 bits for WEB and for DESKTOP', async () => {
    const a = await newAccount(t);
    const tokens: string[] = [];
    for (const client of ['WEB', 'DESKTOP'] as const) {
      const r = await t.gql('mutation($input: LoginInput!) { login(input: $input) { token account { id email } errors { code } } }', {
        input: { email: a.email.toUpperCase(), password: PASSWORD, client },
      });
      const p = r.data!.login;
      expect(p.errors).toEqual([]);
      expect(p.account).toEqual({ id: a.account.id, email: a.email });
      expect(p.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(p.token, 'base64url')).toHaveLength(32);
      expect(await me(t, p.token)).toMatchObject({ id: a.account.id });
      const [row] = await t.server.ds.query('SELECT client, revoked_at FROM auth_tokens WHERE token_hash = $1', [sha256(p.token)]);
      expect(row).toEqual({ client, revoked_at: null });
      tokens.push(p.token);
    }
    expect(new Set([a.token, ...tokens]).size).toBe(3);
  });

  it('R1.5 a wrong password and an unknown email both answer INVALID_CREDENTIALS with the same message', async () => {
    const a = await newAccount(t);
    const liveBefore = await liveTokenCount(a.account.id);

    const wrong = await login(t, a.email, 'not the right password', { ip: '198.51.100.7' });
    const unknown = await login(t, uniqueEmail('nobody'), PASSWORD, { ip: '198.51.100.7' });
    for (const r of [wrong, unknown]) {
      expect(r.token).toBeNull();
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0].code).toBe('INVALID_CREDENTIALS');
    }
    expect(wrong.errors[0].message).toBe(unknown.errors[0].message);
    expect(wrong.errors[0].reason).toBe(unknown.errors[0].reason);
    expect(wrong.errors[0].message).toBe(MSG.INVALID_CREDENTIALS.EN);
    expect(await liveTokenCount(a.account.id)).toBe(liveBefore);
  });

  it('R1.5 only the SHA-256 of a token is stored', async () => {
    const a = await newAccount(t);
    const token = await loginToken(a.email, 'DESKTOP');
    const rows = await t.server.ds.query<Array<{ token_hash: Buffer }>>('SELECT token_hash FROM auth_tokens WHERE account_id = $1', [a.account.id]);
    const hashes = rows.map((r) => r.token_hash.toString('hex'));
    expect(hashes).toContain(sha256(token).toString('hex'));
    expect(hashes).toContain(sha256(a.token).toString('hex'));

    // Neither the token text nor its raw bytes appear anywhere in the table.
    const all = await t.server.ds.query<Array<{ row: string }>>('SELECT t::text AS row FROM auth_tokens t');
    for (const raw of [token, a.token]) {
      const bytesHex = Buffer.from(raw, 'base64url').toString('hex');
      for (const { row } of all) {
        expect(row).not.toContain(raw);
        expect(row.toLowerCase()).not.toContain(bytesHex);
      }
    }
  });

  it('R1.5 a WEB token lapses after 14 days without use', async () => {
    const a = await newAccount(t);
    const token = await loginToken(a.email, 'WEB');

    await t.advance(14 * DAY - 2 * MINUTE);
    expect(await me(t, token)).toMatchObject({ id: a.account.id }); // used: the idle clock starts again
    await t.advance(14 * DAY - 2 * MINUTE);
    expect(await me(t, token)).toMatchObject({ id: a.account.id });

    await t.advance(14 * DAY + 1);
    expect(await me(t, token)).toBeNull();
    expectUnauthenticated(await t.gql(UPDATE_PROFILE, { input: { name: 'Too Late' } }, { token }), 'updateProfile');
    expectUnauthenticated(await t.gql(LOGOUT, {}, { token }), 'logout');
    expectUnauthenticated(await t.gql(LOGOUT_EVERYWHERE, {}, { token }), 'logoutEverywhere');
    expect((await accountRow(a.account.id)).name).toBe('Test User');

    // Logging in again gives a working token.
    expect(await me(t, await loginToken(a.email))).toMatchObject({ id: a.account.id });
  });

  it('R1.5 a DESKTOP token lapses after 180 days without use', async () => {
    const a = await newAccount(t);
    const usedAt100 = await loginToken(a.email, 'DESKTOP');
    const usedAt180 = await loginToken(a.email, 'DESKTOP');
    const neverUsed = await loginToken(a.email, 'DESKTOP');
    const web = await loginToken(a.email, 'WEB');

    await t.advance(100 * DAY);
    expect(await me(t, usedAt100)).toMatchObject({ id: a.account.id });
    expect(await me(t, web)).toBeNull(); // a WEB token would be long gone

    await t.advance(80 * DAY - 2 * MINUTE); // 180 days minus 2 minutes after login
    expect(await me(t, usedAt180)).toMatchObject({ id: a.account.id });

    await t.advance(2 * MINUTE + 1); // 180 days and 1 second after login
    expect(await me(t, neverUsed)).toBeNull();
    expectUnauthenticated(await t.gql(LOGOUT, {}, { token: neverUsed }), 'logout');
    expect(await me(t, usedAt100)).toMatchObject({ id: a.account.id }); // last used 80 days ago
  });

  it('R1.5 logout revokes only the token in use', async () => {
    const a = await newAccount(t);
    const other = await newAccount(t);
    const web1 = await loginToken(a.email, 'WEB');
    const web2 = await loginToken(a.email, 'WEB');
    const desktop = await loginToken(a.email, 'DESKTOP');
    const liveBefore = await liveTokenCount(a.account.id);

    const r = await t.gql(LOGOUT, {}, { token: web1 });
    expect(r.errors).toBeUndefined();
    expect(r.data!.logout).toEqual({ ok: true, errors: [] });

    expect(await me(t, web1)).toBeNull();
    for (const token of [web2, desktop, a.token]) expect(await me(t, token)).toMatchObject({ id: a.account.id });
    expect(await me(t, other.token)).toMatchObject({ id: other.account.id });
    expect(await liveTokenCount(a.account.id)).toBe(liveBefore - 1);
    const [row] = await t.server.ds.query('SELECT revoked_at FROM auth_tokens WHERE token_hash = $1', [sha256(web1)]);
    expect(row.revoked_at).not.toBeNull();

    expectUnauthenticated(await t.gql(LOGOUT, {}, { token: web1 }), 'logout');
  });

  it('R1.5 logoutEverywhere revokes the other tokens and keeps the calling WEB token', async () => {
    const a = await newAccount(t); // a.token: the WEB token from registration
    const other = await newAccount(t);
    const web2 = await loginToken(a.email, 'WEB');
    const desktop1 = await loginToken(a.email, 'DESKTOP');
    const desktop2 = await loginToken(a.email, 'DESKTOP');
    const caller = await loginToken(a.email, 'WEB');
    const otherDesktop = await loginToken(other.email, 'DESKTOP');
    expect(await liveTokenCount(a.account.id)).toBe(5);

    const r = await t.gql(LOGOUT_EVERYWHERE, {}, { token: caller });
    expect(r.errors).toBeUndefined();
    expect(r.data!.logoutEverywhere).toEqual({ revokedTokens: 4, endedLeases: 0, errors: [] });

    for (const token of [a.token, web2, desktop1, desktop2]) expect(await me(t, token)).toBeNull();
    expect(await me(t, caller)).toMatchObject({ id: a.account.id });
    expect(await liveTokenCount(a.account.id)).toBe(1);
    const [row] = await t.server.ds.query('SELECT revoked_at FROM auth_tokens WHERE token_hash = $1', [sha256(caller)]);
    expect(row.revoked_at).toBeNull();

    // The other account is untouched.
    for (const token of [other.token, otherDesktop]) expect(await me(t, token)).toMatchObject({ id: other.account.id });

    // The calling token still works for mutations, too.
    const again = await t.gql(LOGOUT, {}, { token: caller });
    expect(again.data!.logout).toEqual({ ok: true, errors: [] });
  });

  it('R1.5 logout, logoutEverywhere, updateProfile and resendVerificationEmail need a login (UNAUTHENTICATED)', async () => {
    for (const token of [undefined, 'not-a-real-token-not-a-real-token-000000000']) {
      expectUnauthenticated(await t.gql(LOGOUT, {}, { token }), 'logout');
      expectUnauthenticated(await t.gql(LOGOUT_EVERYWHERE, {}, { token }), 'logoutEverywhere');
      expectUnauthenticated(await t.gql(UPDATE_PROFILE, { input: { name: 'Nobody' } }, { token }), 'updateProfile');
      expectUnauthenticated(await t.gql(RESEND, {}, { token }), 'resendVerificationEmail');
      const r = await t.gql('{ me { id } }', {}, { token });
      expect(r.errors).toBeUndefined();
      expect(r.data!.me).toBeNull();
    }
  });
});

// ------------------------------------------------------------------------------------------ R1.8

describe('R1.8 profile and language', () => {
  it('R1.8 updateProfile changes name and language; the email address cannot be changed', async () => {
    const a = await newAccount(t, { name: 'Ada Before' });
    const before = await accountRow(a.account.id);

    const r = await t.gql(UPDATE_PROFILE, { input: { name: '  Grace Hopper ', language: 'DE' } }, { token: a.token });
    expect(r.errors).toBeUndefined();
    expect(r.data!.updateProfile.errors).toEqual([]);
    expect(r.data!.updateProfile.account).toMatchObject({ id: a.account.id, email: a.email, name: 'Grace Hopper', language: 'DE', emailVerified: true });
    expect(await me(t, a.token)).toMatchObject({ name: 'Grace Hopper', language: 'DE', email: a.email });

    // Fields left out stay as they are.
    const onlyName = await t.gql(UPDATE_PROFILE, { input: { name: 'Grace B. Hopper' } }, { token: a.token });
    expect(onlyName.data!.updateProfile.account).toMatchObject({ name: 'Grace B. Hopper', language: 'DE' });
    const onlyLanguage = await t.gql(UPDATE_PROFILE, { input: { language: 'ES' } }, { token: a.token });
    expect(onlyLanguage.data!.updateProfile.account).toMatchObject({ name: 'Grace B. Hopper', language: 'ES' });

    // The input has no email field, and an attempt to send one changes nothing.
    const type = await t.gql('{ __type(name: "UpdateProfileInput") { inputFields { name } } }');
    expect(type.data!.__type.inputFields.map((f: { name: string }) => f.name).sort()).toEqual(['language', 'name']);
    const withEmail = await t.gql(UPDATE_PROFILE, { input: { email: uniqueEmail('new'), name: 'Mallory' } }, { token: a.token });
    expect(withEmail.errors?.length).toBeGreaterThan(0);
    expect(withEmail.data?.updateProfile ?? null).toBeNull();

    const after = await accountRow(a.account.id);
    expect(after).toMatchObject({ email: before.email, email_normalized: before.email_normalized, name: 'Grace B. Hopper', language: 'ES' });
  });

  it('R1.8 a name of only spaces is refused with BAD_USER_INPUT and nothing changes', async () => {
    const a = await newAccount(t, { name: 'Stays Same' });
    const before = await accountRow(a.account.id);

    const r = await t.gql(UPDATE_PROFILE, { input: { name: '     ', language: 'ES' } }, { token: a.token });
    expect(r.errors).toBeUndefined();
    expect(r.data!.updateProfile.account).toBeNull();
    expect(r.data!.updateProfile.errors).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', field: ['input', 'name'], message: MSG.NAME_LENGTH.EN })]);
    expect(await accountRow(a.account.id)).toEqual(before);
  });

  it('R1.8 messages are in the account language when no Accept-Language is sent', async () => {
    const unverifiedDe = await register({ language: 'DE' });
    const notVerified = await rawGql(UPDATE_PROFILE, { input: { name: 'Neu' } }, unverifiedDe.token);
    expect(notVerified.data!.updateProfile.errors).toEqual([expect.objectContaining({ code: 'EMAIL_NOT_VERIFIED', message: MSG.EMAIL_NOT_VERIFIED.DE })]);

    const de = await newAccount(t, { language: 'DE' });
    const badDe = await rawGql(UPDATE_PROFILE, { input: { name: ' ' } }, de.token);
    expect(badDe.data!.updateProfile.errors).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', message: MSG.NAME_LENGTH.DE })]);

    const es = await newAccount(t, { language: 'ES' });
    const badEs = await rawGql(UPDATE_PROFILE, { input: { name: ' ' } }, es.token);
    expect(badEs.data!.updateProfile.errors).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', message: MSG.NAME_LENGTH.ES })]);

    // A language change applies to the next request's messages.
    const switched = await rawGql(UPDATE_PROFILE, { input: { language: 'EN' } }, de.token);
    expect(switched.data!.updateProfile.account).toMatchObject({ language: 'EN' });
    const badEn = await rawGql(UPDATE_PROFILE, { input: { name: ' ' } }, de.token);
    expect(badEn.data!.updateProfile.errors[0].message).toBe(MSG.NAME_LENGTH.EN);
  });

  it('R1.8 Accept-Language "*" (no preference; what fetch sends by default) keeps the account language', async () => {
    const unverifiedDe = await register({ language: 'DE' });
    const notVerified = await t.gql(UPDATE_PROFILE, { input: { name: 'Neu' } }, { token: unverifiedDe.token, lang: '*' });
    expect(notVerified.data!.updateProfile.errors).toEqual([expect.objectContaining({ code: 'EMAIL_NOT_VERIFIED', message: MSG.EMAIL_NOT_VERIFIED.DE })]);
    const es = await newAccount(t, { language: 'ES' });
    const badEs = await t.gql(UPDATE_PROFILE, { input: { name: ' ' } }, { token: es.token }); // fetch adds "*"
    expect(badEs.data!.updateProfile.errors).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', message: MSG.NAME_LENGTH.ES })]);
  });

  it('R1.8 a request Accept-Language wins for messages on that request', async () => {
    const de = await newAccount(t, { language: 'DE' });
    const en = await newAccount(t, { language: 'EN' });
    const badName = async (token: string, lang: string) => {
      const r = await t.gql(UPDATE_PROFILE, { input: { name: '  ' } }, { token, lang });
      expect(r.data!.updateProfile.errors).toHaveLength(1);
      return r.data!.updateProfile.errors[0].message as string;
    };
    expect(await badName(de.token, 'es')).toBe(MSG.NAME_LENGTH.ES);
    expect(await badName(de.token, 'en-GB')).toBe(MSG.NAME_LENGTH.EN);
    expect(await badName(de.token, 'fr')).toBe(MSG.NAME_LENGTH.DE); // not offered: the account's language
    expect(await badName(en.token, 'fr')).toBe(MSG.NAME_LENGTH.EN);
    expect(await badName(en.token, 'de-AT,de;q=0.9')).toBe(MSG.NAME_LENGTH.DE);

    const unverifiedEs = await register({ language: 'ES' });
    const r = await t.gql(UPDATE_PROFILE, { input: { name: 'X' } }, { token: unverifiedEs.token, lang: 'de-AT,de;q=0.9' });
    expect(r.data!.updateProfile.errors[0]).toMatchObject({ code: 'EMAIL_NOT_VERIFIED', message: MSG.EMAIL_NOT_VERIFIED.DE });
  });

  it('R1.8 anonymous requests without Accept-Language get English messages', async () => {
    const bogus = 'x'.repeat(43);
    const none = await rawGql(VERIFY, { t: bogus });
    expect(none.data!.verifyEmail.errors).toEqual([expect.objectContaining({ code: 'INVALID_TOKEN', message: MSG.INVALID_TOKEN.EN })]);
    const star = await verify(bogus); // fetch sends "*"
    expect(star.errors).toEqual([expect.objectContaining({ code: 'INVALID_TOKEN', message: MSG.INVALID_TOKEN.EN })]);
    const es = await verify(bogus, 'es');
    expect(es.errors[0].message).toBe(MSG.INVALID_TOKEN.ES);
    const fr = await verify(bogus, 'fr');
    expect(fr.errors[0].message).toBe(MSG.INVALID_TOKEN.EN);

    const failed = await rawGql('mutation($input: LoginInput!) { login(input: $input) { token errors { code message } } }', {
      input: { email: uniqueEmail('anon'), password: PASSWORD },
    });
    expect(failed.data!.login.errors[0]).toMatchObject({ code: 'INVALID_CREDENTIALS', message: MSG.INVALID_CREDENTIALS.EN });
    const unauth = await rawGql(LOGOUT, {});
    expect(unauth.errors![0]).toMatchObject({ message: MSG.UNAUTHENTICATED.EN, extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) });
  });

  it('R1.8 emails are sent in the account language', async () => {
    const de = await register({ language: 'DE', name: 'Dora' });
    const deMail = await nextMail(de.email, isVerification);
    expect(deMail.subject).toBe(SUBJECT.verify.DE);
    expect(deMail.text).toContain('Hallo Dora');
    expect(deMail.html).toContain('Hallo Dora');

    const es = await register({ language: 'ES', name: 'Elena' });
    const esMail = await nextMail(es.email, isVerification);
    expect(esMail.subject).toBe(SUBJECT.verify.ES);
    expect(esMail.text).toContain('Hola, Elena');

    // A request's Accept-Language does not change the language of emails.
    const reset = await t.gql(REQUEST_RESET, { e: es.email }, { lang: 'en' });
    expect(reset.data!.requestPasswordReset).toEqual({ ok: true, errors: [] });
    const resetMail = await nextMail(es.email, isReset);
    expect(resetMail.subject).toBe(SUBJECT.reset.ES);
    expect(resetMail.text).toContain(`${PUBLIC_URL}/reset-password?token=`);
  });

  it('R1.8 after updateProfile(language: ES) emails are sent in Spanish; a refused update leaves them as they were', async () => {
    const a = await newAccount(t, { language: 'EN' });
    const r = await t.gql(UPDATE_PROFILE, { input: { language: 'ES' } }, { token: a.token });
    expect(r.data!.updateProfile.account).toMatchObject({ language: 'ES' });
    await t.gql(REQUEST_RESET, { e: a.email });
    const resetMail = await nextMail(a.email, isReset);
    expect(resetMail.subject).toBe(SUBJECT.reset.ES);

    // An unverified account cannot change its language (R1.3), so its re-sent email stays English.
    const u = await register({ language: 'EN' });
    const firstMail = await nextMail(u.email, isVerification);
    const refused = await t.gql(UPDATE_PROFILE, { input: { language: 'ES' } }, { token: u.token });
    expect(refused.data!.updateProfile.errors[0].code).toBe('EMAIL_NOT_VERIFIED');
    const resend = await t.gql(RESEND, {}, { token: u.token });
    expect(resend.data!.resendVerificationEmail).toEqual({ ok: true, errors: [] });
    const resent = await nextMail(u.email, isVerification, [firstMail]);
    expect(resent.subject).toBe(SUBJECT.verify.EN);
  });
});
