import { issueLicense, newAccount, newOrganization, PASSWORD, redeem, uniqueEmail } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * R1.11 names and R2.3's look-alike keys through the API: a spoofing name is refused with a clear,
 * localized error and changes nothing; a key pasted with look-alikes, quotes or brackets is read.
 */

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

const REGISTER = 'mutation($i: RegisterInput!) { register(input: $i) { token errors { code reason field message } } }';
const UPDATE = 'mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { account { name } errors { code reason field message } } }';

test('R1.11 a name with a right-to-left override, a zero-width character or 200 combining marks is refused, in the caller’s language, and no account is made', async () => {
  for (const name of ['Ada\u202Enimda', 'Ad\u200Ba', `A${'\u0301'.repeat(200)}`]) {
    const email = uniqueEmail('spoof');
    const r = await t.gql(REGISTER, { i: { email, password: PASSWORD, name, language: 'EN' } }, { lang: 'de' });
    expect(r.data!.register.token).toBeNull();
    expect(r.data!.register.errors).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', reason: 'NAME_CHARACTERS', field: ['input', 'name'] })]);
    // In German, as asked: not the English text.
    const en = await t.gql(REGISTER, { i: { email, password: PASSWORD, name, language: 'EN' } }, { lang: 'en' });
    expect(r.data!.register.errors[0].message).not.toBe(en.data!.register.errors[0].message);
    expect(r.data!.register.errors[0].message.length).toBeGreaterThan(10);
    expect(await t.server.ds.query('SELECT 1 FROM accounts WHERE email_normalized = $1', [email])).toHaveLength(0);
  }
});

test('R1.11 names are trimmed and NFC-normalized; a bad new name leaves the old one', async () => {
  const a = await newAccount(t, { name: '  Zoe\u0308  ' });
  const ok = await t.gql(UPDATE, { i: { name: ' Ame\u0301lie ' } }, { token: a.token });
  expect(ok.data!.updateProfile).toEqual({ account: { name: 'Am\u00e9lie' }, errors: [] });
  const bad = await t.gql(UPDATE, { i: { name: 'Am\u00e9lie\u2066admin' } }, { token: a.token });
  expect(bad.data!.updateProfile.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'NAME_CHARACTERS' });
  expect((await t.gql('{ me { name } }', {}, { token: a.token })).data!.me.name).toBe('Am\u00e9lie');
});

test('R1.11 organization names follow the same rule', async () => {
  const { owner } = await newOrganization(t, { name: 'Real University' });
  const r = await t.gql(
    'mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { organization { name } errors { code reason } } }',
    {
      i: {
        organizationId: (await t.gql('{ me { organization { id } } }', {}, { token: owner.token })).data!.me.organization.id,
        name: 'Real\u202E University',
      },
    },
    { token: owner.token },
  );
  expect(r.data!.updateOrganization.errors).toEqual([{ code: 'BAD_USER_INPUT', reason: 'NAME_CHARACTERS' }]);
});

test('R2.3 a key pasted in angle brackets, with l for 1 and Cyrillic look-alikes, is redeemed', async () => {
  const a = await newAccount(t);
  const license = await issueLicense(t, { type: 'STUDENT' });
  // Every 1 typed as a lower-case l, every A, B, C and E as their Cyrillic twins, the whole in <…>.
  const pasted = `<${license.key.toLowerCase().replace(/1/g, 'l').replace(/a/g, '\u0430').replace(/b/g, '\u0432').replace(/c/g, '\u0441').replace(/e/g, '\u0435')}>`;
  const r = await redeem(t, a.token, pasted);
  expect(r.errors).toEqual([]);
  expect(r.license?.licenseId).toBe(license.licenseId);
});
