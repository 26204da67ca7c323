import { randomBytes, randomUUID } from 'node:crypto';
import { LICENSE_FIELDS, newAccount, redeem, uniqueEmail, type NewAccount } from '../helpers/factories';
import type { CaughtMail } from '../helpers/mail';
import { SHOP_TOKEN, startTestServer, type GqlResult, type TestServer } from '../helpers/server';

/**
 * R2.4 (the shop issues licenses), R2.1/R2.9 (who sees a key), R2.10 (expiry reminders and the
 * entitlement), through the GraphQL API of a real server on a real PostgreSQL with a real SMTP
 * catcher. The test clock only moves forward and is shared by the whole file: every test computes
 * its expiry instants from the server's clock at the time, makes its own accounts and licenses, and
 * the tests that move the clock come last.
 */

const SECOND = 1;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;
const DAY_MS = DAY * 1000;

const LICENSE_ID = /^L-[0-9A-F]{3}-[0-9A-F]{3}$/;
const LICENSE_KEY = /^R(-[0-9A-F]{3}){6}$/;
const KEY_IN_TEXT = /R(?:-[0-9A-F]{3}){6}/;

const ISSUE = `mutation($input: IssueLicenseInput!) {
  issueLicense(input: $input) { license { ${LICENSE_FIELDS} } errors { code reason field message } }
}`;
const ME_LICENSES = `{ me { id userId licenses { ${LICENSE_FIELDS} } } }`;
const LICENSE = `query($id: ID!) { license(id: $id) { ${LICENSE_FIELDS} } }`;
const STATUS = `{ licenseStatus(deviceId: "dev-1") { canUse canSave expiresAt expiresSoon license { licenseId } owner { userId } } }`;
const UPDATE_PROFILE = `mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { account { id } errors { code } } }`;
const REDEEM = `mutation($code: String!) { redeemCode(code: $code) { license { id } alreadyRedeemedByYou errors { code } } }`;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

// ------------------------------------------------------------------------------------------ helpers

type License = { id: string; licenseId: string; key: string | null; owner: { userId: string } | null; [k: string]: unknown };
type IssuePayload = { license: License | null; errors: Array<{ code: string; reason: string | null; field: string[] | null; message: string }> };

function orderRef(prefix = 'order'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** A complete, valid issueLicense input, with `overrides`. */
function issueInput(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'COMMERCIAL',
    seats: 1,
    platforms: ['WINDOWS', 'MAC'],
    expiresAt: null,
    purchaserEmail: uniqueEmail('buyer'),
    orderReference: orderRef(),
    ...overrides,
  };
}

/** Calls issueLicense as `token` (the shop by default; null: no Authorization header) and returns the whole GraphQL result. */
function issueRaw(input: Record<string, unknown>, token: string | null = SHOP_TOKEN): Promise<GqlResult<{ issueLicense: IssuePayload }>> {
  return t.gql<{ issueLicense: IssuePayload }>(ISSUE, { input }, token ? { token } : {});
}

/** Issues with the shop token and expects success; returns the license and the input used. */
async function issueOk(overrides: Record<string, unknown> = {}): Promise<{ license: License; input: Record<string, any> }> {
  const input = issueInput(overrides);
  const r = await issueRaw(input);
  expect(r.errors).toBeUndefined();
  expect(r.data!.issueLicense.errors).toEqual([]);
  expect(r.data!.issueLicense.license).not.toBeNull();
  return { license: r.data!.issueLicense.license!, input };
}

/** Server time, `days` from now, as the ISO string the API takes. */
function inDays(days: number): string {
  return new Date(t.server.clock.now().getTime() + days * DAY_MS).toISOString();
}

function gqlCode(r: GqlResult): unknown {
  return r.errors?.[0]?.extensions?.code;
}

async function licenseCount(): Promise<number> {
  const rows = await t.server.ds.query('SELECT count(*)::int AS n FROM licenses');
  return rows[0].n;
}

async function rowsForOrder(orderReference: string): Promise<Array<{ id: string; seats: number; license_key: string; owner_account_id: string | null }>> {
  return t.server.ds.query('SELECT id, seats, license_key, owner_account_id FROM licenses WHERE order_reference = $1', [orderReference]);
}

/** Lets every mail the server has started go out, so that "no (more) mail" is a real observation. */
async function settleMail(): Promise<void> {
  await t.server.mailer.drain();
  await new Promise((r) => setTimeout(r, 200));
  await t.server.mailer.drain();
}

const isIssuedMail = (licenseId: string) => (m: CaughtMail) => m.text.includes(licenseId) && KEY_IN_TEXT.test(m.text);
const isReminder = (licenseId: string) => (m: CaughtMail) => m.subject.includes(licenseId) && /\b(ends|endet|termina)\b/.test(m.subject);

/** The key the purchaser received for `licenseId`. */
async function keyFromMail(purchaserEmail: string, licenseId: string): Promise<string> {
  const mail = await t.mail.waitFor(purchaserEmail, isIssuedMail(licenseId));
  return KEY_IN_TEXT.exec(mail.text)![0];
}

async function reminderRows(licenseUuid: string): Promise<number[]> {
  const rows = await t.server.ds.query('SELECT days_before FROM license_reminders WHERE license_id = $1 ORDER BY days_before DESC', [licenseUuid]);
  return rows.map((r: { days_before: number }) => r.days_before);
}

async function runReminders(): Promise<boolean> {
  const ran = await t.server.jobs.run('expiry-reminders');
  await settleMail();
  return ran;
}

async function status(token: string) {
  const r = await t.gql(STATUS, {}, { token });
  expect(r.errors).toBeUndefined();
  return r.data!.licenseStatus as {
    canUse: boolean;
    canSave: boolean;
    expiresAt: string | null;
    expiresSoon: boolean;
    license: { licenseId: string } | null;
    owner: { userId: string } | null;
  };
}

// ------------------------------------------------------------------------------------------ R2.4 authorization

describe('R2.4 issueLicense authorization', () => {
  it('refuses a caller without a token with UNAUTHENTICATED and creates nothing', async () => {
    const before = await licenseCount();
    const input = issueInput();
    const r = await issueRaw(input, null);
    expect(gqlCode(r)).toBe('UNAUTHENTICATED');
    expect(r.data?.issueLicense ?? null).toBeNull();
    expect(await licenseCount()).toBe(before);
    expect(await rowsForOrder(input.orderReference as string)).toHaveLength(0);
    await settleMail();
    expect(t.mail.for(input.purchaserEmail as string)).toHaveLength(0);
  });

  it('refuses a wrong bearer token with UNAUTHENTICATED and creates nothing', async () => {
    const before = await licenseCount();
    for (const wrong of ['wrong-token', `${SHOP_TOKEN}x`, SHOP_TOKEN.slice(0, -1)]) {
      const input = issueInput();
      const r = await issueRaw(input, wrong);
      expect(gqlCode(r)).toBe('UNAUTHENTICATED');
      expect(r.data?.issueLicense ?? null).toBeNull();
      expect(await rowsForOrder(input.orderReference as string)).toHaveLength(0);
    }
    expect(await licenseCount()).toBe(before);
  });

  it("refuses a logged-in user's token with FORBIDDEN and creates nothing", async () => {
    const user = await newAccount(t);
    const before = await licenseCount();
    const input = issueInput({ purchaserEmail: user.email, redeemForUserId: user.account.userId });
    const r = await issueRaw(input, user.token);
    expect(gqlCode(r)).toBe('FORBIDDEN');
    expect(r.data?.issueLicense ?? null).toBeNull();
    expect(await licenseCount()).toBe(before);
    expect(await rowsForOrder(input.orderReference as string)).toHaveLength(0);
    const mine = await t.gql(ME_LICENSES, {}, { token: user.token });
    expect(mine.data!.me.licenses).toEqual([]);
  });

  it('gives the shop token nothing else: me is null, updateProfile, redeemCode and licenseStatus are UNAUTHENTICATED', async () => {
    const me = await t.gql('{ me { id } }', {}, { token: SHOP_TOKEN });
    expect(me.errors).toBeUndefined();
    expect(me.data!.me).toBeNull();

    const profile = await t.gql(UPDATE_PROFILE, { input: { name: 'Shop', language: 'DE' } }, { token: SHOP_TOKEN });
    expect(gqlCode(profile)).toBe('UNAUTHENTICATED');
    expect(profile.data?.updateProfile ?? null).toBeNull();

    const { license, input } = await issueOk();
    const key = await keyFromMail(input.purchaserEmail, license.licenseId);
    const redeemed = await t.gql(REDEEM, { code: key }, { token: SHOP_TOKEN });
    expect(gqlCode(redeemed)).toBe('UNAUTHENTICATED');
    expect(redeemed.data?.redeemCode ?? null).toBeNull();
    const [row] = await rowsForOrder(input.orderReference);
    expect(row.owner_account_id).toBeNull();

    const st = await t.gql(STATUS, {}, { token: SHOP_TOKEN });
    expect(gqlCode(st)).toBe('UNAUTHENTICATED');
  });
});

// ------------------------------------------------------------------------------------------ R2.4 issuing

describe('R2.4 issuing', () => {
  it('returns an unredeemed ACTIVE license with a license ID and a key, and stores exactly that', async () => {
    const { license, input } = await issueOk({ type: 'EDUCATIONAL', seats: 5, platforms: ['MAC', 'WINDOWS', 'CLOUD'] });
    expect(license.licenseId).toMatch(LICENSE_ID);
    expect(license).toMatchObject({
      type: 'EDUCATIONAL',
      seats: 5,
      expiresAt: null,
      status: 'ACTIVE',
      sharable: true,
      orderReference: input.orderReference,
      owner: null,
      redeemedAt: null,
    });
    expect([...(license.platforms as string[])].sort()).toEqual(['CLOUD', 'MAC', 'WINDOWS']);
    const rows = await rowsForOrder(input.orderReference);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: license.id, seats: 5, owner_account_id: null });
    // The shop needs the key it just bought (order confirmation); the API must return it.
    expect(license.key).toMatch(LICENSE_KEY);
    expect(license.key).toBe(rows[0].license_key);
  });

  it('emails the key and the license ID to the purchaser, in English by default', async () => {
    const { license, input } = await issueOk({ expiresAt: inDays(365) });
    const mail = await t.mail.waitFor(input.purchaserEmail, isIssuedMail(license.licenseId));
    const [row] = await rowsForOrder(input.orderReference);
    expect(mail.text).toContain(row.license_key);
    expect(mail.text).toContain(license.licenseId);
    expect(mail.subject).toBe(`Your license key ${license.licenseId}`);
    expect(mail.text).toContain('Thank you for your purchase');
    expect(mail.text).toContain('enter the key to activate');
    expect(mail.html).toContain(row.license_key);
  });

  it('emails in the requested language: DE in German, ES in Spanish', async () => {
    const de = await issueOk({ language: 'DE' });
    const es = await issueOk({ language: 'ES' });
    const deMail = await t.mail.waitFor(de.input.purchaserEmail, isIssuedMail(de.license.licenseId));
    const esMail = await t.mail.waitFor(es.input.purchaserEmail, isIssuedMail(es.license.licenseId));
    const [deRow] = await rowsForOrder(de.input.orderReference);
    const [esRow] = await rowsForOrder(es.input.orderReference);

    expect(deMail.subject).toBe(`Ihr Lizenzschlüssel ${de.license.licenseId}`);
    expect(deMail.text).toContain(`Ihr Lizenzschlüssel lautet: ${deRow.license_key}`);
    expect(deMail.text).toContain('unbefristet');
    expect(deMail.text).not.toMatch(/Thank you|Gracias/);

    expect(esMail.subject).toBe(`Su clave de licencia ${es.license.licenseId}`);
    expect(esMail.text).toContain(`Su clave de licencia es: ${esRow.license_key}`);
    expect(esMail.text).toContain('permanente');
    expect(esMail.text).not.toMatch(/Thank you|vielen Dank/);
  });

  it('gives many issued licenses distinct keys and distinct license IDs', async () => {
    const n = 30;
    const issued = await Promise.all(Array.from({ length: n }, () => issueOk()));
    const refs = issued.map((i) => i.input.orderReference);
    const rows: Array<{ license_id: string; license_key: string }> = await t.server.ds.query(
      'SELECT license_id, license_key FROM licenses WHERE order_reference = ANY($1)',
      [refs],
    );
    expect(rows).toHaveLength(n);
    expect(new Set(rows.map((r) => r.license_key)).size).toBe(n);
    expect(new Set(rows.map((r) => r.license_id)).size).toBe(n);
    for (const r of rows) {
      expect(r.license_key).toMatch(LICENSE_KEY);
      expect(r.license_id).toMatch(LICENSE_ID);
    }
    expect(new Set(issued.map((i) => i.license.id)).size).toBe(n);
  });
});

// ------------------------------------------------------------------------------------------ R2.4 idempotency

describe('R2.4 idempotency per order reference', () => {
  it('answers a repeated identical call with the same license, no second row and no second email', async () => {
    const input = issueInput({ expiresAt: inDays(200), seats: 3 });
    const first = await issueRaw(input);
    expect(first.data!.issueLicense.errors).toEqual([]);
    await t.mail.waitFor(input.purchaserEmail as string, isIssuedMail(first.data!.issueLicense.license!.licenseId));

    const again = await issueRaw(input);
    expect(again.errors).toBeUndefined();
    expect(again.data!.issueLicense.errors).toEqual([]);
    const a = first.data!.issueLicense.license!;
    const b = again.data!.issueLicense.license!;
    expect(b.id).toBe(a.id);
    expect(b.licenseId).toBe(a.licenseId);
    expect(b.key).toBe(a.key);

    const rows = await rowsForOrder(input.orderReference as string);
    expect(rows).toHaveLength(1);
    expect(rows[0].id).toBe(a.id);
    await settleMail();
    expect(t.mail.for(input.purchaserEmail as string)).toHaveLength(1);
  });

  it('answers 10 concurrent identical calls with one license, one row and one email', async () => {
    const input = issueInput({ type: 'GOVERNMENT', seats: 7 });
    const results = await Promise.all(Array.from({ length: 10 }, () => issueRaw(input)));
    for (const r of results) {
      expect(r.errors).toBeUndefined();
      expect(r.data!.issueLicense.errors).toEqual([]);
    }
    const licenses = results.map((r) => r.data!.issueLicense.license!);
    expect(new Set(licenses.map((l) => l.id)).size).toBe(1);
    expect(new Set(licenses.map((l) => l.licenseId)).size).toBe(1);
    expect(new Set(licenses.map((l) => l.key)).size).toBe(1);
    const rows = await rowsForOrder(input.orderReference as string);
    expect(rows).toHaveLength(1);
    expect(rows[0].id).toBe(licenses[0].id);
    await t.mail.waitFor(input.purchaserEmail as string, isIssuedMail(licenses[0].licenseId));
    await settleMail();
    expect(t.mail.for(input.purchaserEmail as string)).toHaveLength(1);
  });

  it('refuses an order reference reused for a different order (ORDER_REFERENCE_REUSED) and changes nothing', async () => {
    const input = issueInput({ seats: 2 });
    const first = await issueRaw(input);
    const original = first.data!.issueLicense.license!;
    await t.mail.waitFor(input.purchaserEmail as string, isIssuedMail(original.licenseId));
    const before = await licenseCount();

    const other = await issueRaw({ ...input, seats: 3 });
    expect(other.errors).toBeUndefined();
    expect(other.data!.issueLicense.license).toBeNull();
    expect(other.data!.issueLicense.errors).toEqual([
      expect.objectContaining({ code: 'BAD_USER_INPUT', reason: 'ORDER_REFERENCE_REUSED', field: ['input', 'orderReference'] }),
    ]);

    expect(await licenseCount()).toBe(before);
    const rows = await rowsForOrder(input.orderReference as string);
    expect(rows).toEqual([expect.objectContaining({ id: original.id, seats: 2 })]);
    await settleMail();
    expect(t.mail.for(input.purchaserEmail as string)).toHaveLength(1);
  });
});

// ------------------------------------------------------------------------------------------ R2.4 redeemForUserId

describe('R2.4 redeemForUserId', () => {
  it('redeems into that account at once; the account lists it and the mail says it is already activated', async () => {
    const owner = await newAccount(t, { name: 'Olga Owner' });
    const purchaserEmail = uniqueEmail('purchaser');
    const before = t.server.clock.now().getTime();
    const { license, input } = await issueOk({ redeemForUserId: owner.account.userId, purchaserEmail });
    expect(license.owner).toMatchObject({ userId: owner.account.userId, name: 'Olga Owner' });
    expect(license.redeemedAt).not.toBeNull();
    const redeemedAt = new Date(license.redeemedAt as string).getTime();
    expect(redeemedAt).toBeGreaterThanOrEqual(before - 1000);
    expect(redeemedAt).toBeLessThanOrEqual(t.server.clock.now().getTime() + 1000);

    const [row] = await rowsForOrder(input.orderReference);
    expect(row.owner_account_id).toBe(owner.account.id);

    const mine = await t.gql(ME_LICENSES, {}, { token: owner.token });
    expect(mine.errors).toBeUndefined();
    expect(mine.data!.me.licenses).toEqual([
      expect.objectContaining({
        id: license.id,
        licenseId: license.licenseId,
        key: row.license_key,
        owner: expect.objectContaining({ userId: owner.account.userId }),
      }),
    ]);

    const mail = await t.mail.waitFor(purchaserEmail, isIssuedMail(license.licenseId));
    expect(mail.text).toContain(row.license_key);
    expect(mail.text).toContain('The license is already activated in your account.');
    expect(mail.text).not.toContain('enter the key to activate');

    // Redeeming the key again as the owner is not an error: it is already theirs.
    const again = await redeem(t, owner.token, row.license_key);
    expect(again.errors).toEqual([]);
    expect(again.alreadyRedeemedByYou).toBe(true);
  });

  it("accepts a lower-case user ID, and writes in the named account's language when none is requested", async () => {
    const owner = await newAccount(t, { language: 'DE' });
    const { license } = await issueOk({ redeemForUserId: owner.account.userId.toLowerCase(), purchaserEmail: owner.email });
    expect(license.owner).toMatchObject({ userId: owner.account.userId });
    const mail = await t.mail.waitFor(owner.email, isIssuedMail(license.licenseId));
    expect(mail.subject).toBe(`Ihr Lizenzschlüssel ${license.licenseId}`);
    expect(mail.text).toContain('Die Lizenz ist bereits in Ihrem Konto aktiviert.');
  });

  it('refuses an unknown user ID with BAD_USER_INPUT on input.redeemForUserId and creates nothing', async () => {
    const before = await licenseCount();
    const input = issueInput({ redeemForUserId: 'A-000-000' });
    const r = await issueRaw(input);
    expect(r.errors).toBeUndefined();
    expect(r.data!.issueLicense.license).toBeNull();
    expect(r.data!.issueLicense.errors).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', field: ['input', 'redeemForUserId'] })]);
    expect(await licenseCount()).toBe(before);
    expect(await rowsForOrder(input.orderReference as string)).toHaveLength(0);
    await settleMail();
    expect(t.mail.for(input.purchaserEmail as string)).toHaveLength(0);
  });

  it('refuses a family mismatch (active COMMERCIAL, EDUCATIONAL issued) with LICENSE_TYPE_MISMATCH: no row, no mail', async () => {
    const owner = await newAccount(t);
    const commercial = await issueOk({ type: 'COMMERCIAL', redeemForUserId: owner.account.userId });
    expect(commercial.license.owner).toMatchObject({ userId: owner.account.userId });
    const before = await licenseCount();

    const input = issueInput({ type: 'EDUCATIONAL', redeemForUserId: owner.account.userId });
    const r = await issueRaw(input);
    expect(r.errors).toBeUndefined();
    expect(r.data!.issueLicense.license).toBeNull();
    expect(r.data!.issueLicense.errors).toEqual([expect.objectContaining({ code: 'LICENSE_TYPE_MISMATCH' })]);

    expect(await licenseCount()).toBe(before);
    expect(await rowsForOrder(input.orderReference as string)).toHaveLength(0);
    await settleMail();
    expect(t.mail.for(input.purchaserEmail as string)).toHaveLength(0);
    const mine = await t.gql(ME_LICENSES, {}, { token: owner.token });
    expect(mine.data!.me.licenses.map((l: License) => l.id)).toEqual([commercial.license.id]);
  });
});

// ------------------------------------------------------------------------------------------ input validation

describe('R2.1/R2.4 issueLicense input validation', () => {
  const cases: Array<[string, () => Record<string, unknown>, string[]]> = [
    ['seats 0', () => ({ seats: 0 }), ['input', 'seats']],
    ['negative seats', () => ({ seats: -3 }), ['input', 'seats']],
    ['empty platforms', () => ({ platforms: [] }), ['input', 'platforms']],
    ['expiresAt in the past', () => ({ expiresAt: inDays(-1) }), ['input', 'expiresAt']],
    ['expiresAt now-ish (1 s ago)', () => ({ expiresAt: new Date(t.server.clock.now().getTime() - 1000).toISOString() }), ['input', 'expiresAt']],
    ['malformed purchaserEmail', () => ({ purchaserEmail: 'not-an-email' }), ['input', 'purchaserEmail']],
    ['purchaserEmail without domain', () => ({ purchaserEmail: 'someone@' }), ['input', 'purchaserEmail']],
    ['empty orderReference', () => ({ orderReference: '' }), ['input', 'orderReference']],
    ['blank orderReference', () => ({ orderReference: '   ' }), ['input', 'orderReference']],
    ['type TRIAL (trials only come from requestTrial)', () => ({ type: 'TRIAL' }), ['input', 'type']],
  ];

  it.each(cases)('refuses %s with BAD_USER_INPUT on the right field and changes nothing', async (_name, overrides, field) => {
    const owner = await newAccount(t);
    const before = await licenseCount();
    const purchaserEmail = uniqueEmail('invalid');
    const input = issueInput({ purchaserEmail, redeemForUserId: owner.account.userId, ...overrides() });
    const r = await issueRaw(input);
    expect(r.errors).toBeUndefined();
    expect(r.data!.issueLicense.license).toBeNull();
    expect(r.data!.issueLicense.errors).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', field })]);
    expect(r.data!.issueLicense.errors[0].message).toEqual(expect.any(String));
    expect(r.data!.issueLicense.errors[0].message.length).toBeGreaterThan(0);

    expect(await licenseCount()).toBe(before);
    const ownerRows = await t.server.ds.query('SELECT count(*)::int AS n FROM licenses WHERE owner_account_id = $1', [owner.account.id]);
    expect(ownerRows[0].n).toBe(0);
    await settleMail();
    expect(t.mail.for(purchaserEmail)).toHaveLength(0);
    if (typeof input.purchaserEmail === 'string') expect(t.mail.for(input.purchaserEmail)).toHaveLength(0);
  });
});

// ------------------------------------------------------------------------------------------ R2.1/R2.9 visibility

describe('R2.1/R2.9 who sees a license and its key', () => {
  let owner: NewAccount;
  let license: License;
  let key: string;

  beforeAll(async () => {
    owner = await newAccount(t);
    ({ license } = await issueOk({ redeemForUserId: owner.account.userId, purchaserEmail: owner.email }));
    key = await keyFromMail(owner.email, license.licenseId);
  });

  it('shows the key to its owner through me.licenses and license(id)', async () => {
    const mine = await t.gql(ME_LICENSES, {}, { token: owner.token });
    expect(mine.errors).toBeUndefined();
    expect(mine.data!.me.licenses).toEqual([expect.objectContaining({ id: license.id, key, status: 'ACTIVE' })]);
    const one = await t.gql(LICENSE, { id: license.id }, { token: owner.token });
    expect(one.errors).toBeUndefined();
    expect(one.data!.license).toMatchObject({ id: license.id, licenseId: license.licenseId, key, owner: { userId: owner.account.userId } });
  });

  it('shows the license and its key to a support account', async () => {
    const support = await newAccount(t);
    await t.server.ds.query("UPDATE accounts SET roles = '{USER,SUPPORT}' WHERE id = $1", [support.account.id]);
    const one = await t.gql(LICENSE, { id: license.id }, { token: support.token });
    expect(one.errors).toBeUndefined();
    expect(one.data!.license).toMatchObject({ id: license.id, key, owner: { userId: owner.account.userId } });
  });

  it('answers null to another verified account, without revealing anything', async () => {
    const other = await newAccount(t);
    const one = await t.gql(LICENSE, { id: license.id }, { token: other.token });
    expect(one.errors).toBeUndefined();
    expect(one.data!.license).toBeNull();
    const unknown = await t.gql(LICENSE, { id: randomUUID() }, { token: other.token });
    expect(unknown.errors).toBeUndefined();
    expect(unknown.data!.license).toBeNull();
    const mine = await t.gql(ME_LICENSES, {}, { token: other.token });
    expect(mine.data!.me.licenses).toEqual([]);
  });

  it('answers null, not an error, for a malformed id', async () => {
    for (const id of ['not-a-uuid', license.licenseId, "'; DROP TABLE licenses; --", '']) {
      const r = await t.gql(LICENSE, { id }, { token: owner.token });
      expect(r.errors).toBeUndefined();
      expect(r.data!.license).toBeNull();
    }
  });
});

// ------------------------------------------------------------------------------------------ R2.10 entitlement (moves the clock)

describe('R2.10 entitlement (licenseStatus)', () => {
  it('with a permanent license: canUse and canSave, no expiry, not expiring soon', async () => {
    const owner = await newAccount(t);
    const { license } = await issueOk({ redeemForUserId: owner.account.userId });
    expect(await status(owner.token)).toEqual({
      canUse: true,
      canSave: true,
      expiresAt: null,
      expiresSoon: false,
      license: { licenseId: license.licenseId },
      owner: { userId: owner.account.userId },
    });
  });

  it('with no license at all: canSave false (R2.9), not an error', async () => {
    const nobody = await newAccount(t);
    expect(await status(nobody.token)).toEqual({
      canUse: false,
      canSave: false,
      expiresAt: null,
      expiresSoon: false,
      license: null,
      owner: null,
    });
  });

  it('with only a license ending in 10 days: expiresSoon; once it has expired: canUse/canSave false, license null', async () => {
    const owner = await newAccount(t);
    const expiresAt = inDays(10);
    const { license } = await issueOk({ type: 'STUDENT', expiresAt, redeemForUserId: owner.account.userId });
    const soon = await status(owner.token);
    expect(soon).toMatchObject({
      canUse: true,
      canSave: true,
      expiresSoon: true,
      license: { licenseId: license.licenseId },
      owner: { userId: owner.account.userId },
    });
    expect(new Date(soon.expiresAt!).getTime()).toBe(new Date(expiresAt).getTime());

    await t.advance(10 * DAY + HOUR);
    expect(await status(owner.token)).toEqual({
      canUse: false,
      canSave: false,
      expiresAt: null,
      expiresSoon: false,
      license: null,
      owner: null,
    });
    // R2.9: it stays visible, with status EXPIRED.
    const mine = await t.gql(ME_LICENSES, {}, { token: owner.token });
    expect(mine.data!.me.licenses).toEqual([expect.objectContaining({ id: license.id, status: 'EXPIRED' })]);
  });

  it('a license ending in 20 days is not expiring soon yet', async () => {
    const owner = await newAccount(t);
    await issueOk({ expiresAt: inDays(20), redeemForUserId: owner.account.userId });
    expect(await status(owner.token)).toMatchObject({ canUse: true, canSave: true, expiresSoon: false });
  });
});

// ------------------------------------------------------------------------------------------ R2.10 reminders (moves the clock)

describe('R2.10 expiry reminders', () => {
  it('emails the owner 30, 7 and 1 days before the end, in their language, once each', async () => {
    const owner = await newAccount(t, { language: 'DE', name: 'Dora' });
    const purchaserEmail = uniqueEmail('reminder-buyer');
    const { license } = await issueOk({ expiresAt: inDays(40), purchaserEmail, language: 'EN' });
    const key = await keyFromMail(purchaserEmail, license.licenseId);
    const redeemed = await redeem(t, owner.token, key);
    expect(redeemed.errors).toEqual([]);
    const reminders = () => t.mail.for(owner.email).filter(isReminder(license.licenseId));

    // 40 days before: nothing is due.
    expect(await runReminders()).toBe(true);
    expect(reminders()).toHaveLength(0);

    // 29 days before: the 30-day reminder, in German.
    await t.advance(11 * DAY);
    await runReminders();
    const first = await t.mail.waitFor(owner.email, isReminder(license.licenseId));
    expect(first.subject).toBe(`Ihre Lizenz ${license.licenseId} endet in 30 Tagen`);
    expect(first.text).toContain('Hallo Dora,');
    expect(first.text).toContain(`Ihre Lizenz ${license.licenseId} endet am`);
    expect(reminders()).toHaveLength(1);
    expect(await reminderRows(license.id)).toEqual([30]);

    // Again: nothing more.
    await runReminders();
    expect(reminders()).toHaveLength(1);

    // 6 days before: the 7-day reminder.
    await t.advance(23 * DAY);
    await runReminders();
    await t.mail.waitFor(owner.email, (m) => isReminder(license.licenseId)(m) && m !== first);
    expect(reminders().map((m) => m.subject)).toEqual([
      `Ihre Lizenz ${license.licenseId} endet in 30 Tagen`,
      `Ihre Lizenz ${license.licenseId} endet in 7 Tagen`,
    ]);
    await runReminders();
    expect(reminders()).toHaveLength(2);

    // Half a day before: the 1-day reminder.
    await t.advance(5 * DAY + 12 * HOUR);
    await runReminders();
    await t.mail.waitFor(owner.email, (m) => isReminder(license.licenseId)(m) && m.subject.includes('morgen'));
    expect(reminders().map((m) => m.subject)).toEqual([
      `Ihre Lizenz ${license.licenseId} endet in 30 Tagen`,
      `Ihre Lizenz ${license.licenseId} endet in 7 Tagen`,
      `Ihre Lizenz ${license.licenseId} endet morgen`,
    ]);

    // Nothing more, neither now nor after the end.
    await runReminders();
    await t.advance(DAY);
    await runReminders();
    expect(reminders()).toHaveLength(3);
    expect(await reminderRows(license.id)).toEqual([30, 7, 1]);
    // The purchaser got the key and nothing else.
    expect(t.mail.for(purchaserEmail)).toHaveLength(1);
  });

  it('a license issued with 5 days left gets the 7-day reminder (no late 30-day one), then the 1-day one', async () => {
    const owner = await newAccount(t, { language: 'EN' });
    const { license } = await issueOk({ expiresAt: inDays(5), redeemForUserId: owner.account.userId });
    const reminders = () => t.mail.for(owner.email).filter(isReminder(license.licenseId));

    await runReminders();
    await t.mail.waitFor(owner.email, isReminder(license.licenseId));
    expect(reminders().map((m) => m.subject)).toEqual([`Your license ${license.licenseId} ends in 7 days`]);
    await runReminders();
    expect(reminders()).toHaveLength(1);

    await t.advance(4 * DAY + 12 * HOUR);
    await runReminders();
    await t.mail.waitFor(owner.email, (m) => isReminder(license.licenseId)(m) && m.subject.includes('tomorrow'));
    await runReminders();
    expect(reminders().map((m) => m.subject)).toEqual([`Your license ${license.licenseId} ends in 7 days`, `Your license ${license.licenseId} ends tomorrow`]);
  });

  it('sends nothing for unredeemed or expired licenses', async () => {
    // Unredeemed, 5 days left: nobody to remind (the purchaser only got the key).
    const { license: unredeemed, input } = await issueOk({ expiresAt: inDays(5) });
    await t.mail.waitFor(input.purchaserEmail, isIssuedMail(unredeemed.licenseId));

    // Redeemed, but expired before any round ran.
    const owner = await newAccount(t);
    const { license: expired } = await issueOk({
      expiresAt: new Date(t.server.clock.now().getTime() + HOUR * 1000).toISOString(),
      redeemForUserId: owner.account.userId,
    });
    await t.advance(2 * HOUR);

    await runReminders();
    await runReminders();
    expect(t.mail.for(input.purchaserEmail)).toHaveLength(1);
    expect(t.mail.messages.filter((m) => isReminder(unredeemed.licenseId)(m))).toHaveLength(0);
    expect(t.mail.messages.filter((m) => isReminder(expired.licenseId)(m))).toHaveLength(0);
    expect(await reminderRows(unredeemed.id)).toEqual([]);
    expect(await reminderRows(expired.id)).toEqual([]);
  });

  it('sends each reminder once even when two rounds run at the same time', async () => {
    const owner = await newAccount(t);
    const { license } = await issueOk({ expiresAt: inDays(20), redeemForUserId: owner.account.userId });
    const reminders = () => t.mail.for(owner.email).filter(isReminder(license.licenseId));

    const ran = await Promise.all([t.server.jobs.run('expiry-reminders'), t.server.jobs.run('expiry-reminders')]);
    expect(ran).toContain(true);
    await t.mail.waitFor(owner.email, isReminder(license.licenseId));
    await settleMail();
    expect(reminders().map((m) => m.subject)).toEqual([`Your license ${license.licenseId} ends in 30 days`]);

    // Even rounds that do not go through the jobs runner's lock (another instance, a retry) agree.
    await t.advance(14 * DAY);
    await Promise.all([
      t.server.services.licenses.sendExpiryReminders(),
      t.server.services.licenses.sendExpiryReminders(),
      t.server.jobs.run('expiry-reminders'),
    ]);
    await t.mail.waitFor(owner.email, (m) => isReminder(license.licenseId)(m) && m.subject.includes('7 days'));
    await settleMail();
    expect(reminders().map((m) => m.subject)).toEqual([
      `Your license ${license.licenseId} ends in 30 days`,
      `Your license ${license.licenseId} ends in 7 days`,
    ]);
    expect(await reminderRows(license.id)).toEqual([30, 7]);
  });
});
