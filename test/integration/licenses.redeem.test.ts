import { generateLicenseKey } from '../../src/modules/licenses/codes';
import { DAY } from '../../src/platform/clock';
import { issueLicense, LICENSE_FIELDS, login, newAccount, redeem } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

async function serverNow(): Promise<number> {
  return t.server.clock.nowMs();
}

describe('R2.3 redeeming typed and pasted keys', () => {
  const variants: Array<[string, (key: string) => string]> = [
    ['lower case', (k) => k.toLowerCase()],
    ['spaces', (k) => `  ${k.replace(/-/g, ' - ')} `],
    ['a zero-width space', (k) => `${k.slice(0, 6)}\u200B${k.slice(6)}`],
    ['an en dash and a minus sign', (k) => k.replace('-', '\u2013').replace('-', '\u2212')],
    ['full-width digits and letters', (k) => k.replace(/[0-9A-F]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0))],
    ['the letter O for the digit 0', (k) => k.slice(0, 2) + k.slice(2).replace(/0/g, 'O')],
  ];

  it.each(variants)('redeems a key typed with %s', async (_name, mangle) => {
    const owner = await newAccount(t);
    let license = await issueLicense(t);
    if (_name.includes('letter O')) {
      while (!license.key.slice(2).includes('0')) license = await issueLicense(t);
    }
    const r = await redeem(t, owner.token, mangle(license.key));
    expect(r.errors).toEqual([]);
    expect(r.alreadyRedeemedByYou).toBe(false);
    expect(r.license).toMatchObject({ id: license.id, key: license.key, owner: { userId: owner.account.userId } });
    const [row] = await t.server.ds.query('SELECT owner_account_id, redeemed_at FROM licenses WHERE id = $1', [license.id]);
    expect(row.owner_account_id).toBe(owner.account.id);
    expect(row.redeemed_at).not.toBeNull();
  });

  it('refuses a key of the older format with LEGACY_LICENSE_KEY, saying it belongs to an older program version', async () => {
    const a = await newAccount(t, { language: 'DE' });
    const r = await redeem(t, a.token, '12345-67890-ABCDE-FGHIJ-KLMNO');
    expect(r.errors).toEqual([expect.objectContaining({ code: 'LEGACY_LICENSE_KEY', field: ['code'] })]);
    expect(r.errors[0].message).toMatch(/älteren Programmversion/);
    const en = await redeem(t, a.token, '12345-67890-ABCDE-FGHIJ-KLMNO', { lang: 'en' });
    expect(en.errors[0].message).toMatch(/older version of the program/);
  });

  it('R2.2 tells a mistyped key (TYPO) from an unknown one (UNKNOWN)', async () => {
    const a = await newAccount(t);
    const license = await issueLicense(t);
    const digits = license.key.split('');
    const i = 4; // a hex digit of the second group
    digits[i] = digits[i] === 'A' ? 'B' : 'A';
    const typo = await redeem(t, a.token, digits.join(''));
    expect(typo.errors).toEqual([expect.objectContaining({ code: 'INVALID_LICENSE_KEY', reason: 'TYPO' })]);
    // A well-formed key with a valid checksum that was never issued.
    const unknown = await redeem(t, a.token, generateLicenseKey());
    expect(unknown.errors).toEqual([expect.objectContaining({ code: 'INVALID_LICENSE_KEY', reason: 'UNKNOWN' })]);
    const garbage = await redeem(t, a.token, 'hello');
    expect(garbage.errors[0]).toMatchObject({ code: 'INVALID_LICENSE_KEY', reason: 'UNKNOWN' });
    const [row] = await t.server.ds.query('SELECT owner_account_id FROM licenses WHERE id = $1', [license.id]);
    expect(row.owner_account_id).toBeNull();
  });

  it('answers an invite code with INVALID_INVITE_CODE while no organization has it', async () => {
    const a = await newAccount(t);
    const r = await redeem(t, a.token, 'I-123-456-789-ABC');
    expect(r.errors).toEqual([expect.objectContaining({ code: 'INVALID_INVITE_CODE' })]);
  });

  it('needs a verified account (R1.3) and a login', async () => {
    const license = await issueLicense(t);
    const unverified = await newAccount(t, { verified: false });
    const r = await redeem(t, unverified.token, license.key);
    expect(r.errors).toEqual([expect.objectContaining({ code: 'EMAIL_NOT_VERIFIED' })]);
    const anon = await t.gql('mutation($c: String!) { redeemCode(code: $c) { alreadyRedeemedByYou } }', { c: license.key });
    expect(anon.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('R2.5 redeeming binds for good', () => {
  it('redeeming a key the account already holds is not an error: alreadyRedeemedByYou', async () => {
    const a = await newAccount(t);
    const license = await issueLicense(t);
    expect((await redeem(t, a.token, license.key)).alreadyRedeemedByYou).toBe(false);
    const again = await redeem(t, a.token, license.key.toLowerCase());
    expect(again.errors).toEqual([]);
    expect(again.alreadyRedeemedByYou).toBe(true);
    expect(again.license!.id).toBe(license.id);
  });

  it('a key held by another account is refused with LICENSE_ALREADY_REDEEMED and stays where it is', async () => {
    const first = await newAccount(t);
    const second = await newAccount(t);
    const license = await issueLicense(t);
    await redeem(t, first.token, license.key);
    const r = await redeem(t, second.token, license.key);
    expect(r.errors).toEqual([expect.objectContaining({ code: 'LICENSE_ALREADY_REDEEMED' })]);
    expect(r.license).toBeNull();
    const [row] = await t.server.ds.query('SELECT owner_account_id FROM licenses WHERE id = $1', [license.id]);
    expect(row.owner_account_id).toBe(first.account.id);
  });

  it('of many accounts redeeming one key at once, exactly one gets it', async () => {
    const accounts = await Promise.all(Array.from({ length: 8 }, () => newAccount(t)));
    const license = await issueLicense(t);
    const results = await Promise.all(accounts.map((a) => redeem(t, a.token, license.key)));
    const winners = results.filter((r) => r.errors.length === 0);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => r.errors[0]?.code === 'LICENSE_ALREADY_REDEEMED')).toHaveLength(7);
    const [row] = await t.server.ds.query('SELECT owner_account_id FROM licenses WHERE id = $1', [license.id]);
    expect(row.owner_account_id).toBe(accounts[results.indexOf(winners[0])].account.id);
  });
});

describe('R2.8 one family of sharable license per pool', () => {
  it('refuses another sharable family while one is active, and allows it once that one has expired', async () => {
    const a = await newAccount(t);
    const now = await serverNow();
    const commercial = await issueLicense(t, { type: 'COMMERCIAL', expiresAt: new Date(now + 10 * DAY).toISOString() });
    expect((await redeem(t, a.token, commercial.key)).errors).toEqual([]);
    const educational = await issueLicense(t, { type: 'EDUCATIONAL' });
    const refused = await redeem(t, a.token, educational.key);
    expect(refused.errors).toEqual([expect.objectContaining({ code: 'LICENSE_TYPE_MISMATCH' })]);
    const [row] = await t.server.ds.query('SELECT owner_account_id FROM licenses WHERE id = $1', [educational.id]);
    expect(row.owner_account_id).toBeNull();
    // Same family and personal licenses are fine.
    expect((await redeem(t, a.token, (await issueLicense(t, { type: 'COMMERCIAL' })).key)).errors).toEqual([]);
    expect((await redeem(t, a.token, (await issueLicense(t, { type: 'STUDENT' })).key)).errors).toEqual([]);
    // Once every commercial license has expired, the pool may change family... but one is permanent here:
    const b = await newAccount(t);
    const short = await issueLicense(t, { type: 'GOVERNMENT', expiresAt: new Date(now + 5 * DAY).toISOString() });
    expect((await redeem(t, b.token, short.key)).errors).toEqual([]);
    const edu2 = await issueLicense(t, { type: 'EDUCATIONAL' });
    expect((await redeem(t, b.token, edu2.key)).errors[0]?.code).toBe('LICENSE_TYPE_MISMATCH');
    await t.advance(5 * 86400 + 1);
    expect((await redeem(t, b.token, edu2.key)).errors).toEqual([]);
  });

  it('holds under concurrent redemptions of two families into one pool', async () => {
    const a = await newAccount(t);
    const keys = await Promise.all(
      ['COMMERCIAL', 'EDUCATIONAL', 'GOVERNMENT', 'COMMERCIAL', 'EDUCATIONAL', 'GOVERNMENT'].map((type) => issueLicense(t, { type })),
    );
    await Promise.all(keys.map((k) => redeem(t, a.token, k.key)));
    const families = await t.server.ds.query('SELECT DISTINCT type FROM licenses WHERE owner_account_id = $1', [a.account.id]);
    expect(families).toHaveLength(1);
  });
});

describe('R2.7 pooling and R2.9 expired licenses', () => {
  it('pools 20 + 10 seats with their own expiries: 30, then 10 after the first expiry, then 0', async () => {
    const owner = await newAccount(t);
    const now = await serverNow();
    const firstEnd = new Date(now + 100 * DAY);
    const secondEnd = new Date(now + 300 * DAY);
    const twenty = await issueLicense(t, { type: 'EDUCATIONAL', seats: 20, expiresAt: firstEnd.toISOString() });
    const ten = await issueLicense(t, { type: 'EDUCATIONAL', seats: 10, expiresAt: secondEnd.toISOString() });
    await redeem(t, owner.token, twenty.key);
    await redeem(t, owner.token, ten.key);

    // Months pass between the looks, longer than a token lives unused (R1.5): log in each time.
    const pool = async () => {
      const { token } = await login(t, owner.email, owner.password);
      return (await t.gql(`{ me { seatPool { total schedule { from until seats } } licenses { licenseId status } } }`, {}, { token: token! })).data!.me;
    };

    const before = await pool();
    expect(before.seatPool.total).toBe(30);
    expect(before.seatPool.schedule.map((p: { seats: number; until: string | null }) => [p.seats, p.until])).toEqual([
      [30, firstEnd.toISOString()],
      [10, secondEnd.toISOString()],
      [0, null],
    ]);

    await t.advance(100 * 86400 + 1);
    const middle = await pool();
    expect(middle.seatPool.total).toBe(10);
    expect(middle.licenses.find((l: { licenseId: string }) => l.licenseId === twenty.licenseId).status).toBe('EXPIRED');

    await t.advance(200 * 86400);
    const after = await pool();
    expect(after.seatPool.total).toBe(0);
    expect(after.seatPool.schedule).toEqual([expect.objectContaining({ seats: 0, until: null })]);
    // R2.9: expired licenses stay visible.
    expect(after.licenses.map((l: { status: string }) => l.status)).toEqual(['EXPIRED', 'EXPIRED']);
    const { token } = await login(t, owner.email, owner.password);
    const status = await t.gql('{ licenseStatus(deviceId: "pc-1") { canUse canSave license { id } } }', {}, { token: token! });
    expect(status.data!.licenseStatus).toEqual({ canUse: false, canSave: false, license: null });
  });

  it('license(id) shows the license with its key to its owner, and to nobody else', async () => {
    const owner = await newAccount(t);
    const other = await newAccount(t);
    const license = await issueLicense(t);
    await redeem(t, owner.token, license.key);
    const q = `query($id: ID!) { license(id: $id) { ${LICENSE_FIELDS} } }`;
    const mine = await t.gql(q, { id: license.id }, { token: owner.token });
    expect(mine.data!.license).toMatchObject({ key: license.key, owner: { userId: owner.account.userId, email: owner.email } });
    const theirs = await t.gql(q, { id: license.id }, { token: other.token });
    expect(theirs.data!.license).toBeNull();
    expect(theirs.errors).toBeUndefined();
    const bogus = await t.gql(q, { id: 'not-a-uuid' }, { token: owner.token });
    expect(bogus.data!.license).toBeNull();
  });
});
