import { login, newAccount, newOrganization, PASSWORD } from '../helpers/factories';
import { tokenFrom } from '../helpers/mail';
import { startTestServer, type TestServer } from '../helpers/server';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

function post(path: string, form: Record<string, string>, lang = 'en'): Promise<Response> {
  return fetch(`${t.base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': lang },
    body: new URLSearchParams(form).toString(),
  });
}

describe('pages behind emailed links', () => {
  it('R1.3 the verification link shows a confirm button; opening it changes nothing, confirming verifies once', async () => {
    const a = await newAccount(t, { verified: false, language: 'DE' });
    const mail = await t.mail.waitFor(a.email);
    const link = /(http:\S+\/verify-email\?token=\S+)/.exec(mail.text)![1];
    const token = tokenFrom(mail, '/verify-email');
    const shown = await fetch(link.replace(/^http:\/\/localhost:\d+/, t.base), { headers: { 'accept-language': 'de' } });
    expect(shown.status).toBe(200);
    expect(shown.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await shown.text()).toContain('E-Mail-Adresse bestätigen');
    const before = await t.server.ds.query('SELECT email_verified_at FROM accounts WHERE id = $1', [a.account.id]);
    expect(before[0].email_verified_at).toBeNull();

    const done = await post('/verify-email', { token }, 'de');
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Ihre E-Mail-Adresse ist bestätigt');
    const again = await post('/verify-email', { token }, 'de');
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('ungültig oder abgelaufen');
  });

  it('R1.7 the reset link shows a password form; a weak password is refused on the page, a good one resets', async () => {
    const a = await newAccount(t);
    await t.gql('mutation($e: String!) { requestPasswordReset(email: $e) { ok } }', { e: a.email });
    const mail = await t.mail.waitFor(a.email, (m) => m.text.includes('/reset-password?token='));
    const token = tokenFrom(mail, '/reset-password');
    const form = await fetch(`${t.base}/reset-password?token=${encodeURIComponent(token)}`);
    expect(await form.text()).toContain('name="newPassword"');
    const weak = await post('/reset-password', { token, newPassword: 'password' });
    expect(weak.status).toBe(400);
    expect(await weak.text()).toContain('most common passwords');
    const ok = await post('/reset-password', { token, newPassword: 'a new and long passphrase' });
    expect(ok.status).toBe(200);
    expect((await login(t, a.email, PASSWORD)).errors[0].code).toBe('INVALID_CREDENTIALS');
    expect((await login(t, a.email, 'a new and long passphrase')).token).toBeTruthy();
  });

  it('answers 400 with an explanation when the token is missing', async () => {
    const r = await fetch(`${t.base}/verify-email`);
    expect(r.status).toBe(400);
    expect(await r.text()).toContain('incomplete');
  });

  it('R3.3 the invite URL leads to a page where a logged-in user confirms joining; joining is idempotent', async () => {
    const { organization } = await newOrganization(t, { name: 'Page Org' });
    const member = await newAccount(t);
    const url = organization.inviteUrl.replace(/^http:\/\/[^/]+/, t.base);
    const shown = await fetch(url, { headers: { 'accept-language': 'es' } });
    expect(shown.status).toBe(200);
    expect(await shown.text()).toContain(organization.inviteCode);
    const postTo = (password: string) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ email: member.email, password }).toString(),
      });
    const wrong = await postTo('not the password');
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('password is wrong');
    const ok = await postTo(member.password);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('You have joined Page Org');
    expect((await postTo(member.password)).status).toBe(200);
    const rows = await t.server.ds.query('SELECT count(*)::int AS n FROM memberships WHERE organization_id = $1', [organization.id]);
    expect(rows[0].n).toBe(1);
    const tokens = await t.server.ds.query('SELECT count(*)::int AS n FROM auth_tokens WHERE account_id = $1 AND revoked_at IS NULL', [member.account.id]);
    expect(tokens[0].n).toBe(1); // the page's logins do not stay usable
    const bogus = await fetch(`${t.base}/join/I-000-000-000-000`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ email: member.email, password: member.password }).toString(),
    });
    expect(await bogus.text()).toContain('invitation code is not valid');
  });
});
