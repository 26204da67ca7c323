import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { ConfigError, loadConfig } from '../../src/config';
import { webhookOutboxFor } from '../../src/server';
import { WEBHOOK_QUEUE } from '../../src/platform/webhooks/outbox';
import { ORG_FIELDS, acquire, issueLicense, newAccount, redeem } from '../helpers/factories';
import { SHOP_TOKEN, startTestServer, type TestServer } from '../helpers/server';

/** R7.4: events POSTed as Standard Webhooks from the durable outbox, to a real receiver over HTTP. */

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const OTHER_SECRET = `whsec_${randomBytes(32).toString('base64')}`;

/** Retries after a second, and attempts that give up after one: the schedule's shape, not its minutes. */
const FAST_RETRY = { retryLimit: 60, retryDelay: 1, retryBackoff: false };
const REQUEST_TIMEOUT_MS = 1_000;

const CREATE_ORG = `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { ${ORG_FIELDS} } errors { code message } } }`;

/** How the receiver answers an attempt: a status, a connection cut without an answer, or no answer at all. */
type Answer = number | 'drop' | 'hang';

interface Received {
  seq: number;
  receivedAt: number;
  webhookId: string;
  headers: Record<string, string>;
  body: string;
  event: { type: string; timestamp: string; data: Record<string, any> };
  verified: boolean;
  answer: Answer;
}

/** A webhook receiver on 127.0.0.1 that verifies every signature and answers as `answer` says. */
class Receiver {
  readonly attempts: Received[] = [];
  /** `n` counts the attempts of this webhook-id, this one included. */
  answer: (event: Received['event'], n: number) => Answer = () => 200;
  url = '';
  private readonly server = http.createServer((req, res) => this.handle(req, res));

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/tessera?token=receiver-own-token`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** The attempts of events matching `match`, in arrival order. */
  of(match: (e: Received['event']) => boolean): Received[] {
    return this.attempts.filter((a) => match(a.event));
  }

  /** The first accepted attempt of each event (by webhook-id), in arrival order. */
  delivered(): Received[] {
    const seen = new Set<string>();
    return this.attempts.filter((a) => a.answer === 200 && !seen.has(a.webhookId) && seen.add(a.webhookId));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      let verified = true;
      try {
        new Webhook(SECRET).verify(body, headers);
      } catch {
        verified = false;
      }
      const webhookId = headers['webhook-id'];
      const event = JSON.parse(body) as Received['event'];
      const n = this.attempts.filter((a) => a.webhookId === webhookId).length + 1;
      const answer = verified ? this.answer(event, n) : 400;
      this.attempts.push({ seq: this.attempts.length, receivedAt: Date.now(), webhookId, headers, body, event, verified, answer });
      if (answer === 'drop') req.socket.destroy();
      else if (answer !== 'hang') res.writeHead(answer).end();
      // 'hang': no answer; the sender gives up after its request timeout and closes the connection.
    });
  }
}

/** Resolves once `condition` holds (checked every 50 ms), or fails naming what was awaited. */
async function until(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const isEvent = (type: string, id: string) => (e: Received['event']) => e.type === type && e.data.id === id;

describe('webhooks (R7.4)', () => {
  let receiver: Receiver;
  let t: TestServer;
  const logLines: string[] = [];

  beforeAll(async () => {
    receiver = await new Receiver().start();
    t = await startTestServer({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'warn' }, { logLines });
    t.server.webhooks!.retry = FAST_RETRY;
    t.server.webhooks!.requestTimeoutMs = REQUEST_TIMEOUT_MS;
  });

  afterAll(async () => {
    await t?.stop();
    await receiver?.stop();
  });

  it('delivers issued, redeemed and organization.created signed, retries a failing event under one ID, and holds back only its own key', async () => {
    // The body's timestamp is the server's clock (a day ahead here); the signed webhook-timestamp is real time.
    await t.advance(86_400);
    const owner = await newAccount(t);
    const gatedOrder = `order-gated-${randomBytes(4).toString('hex')}`;
    let gateOpen = false;
    // The license's first event: a 500, then no answer, then a cut connection, then 503 until the gate opens.
    receiver.answer = (event, n) => {
      if (event.type !== 'license.issued' || event.data.orderReference !== gatedOrder) return 200;
      if (n === 1) return 500;
      if (n === 2) return 'hang';
      if (n === 3) return 'drop';
      return gateOpen ? 200 : 503;
    };

    const before = t.server.clock.now();
    const license = await issueLicense(t, { type: 'COMMERCIAL', seats: 3, orderReference: gatedOrder });
    const after = t.server.clock.now();
    const redeemed = await redeem(t, owner.token, license.key);
    expect(redeemed.errors).toEqual([]);
    const org = await t.gql(CREATE_ORG, { input: { name: 'Webhook Works' } }, { token: owner.token });
    expect(org.data!.createOrganization.errors).toEqual([]);
    const orgId = org.data!.createOrganization.organization.id as string;

    // Another key goes on while the license's first event keeps failing, and its second waits.
    await until('organization.created delivered and three failed attempts of license.issued', () => {
      const issued = receiver.of(isEvent('license.issued', license.id));
      return receiver.delivered().some((a) => a.event.type === 'organization.created' && a.event.data.id === orgId) && issued.length >= 3;
    });
    expect(receiver.delivered().filter((a) => a.event.data.id === license.id)).toEqual([]);
    expect(receiver.of(isEvent('license.redeemed', license.id))).toEqual([]);
    gateOpen = true;
    await until('license.redeemed delivered', () => receiver.delivered().some((a) => a.event.type === 'license.redeemed' && a.event.data.id === license.id));

    // In order per key: redeemed was not even attempted before issued was accepted.
    const ofLicense = receiver.attempts.filter((a) => a.event.data.id === license.id);
    const issuedAccepted = ofLicense.findIndex((a) => a.event.type === 'license.issued' && a.answer === 200);
    expect(issuedAccepted).toBeGreaterThanOrEqual(3);
    expect(ofLicense.slice(0, issuedAccepted).every((a) => a.event.type === 'license.issued')).toBe(true);
    expect(
      receiver
        .delivered()
        .filter((a) => a.event.data.id === license.id)
        .map((a) => a.event.type),
    ).toEqual(['license.issued', 'license.redeemed']);

    // Every retry is the same message: one webhook-id, byte-identical body; its stamp is the attempt's time.
    const issuedAttempts = receiver.of(isEvent('license.issued', license.id));
    expect(issuedAttempts.map((a) => a.answer).slice(0, 3)).toEqual([500, 'hang', 'drop']);
    expect(new Set(issuedAttempts.map((a) => a.webhookId)).size).toBe(1);
    expect(new Set(issuedAttempts.map((a) => a.body)).size).toBe(1);
    const stamps = issuedAttempts.map((a) => Number(a.headers['webhook-timestamp']));
    expect(stamps[stamps.length - 1]).toBeGreaterThan(stamps[0]);
    for (const a of receiver.attempts) expect(Math.abs(Number(a.headers['webhook-timestamp']) * 1000 - a.receivedAt)).toBeLessThan(5_000);

    // Distinct events, distinct IDs.
    const events = [isEvent('license.issued', license.id), isEvent('license.redeemed', license.id), isEvent('organization.created', orgId)];
    const ids = events.map((match) => {
      const seen = new Set(receiver.of(match).map((a) => a.webhookId));
      expect(seen.size).toBe(1);
      return [...seen][0];
    });
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^msg_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    // Signed with WEBHOOK_SECRET (the receiver verified every attempt); another secret, or another body, does not verify.
    for (const a of receiver.attempts) {
      expect(a.verified).toBe(true);
      expect(a.headers['content-type']).toBe('application/json');
      expect(a.headers['user-agent']).toBe('Tessera-Webhooks/1');
      expect(a.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    }
    const sample = issuedAttempts[0];
    expect(() => new Webhook(OTHER_SECRET).verify(sample.body, sample.headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(SECRET).verify(sample.body.replace('"seats":3', '"seats":30'), sample.headers)).toThrow(WebhookVerificationError);

    // The bodies: Standard Webhooks' shape, IDs and licensing facts, no email address.
    const issuedEvent = sample.event;
    expect(Object.keys(issuedEvent)).toEqual(['type', 'timestamp', 'data']);
    expect(new Date(issuedEvent.timestamp).getTime()).toBeGreaterThanOrEqual(before.getTime());
    expect(new Date(issuedEvent.timestamp).getTime()).toBeLessThanOrEqual(after.getTime());
    expect(issuedEvent.data).toMatchObject({ id: license.id, licenseId: license.licenseId, orderReference: gatedOrder, seats: 3, ownerUserId: null });
    expect(receiver.of(isEvent('license.redeemed', license.id))[0].event.data).toMatchObject({
      licenseId: license.licenseId,
      ownerUserId: owner.account.userId,
    });
    expect(receiver.of(isEvent('organization.created', orgId))[0].event.data).toMatchObject({ id: orgId, ownerUserId: owner.account.userId });
    for (const a of receiver.attempts) {
      expect(a.body).not.toContain(owner.email);
      expect(a.body).not.toContain('@');
    }

    // Each failed attempt is a warning naming the event, never its body, the URL or the secret.
    const warnings = logLines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'webhook not delivered yet; it will be retried' && l.webhookId === ids[0]);
    expect(warnings.map((w) => w.attempt)).toEqual(issuedAttempts.slice(0, -1).map((_, i) => i + 1));
    expect(warnings.slice(0, 3).map((w) => [w.type, w.status ?? w.error.split(':')[0]])).toEqual([
      ['license.issued', 500],
      ['license.issued', `no answer within ${REQUEST_TIMEOUT_MS} ms`],
      ['license.issued', 'fetch failed'],
    ]);
    const secretPart = SECRET.slice('whsec_'.length);
    for (const line of logLines) {
      expect(line).not.toContain(secretPart);
      expect(line).not.toContain(gatedOrder);
      expect(line).not.toContain('receiver-own-token');
    }

    // Counted: the failed attempts by type, and the queue is empty once all is delivered.
    await t.server.webhooks!.drain();
    expect(await t.server.webhooks!.stats()).toMatchObject({ queued: 0, failed: 0 });
    const metrics = await (await fetch(`${t.base}/metrics`)).text();
    expect(Number(/tessera_webhooks_delivery_failures_total\{type="license.issued"\} (\d+)/.exec(metrics)?.[1])).toBe(issuedAttempts.length - 1);
    expect(metrics).toMatch(/tessera_webhooks_delivered_total\{type="organization.created"\} [1-9]/);
    expect(metrics).toMatch(/tessera_webhooks_events\{state="queued"\} 0/);
  });

  it('delivers two events of one transaction in the order emitted (issued with redeemForUserId: issued, then redeemed)', async () => {
    receiver.answer = () => 200;
    const owner = await newAccount(t);
    // With a random tie-break each license would be a coin toss; eight in a row are not luck.
    const licenses = await Promise.all(Array.from({ length: 8 }, () => issueLicense(t, { type: 'COMMERCIAL', redeemForUserId: owner.account.userId })));
    await until('both events of each license delivered', () =>
      licenses.every((l) => receiver.delivered().filter((a) => a.event.data.id === l.id).length === 2),
    );
    for (const l of licenses) {
      expect(receiver.attempts.filter((a) => a.event.data.id === l.id).map((a) => a.event.type)).toEqual(['license.issued', 'license.redeemed']);
    }
  });

  it('queues an event only when its transaction commits; a one-off command (work: false) queues and a server delivers', async () => {
    receiver.answer = () => 200;
    const { config, ds, clock, logger } = t.server;
    const command = webhookOutboxFor(config, ds, clock, logger, false)!;
    await command.start();
    try {
      const key = `account:${randomBytes(4).toString('hex')}`;
      await expect(
        ds.transaction(async (tx) => {
          await command.emit(tx, { type: 'account.deleted', key, data: { marker: 'rolled-back' } });
          throw new Error('the change fails');
        }),
      ).rejects.toThrow('the change fails');
      await ds.transaction((tx) => command.emit(tx, { type: 'account.deleted', key, data: { marker: 'committed' } }));
      // Same key, queued later: once the committed one is here, a rolled-back one would have come first.
      await until('the committed event delivered', () => receiver.delivered().some((a) => a.event.data.marker === 'committed'));
      expect(receiver.attempts.filter((a) => a.event.data.marker === 'rolled-back')).toEqual([]);
    } finally {
      await command.stop();
    }
  });

  it('tells of the lifecycle: renewed, expiring, revoked, seats.exhausted (once an hour per pool) and account.deleted, in order per license', async () => {
    receiver.answer = () => 200;
    const SHOP = { token: SHOP_TOKEN };
    const owner = await newAccount(t);
    const ref = `order-life-${randomBytes(4).toString('hex')}`;
    const license = await issueLicense(t, {
      seats: 1,
      orderReference: ref,
      expiresAt: new Date(t.server.clock.now().getTime() + 20 * 86_400_000).toISOString(),
    });
    expect((await redeem(t, owner.token, license.key)).errors).toEqual([]);
    // The pool is full: a second device of another platform pair is refused, twice; the webhook hears it once.
    expect((await acquire(t, owner.token, 'pc-1')).errors).toEqual([]);
    expect((await acquire(t, owner.token, 'pc-2')).errors).toEqual([]); // an owner's second device shares the seat
    for (const device of ['pc-3', 'pc-4']) expect((await acquire(t, owner.token, device)).errors[0].code).toBe('SEATS_EXHAUSTED');
    const renew = await t.gql(
      'mutation($i: RenewLicenseInput!) { renewLicense(input: $i) { errors { code } } }',
      { i: { orderReference: ref, seats: 2 } },
      SHOP,
    );
    expect(renew.data!.renewLicense.errors).toEqual([]);
    // 20 days before the end: the 30-day reminder is due, and with it license.expiring.
    await t.server.services.licenses.sendExpiryReminders();
    const revoke = await t.gql(
      'mutation($i: RevokeLicenseInput!) { revokeLicense(input: $i) { errors { code } } }',
      { i: { orderReference: ref, reason: 'REFUND' } },
      SHOP,
    );
    expect(revoke.data!.revokeLicense.errors).toEqual([]);
    const leaver = await newAccount(t);
    const support = await newAccount(t);
    await t.server.services.accounts.grantSupport(support.email);
    const del = await t.gql('mutation($a: ID!) { supportDeleteAccount(accountId: $a) { ok } }', { a: leaver.account.id }, { token: support.token });
    expect(del.data!.supportDeleteAccount.ok).toBe(true);

    const ofLicense = (e: Received['event']) => e.type.startsWith('license.') && e.data.id === license.id;
    await until('the license events', () => receiver.delivered().filter((a) => ofLicense(a.event)).length === 5);
    await until('account.deleted', () => receiver.delivered().some((a) => a.event.type === 'account.deleted' && a.event.data.userId === leaver.account.userId));
    const events = receiver.delivered().filter((a) => ofLicense(a.event));
    expect(events.map((a) => a.event.type)).toEqual(['license.issued', 'license.redeemed', 'license.renewed', 'license.expiring', 'license.revoked']);
    expect(events[2].event.data).toMatchObject({ seats: 2, ownerUserId: owner.account.userId });
    expect(events[3].event.data).toMatchObject({ daysBefore: 30 });
    expect(events[4].event.data).toMatchObject({ status: 'REVOKED', reason: 'REFUND' });
    const exhausted = receiver.delivered().filter((a) => a.event.type === 'seats.exhausted' && a.event.data.ownerUserId === owner.account.userId);
    expect(exhausted).toHaveLength(1);
    expect(exhausted[0].event.data).toMatchObject({ organizationId: null, refusedUserId: owner.account.userId, total: 1, inUse: 1 });
    expect(receiver.delivered().every((a) => !a.body.includes('@'))).toBe(true);
  });
});

describe('webhooks without WEBHOOK_URL', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer();
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('queues nothing: the mail of the same change is queued, no webhook job and no webhook queue', async () => {
    expect(t.server.webhooks).toBeUndefined();
    const owner = await newAccount(t);
    const purchaserEmail = `buyer-${randomBytes(4).toString('hex')}@example.com`;
    await issueLicense(t, { type: 'COMMERCIAL', purchaserEmail, redeemForUserId: owner.account.userId });
    await t.mail.waitFor(purchaserEmail);
    const [row] = await t.server.ds.query(
      `SELECT count(*) FILTER (WHERE name = 'mail')::int AS mail, count(*) FILTER (WHERE name = $1)::int AS webhooks FROM tessera_outbox.job`,
      [WEBHOOK_QUEUE],
    );
    expect(row.mail).toBeGreaterThan(0);
    expect(row.webhooks).toBe(0);
    const [queue] = await t.server.ds.query('SELECT count(*)::int AS n FROM tessera_outbox.queue WHERE name = $1', [WEBHOOK_QUEUE]);
    expect(queue.n).toBe(0);
  });
});

describe('webhook configuration', () => {
  const url = 'https://crm.example.com/hooks?token=their-own-token';

  it('takes an http(s) URL with a whsec_ secret of at least 24 bytes', () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    expect(loadConfig({ WEBHOOK_URL: url, WEBHOOK_SECRET: secret })).toMatchObject({ webhookUrl: url, webhookSecret: secret });
    expect(loadConfig({})).toMatchObject({ webhookUrl: undefined, webhookSecret: undefined });
  });

  it('names the setting at fault, and echoes neither the URL nor the secret', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ WEBHOOK_URL: 'crm.example.com/hooks?token=their-own-token', WEBHOOK_SECRET: SECRET }, /WEBHOOK_URL/],
      [{ WEBHOOK_URL: 'ftp://crm.example.com/hooks?token=their-own-token', WEBHOOK_SECRET: SECRET }, /WEBHOOK_URL/],
      [{ WEBHOOK_URL: 'https://user:their-own-token@crm.example.com/hooks', WEBHOOK_SECRET: SECRET }, /WEBHOOK_URL must not carry/],
      [{ WEBHOOK_URL: url }, /WEBHOOK_SECRET is required/],
      [{ WEBHOOK_URL: url, WEBHOOK_SECRET: `whsec_${randomBytes(16).toString('base64')}` }, /WEBHOOK_SECRET/],
      [{ WEBHOOK_URL: url, WEBHOOK_SECRET: randomBytes(32).toString('base64') }, /WEBHOOK_SECRET/],
      [{ WEBHOOK_URL: url, WEBHOOK_SECRET: 'whsec_not base64 at all, but long enough to pass a length check' }, /WEBHOOK_SECRET/],
      [{ WEBHOOK_SECRET: SECRET }, /WEBHOOK_SECRET is set but WEBHOOK_URL is not/],
    ];
    for (const [env, message] of cases) {
      let error: unknown;
      try {
        loadConfig(env);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('their-own-token');
      expect((error as Error).message).not.toContain(SECRET.slice('whsec_'.length));
    }
  });
});
