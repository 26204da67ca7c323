import { issueLicense, uniqueEmail } from '../helpers/factories';
import { metricValue } from '../helpers/lease-history';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * SMTP down (the real SMTP server the test server sends to is stopped, its port refusing): the
 * changes that cause mail still succeed, the mail waits in the outbox, and when SMTP is back every
 * message arrives once, with the Message-ID it was queued with.
 */
jest.setTimeout(120_000);

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('R1.3 R2.2 with SMTP down, registration and shop issuing succeed; when SMTP is back every mail arrives, none twice', async () => {
  const port = t.mail.port;
  await t.mail.stop();

  const emails = Array.from({ length: 3 }, () => uniqueEmail('offline'));
  for (const email of emails) {
    const r = await t.gql('mutation($input: RegisterInput!) { register(input: $input) { token errors { code } } }', {
      input: { email, password: 'correct horse battery staple', name: 'Mail Outage', language: 'DE' },
    });
    expect(r.data?.register.errors).toEqual([]);
    expect(r.data?.register.token).toEqual(expect.any(String));
  }
  const buyer = uniqueEmail('buyer');
  const license = await issueLicense(t, { purchaserEmail: buyer });
  expect(license.key).toEqual(expect.any(String));

  // A positive signal that delivery was tried and failed (not a sleep): the failure counter moves.
  await waitUntil('a failed delivery attempt', async () => (await metricValue(t, 'tessera_outbox_delivery_failures_total', { kind: 'license-issued' })) > 0);
  expect(await metricValue(t, 'tessera_outbox_messages', { state: 'queued' })).toBe(4);
  expect(t.mail.messages).toHaveLength(0);

  await t.mail.start(port);

  const verification = await Promise.all(emails.map((e) => t.mail.waitFor(e, (m) => m.text.includes('/verify-email?token='), 60_000)));
  const issued = await t.mail.waitFor(buyer, (m) => m.text.includes(license.key), 60_000);
  await t.server.mailer.drain();
  expect(await metricValue(t, 'tessera_outbox_messages', { state: 'queued' })).toBe(0);

  // Each arrived once, in the buyer's language, with a stable Message-ID of its own.
  for (const email of emails) expect(t.mail.for(email)).toHaveLength(1);
  expect(t.mail.for(buyer)).toHaveLength(1);
  expect(verification[0].subject).toMatch(/E-Mail/);
  const ids = [...verification, issued].map((m) => m.messageId);
  for (const id of ids) expect(id).toMatch(/^<[0-9a-f-]{36}@localhost>$/);
  expect(new Set(ids).size).toBe(4);
  expect(await metricValue(t, 'tessera_outbox_delivered_total', { kind: 'verify-email' })).toBe(3);
});

test('R2.10 an expiry reminder is recorded as delivered only once the SMTP server took it', async () => {
  const port = t.mail.port;
  const owner = uniqueEmail('owner');
  const reg = await t.gql('mutation($input: RegisterInput!) { register(input: $input) { account { userId } errors { code } } }', {
    input: { email: owner, password: 'correct horse battery staple', name: 'Owner', language: 'EN' },
  });
  const userId = reg.data!.register.account.userId as string;
  const now = t.server.clock.now();
  const license = await issueLicense(t, { redeemForUserId: userId, expiresAt: new Date(now.getTime() + 6 * 86400_000).toISOString() });
  await t.server.mailer.drain();

  await t.mail.stop();
  await t.server.jobs.run('expiry-reminders');
  const queued = await t.server.ds.query<Array<{ days_before: number; delivered_at: Date | null }>>(
    'SELECT days_before, delivered_at FROM license_reminders r JOIN licenses l ON l.id = r.license_id WHERE l.license_id = $1 ORDER BY days_before',
    [license.licenseId],
  );
  expect(queued.find((r) => r.days_before === 7)).toMatchObject({ delivered_at: null });
  await waitUntil('a failed reminder', async () => (await metricValue(t, 'tessera_outbox_delivery_failures_total', { kind: 'license-expiry-7d' })) > 0);

  await t.mail.start(port);
  await t.mail.waitFor(owner, (m) => m.text.includes(license.licenseId), 60_000);
  await waitUntil('the reminder recorded as delivered', async () => {
    const rows = await t.server.ds.query<Array<{ delivered_at: Date | null }>>(
      'SELECT delivered_at FROM license_reminders r JOIN licenses l ON l.id = r.license_id WHERE l.license_id = $1 AND days_before = 7',
      [license.licenseId],
    );
    return rows[0]?.delivered_at !== null;
  });
});
