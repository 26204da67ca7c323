import fs from 'node:fs';
import path from 'node:path';
import { simpleParser, type AddressObject } from 'mailparser';
import { PASSWORD, uniqueEmail, login } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

describe('mail without SMTP_URL and what the logs hold', () => {
  const logLines: string[] = [];
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ SMTP_URL: '', LOG_LEVEL: 'info' }, { logLines });
  });
  afterAll(async () => {
    await t.stop();
  });

  it('writes each message as an .eml file under DATA_DIR/mail with a plain-text and an HTML part, and logs its link', async () => {
    const email = uniqueEmail('eml');
    const r = await t.gql('mutation($i: RegisterInput!) { register(input: $i) { token errors { code } } }', {
      i: { email, password: PASSWORD, name: 'Eml', language: 'ES' },
    });
    expect(r.data!.register.errors).toEqual([]);
    await t.server.mailer.drain();
    const dir = path.join(t.server.config.dataDir, 'mail');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.eml'));
    expect(files).toHaveLength(1);
    const raw = fs.readFileSync(path.join(dir, files[0]), 'utf8');
    const parsed = await simpleParser(raw);
    expect((parsed.to as AddressObject).value[0].address).toBe(email);
    expect(parsed.subject).toBe('Confirme su dirección de correo');
    expect(parsed.text).toMatch(/\/verify-email\?token=/);
    expect(parsed.html).toMatch(/\/verify-email\?token=/);
    const logged = logLines.map((l) => JSON.parse(l)).find((l) => l.msg === 'mail written to file (no SMTP_URL set)');
    expect(logged.link).toMatch(/\/verify-email\?token=[A-Za-z0-9_-]{43}$/);
  });

  it('never logs passwords, bearer tokens or raw client addresses', async () => {
    const email = uniqueEmail('logs');
    const secretPassword = 'a very secret passphrase 42';
    const reg = await t.gql(
      'mutation($i: RegisterInput!) { register(input: $i) { token errors { code } } }',
      { i: { email, password: secretPassword, name: 'Logs', language: 'EN' } },
      { ip: '192.0.2.77' },
    );
    const token: string = reg.data!.register.token;
    await login(t, email, 'wrong password here', { ip: '192.0.2.77' });
    await t.gql('{ me { id } }', {}, { token, ip: '192.0.2.77' });
    await t.server.mailer.drain();
    const all = logLines.join('\n');
    expect(all).toContain('"msg":"graphql"'); // the request log is there
    expect(all).not.toContain(secretPassword);
    expect(all).not.toContain(token);
    expect(all).not.toContain('192.0.2.77');
    expect(all).not.toContain(PASSWORD);
  });
});
