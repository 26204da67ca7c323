import { newAccount, type NewAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * R1.6 as amended: someone who knows only an account's email must not be able to keep its owner out.
 * A browser or desktop app that logged in successfully within 30 days (device cookie; the app's
 * device ID) is not stopped by the account-wide block, only by its own address's count; unknown
 * clients keep the full protection. Reset requests are limited per requesting address. Real request
 * rate limits here (RATE_LIMIT_FACTOR=1).
 */

const WRONG = 'not the right password at all';
const LOGIN = 'mutation($input: LoginInput!) { login(input: $input) { token errors { code reason } } }';
const REQUEST_RESET = 'mutation($email: String!) { requestPasswordReset(email: $email) { ok errors { code } } }';
const DAY_S = 86_400;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ RATE_LIMIT_FACTOR: '1' });
});
afterAll(async () => {
  await t?.stop();
});

let ipCounter = 0;
function nextIp(): string {
  ipCounter += 1;
  return `192.0.${2 + Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 1}`;
}

interface LoginAnswer {
  token: string | null;
  codes: string[];
  /** The `tessera_device` cookie set on the answer, if any (value and attributes). */
  setCookie?: string;
  cookie?: string;
}

/** `login` over HTTP as a browser or an app would send it: with a cookie header and/or a device ID. */
async function login(
  a: { email: string },
  password: string,
  options: { ip: string; cookie?: string; deviceId?: string; client?: 'WEB' | 'DESKTOP' },
): Promise<LoginAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-forwarded-for': options.ip };
  if (options.cookie) headers.cookie = `tessera_device=${options.cookie}`;
  const res = await fetch(t.url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query: LOGIN, variables: { input: { email: a.email, password, client: options.client ?? 'WEB', deviceId: options.deviceId } } }),
  });
  const body = (await res.json()) as { data: { login: { token: string | null; errors: Array<{ code: string }> } } };
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('tessera_device='));
  return {
    token: body.data.login.token,
    codes: body.data.login.errors.map((e) => e.code),
    setCookie,
    cookie: setCookie ? decodeURIComponent(setCookie.slice('tessera_device='.length).split(';')[0]) : undefined,
  };
}

/** 100 failures within the hour from 100 addresses: the account-wide block (R1.6). */
async function lockOut(a: NewAccount): Promise<void> {
  for (let i = 0; i < 100; i++) expect((await login(a, WRONG, { ip: nextIp() })).codes).toEqual(['INVALID_CREDENTIALS']);
  expect((await login(a, a.password, { ip: nextIp() })).codes).toEqual(['LOGIN_BLOCKED']);
}

test('R1.6 a browser that logged in before keeps logging in through an account-wide block; an unknown one is blocked', async () => {
  const owner = await newAccount(t);
  const home = nextIp();
  const first = await login(owner, owner.password, { ip: home });
  expect(first.codes).toEqual([]);
  expect(first.cookie).toMatch(/^v1\./);
  // HttpOnly (no script reads it), SameSite=Strict, the whole site, 30 days; Secure only behind HTTPS.
  expect(first.setCookie).toMatch(/HttpOnly/);
  expect(first.setCookie).toMatch(/SameSite=Strict/);
  expect(first.setCookie).toMatch(/Path=\//);
  expect(first.setCookie).toMatch(/Max-Age=2592000/);
  expect(first.setCookie).not.toMatch(/Secure/);

  await lockOut(owner);
  // The owner's browser, even from an address it never used: in, with a fresh cookie.
  const known = await login(owner, owner.password, { ip: nextIp(), cookie: first.cookie });
  expect(known.codes).toEqual([]);
  expect(known.token).toBeTruthy();
  expect(known.cookie).toMatch(/^v1\./);
  // Without it, or with it altered, or with another account's: blocked as before.
  expect((await login(owner, owner.password, { ip: nextIp() })).codes).toEqual(['LOGIN_BLOCKED']);
  const tampered = first.cookie!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
  expect((await login(owner, owner.password, { ip: nextIp(), cookie: tampered })).codes).toEqual(['LOGIN_BLOCKED']);
  const other = await newAccount(t);
  const othersCookie = (await login(other, other.password, { ip: nextIp() })).cookie;
  expect((await login(owner, owner.password, { ip: nextIp(), cookie: othersCookie })).codes).toEqual(['LOGIN_BLOCKED']);
  // A wrong password through a known browser is still a failure, and still counted.
  expect((await login(owner, WRONG, { ip: nextIp(), cookie: first.cookie })).codes).toEqual(['INVALID_CREDENTIALS']);
});

test('R1.6 a known browser is still stopped by its own address count: the cookie is no way around brute force', async () => {
  const owner = await newAccount(t);
  const { cookie } = await login(owner, owner.password, { ip: nextIp() });
  const attacker = nextIp();
  for (let i = 0; i < 10; i++) expect((await login(owner, WRONG, { ip: attacker, cookie })).codes).toEqual(['INVALID_CREDENTIALS']);
  expect((await login(owner, owner.password, { ip: attacker, cookie })).codes).toEqual(['LOGIN_BLOCKED']);
  // The same browser elsewhere is not.
  expect((await login(owner, owner.password, { ip: nextIp(), cookie })).codes).toEqual([]);
});

test('R1.6 a desktop app that logged in before is known by its device ID; another device is not', async () => {
  const owner = await newAccount(t);
  const deviceId = `owner-laptop-${ipCounter}`;
  expect((await login(owner, owner.password, { ip: nextIp(), client: 'DESKTOP', deviceId })).codes).toEqual([]);
  // Only a keyed hash of the device ID is kept (R1.10).
  const rows = await t.server.ds.query<Array<{ device_hash: string }>>('SELECT device_hash FROM login_known_devices WHERE account_id = $1', [owner.account.id]);
  expect(rows).toHaveLength(1);
  expect(rows[0].device_hash).not.toContain('owner-laptop');

  await lockOut(owner);
  expect((await login(owner, owner.password, { ip: nextIp(), client: 'DESKTOP', deviceId })).codes).toEqual([]);
  expect((await login(owner, owner.password, { ip: nextIp(), client: 'DESKTOP', deviceId: 'someone-elses-pc' })).codes).toEqual(['LOGIN_BLOCKED']);
});

test('R1.6 a proof lasts 30 days from the last successful login', async () => {
  const owner = await newAccount(t);
  const deviceId = `desk-${ipCounter}`;
  const { cookie } = await login(owner, owner.password, { ip: nextIp(), client: 'DESKTOP', deviceId });
  await t.advance(31 * DAY_S);
  await lockOut(owner);
  expect((await login(owner, owner.password, { ip: nextIp(), cookie })).codes).toEqual(['LOGIN_BLOCKED']);
  expect((await login(owner, owner.password, { ip: nextIp(), client: 'DESKTOP', deviceId })).codes).toEqual(['LOGIN_BLOCKED']);
  // The periodic tidy-up forgets the device.
  await t.server.services.accounts.pruneLoginThrottle();
  const rows = await t.server.ds.query<unknown[]>('SELECT 1 FROM login_known_devices WHERE account_id = $1', [owner.account.id]);
  expect(rows).toHaveLength(0);
});

test('R1.6 strangers asking for the owner’s password resets do not use up the owner’s own', async () => {
  const owner = await newAccount(t);
  const links = () => t.mail.for(owner.email).filter((m) => m.text.includes('/reset-password?token=')).length;
  const untilLinks = async (n: number) => {
    const deadline = Date.now() + 10_000;
    while (links() < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} reset mails, got ${links()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  // Five requests from a stranger's address use up that address's allowance for this email …
  const stranger = nextIp();
  for (let i = 0; i < 5; i++) expect((await t.gql(REQUEST_RESET, { email: owner.email }, { ip: stranger })).data!.requestPasswordReset.ok).toBe(true);
  const refused = await t.gql(REQUEST_RESET, { email: owner.email }, { ip: stranger });
  expect(refused.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  // … and five more strangers five each …
  for (let s = 0; s < 5; s++) {
    const ip = nextIp();
    for (let i = 0; i < 5; i++) expect((await t.gql(REQUEST_RESET, { email: owner.email }, { ip })).data!.requestPasswordReset.ok).toBe(true);
  }
  await untilLinks(30);
  // … but the owner, from their own address, still gets a link.
  const own = await t.gql(REQUEST_RESET, { email: owner.email }, { ip: nextIp() });
  expect(own.data!.requestPasswordReset).toEqual({ ok: true, errors: [] });
  await untilLinks(31);
});

test('R1.6 a stolen proof allows ten tries an hour however many addresses try, and the owner’s other proofs keep working', async () => {
  const owner = await newAccount(t);
  const { cookie } = await login(owner, owner.password, { ip: nextIp() });
  const deviceId = `own-desk-${ipCounter}`;
  expect((await login(owner, owner.password, { ip: nextIp(), client: 'DESKTOP', deviceId })).codes).toEqual([]);
  await lockOut(owner);
  // The thief guesses through the stolen cookie, a fresh address each time.
  for (let i = 0; i < 10; i++) expect((await login(owner, WRONG, { ip: nextIp(), cookie })).codes).toEqual(['INVALID_CREDENTIALS']);
  // Now the cookie proves nothing this hour: the right password through it is blocked as for anyone …
  expect((await login(owner, owner.password, { ip: nextIp(), cookie })).codes).toEqual(['LOGIN_BLOCKED']);
  // … while the owner's desktop app, a proof of its own, still gets in.
  expect((await login(owner, owner.password, { ip: nextIp(), client: 'DESKTOP', deviceId })).codes).toEqual([]);
});

test('R1.6 IPv6 addresses of one /64 share one per-address count', async () => {
  const owner = await newAccount(t);
  for (let i = 0; i < 10; i++) expect((await login(owner, WRONG, { ip: `2001:db8:77:1::${(i + 1).toString(16)}` })).codes).toEqual(['INVALID_CREDENTIALS']);
  expect((await login(owner, owner.password, { ip: '2001:db8:77:1:ffff::42' })).codes).toEqual(['LOGIN_BLOCKED']);
  expect((await login(owner, owner.password, { ip: '2001:db8:77:2::1' })).codes).toEqual([]);
});
