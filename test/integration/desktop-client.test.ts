import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { DesktopClient, EntitlementRejected, MemoryEntitlementStore, verifyEntitlement, type ClientEvent } from '../../clients/desktop/src';
import { issueLicense, newAccount, newOrganization, join, type NewAccount } from '../helpers/factories';
import { NetworkProxy } from '../helpers/proxy';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * The reference desktop client (R9.4) against a real server, through a proxy that stands for the
 * network: it loses answers and is cut and restored. The client must never hold two seats for one
 * device, must keep its lease through a cut shorter than the lease, must verify what it is told and
 * work offline on its cached entitlement, and must hear at once when its lease is ended.
 */

let t: TestServer;
let proxy: NetworkProxy;
const clients: DesktopClient[] = [];

beforeAll(async () => {
  // Heartbeats every second, so that a cut and a recovery take seconds; leases last ten minutes.
  t = await startTestServer({ HEARTBEAT_INTERVAL_SECONDS: '1', SEAT_TIMEOUT_SECONDS: '600' });
  proxy = await new NetworkProxy(t.base).start();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.stop().catch(() => undefined);
});
afterAll(async () => {
  await proxy?.stop();
  await t?.stop();
});

/** Waits for an event matching `match` (each client's events are recorded), 20 s at most. */
function recorder() {
  const events: ClientEvent[] = [];
  return {
    events,
    onEvent: (e: ClientEvent) => events.push(e),
    async waitFor(match: (e: ClientEvent) => boolean, after = 0, timeoutMs = 20_000): Promise<ClientEvent> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.slice(after).find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no such event; saw ${JSON.stringify(events.map((e) => e.type))}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

function client(account: NewAccount | undefined, deviceId: string, rec = recorder(), extra: Partial<ConstructorParameters<typeof DesktopClient>[0]> = {}) {
  const c = new DesktopClient({
    serverUrl: proxy.url,
    issuer: new URL(t.base).origin.replace('127.0.0.1', 'localhost'),
    deviceId,
    platform: 'WINDOWS',
    webSocketImpl: WebSocket,
    backoff: { initialMs: 50, maxMs: 400 },
    requestTimeoutMs: 3_000,
    store: new MemoryEntitlementStore(),
    onEvent: rec.onEvent,
    ...extra,
  });
  clients.push(c);
  void account;
  return { c, rec };
}

async function liveLeases(accountId: string, deviceId?: string): Promise<Array<{ id: string }>> {
  const rows = await t.server.ds.query<Array<{ id: string; device_hash: string }>>(
    'SELECT id, device_hash FROM seat_leases WHERE account_id = $1 AND ended_at IS NULL',
    [accountId],
  );
  return deviceId ? rows.filter((r) => r.device_hash === t.server.services.seats.deviceHash(deviceId)) : rows;
}

async function owner(): Promise<NewAccount> {
  const a = await newAccount(t);
  await issueLicense(t, { seats: 2, platforms: ['WINDOWS', 'MAC'], redeemForUserId: a.account.userId });
  return a;
}

test('logs in with a DESKTOP token, takes a seat, verifies its signed entitlement, answers the status; an owner seat is kept on close and ends on logout', async () => {
  const a = await owner();
  const { c, rec } = client(a, 'laptop-1');
  expect(await c.login(a.email, a.password)).toEqual({ userId: a.account.userId });
  const lease = await c.start();
  expect(lease).toMatchObject({ kind: 'OWNER', platform: 'WINDOWS', endedAt: null });
  const verified = await rec.waitFor((e) => e.type === 'entitlement');
  expect(verified).toMatchObject({ claims: { userId: a.account.userId, canUse: true, canSave: true, leaseId: lease.id } });
  await rec.waitFor((e) => e.type === 'heartbeat');
  expect(await c.account()).toMatchObject({ userId: a.account.userId, email: a.email });
  const status = await c.status();
  expect(status).toMatchObject({ offline: false, claims: { canUse: true, userId: a.account.userId } });
  // Every request went by hash: no document text crossed the network.
  expect(proxy.requests.filter((r) => r.includes('"query"')).length).toBe(0);
  // An owner's seat is kept when the app closes (R4.4: it may work offline) ...
  await c.stop();
  expect(await liveLeases(a.account.id, 'laptop-1')).toHaveLength(1);
  // ... and the next start on that computer gets it back; logging out on it ends it.
  const { c: again } = client(a, 'laptop-1', recorder(), { token: c.desktopToken });
  expect((await again.start()).id).toBe(lease.id);
  await again.stop({ logout: true });
  const [row] = await t.server.ds.query('SELECT end_reason FROM seat_leases WHERE id = $1', [lease.id]);
  expect(row.end_reason).toBe('LOGGED_OUT');
});

test('R4.2: an acquire whose answer is lost is asked again and gets the same seat, never a second one', async () => {
  const a = await owner();
  const { c, rec } = client(a, 'lossy-pc');
  await c.login(a.email, a.password);
  let lost = 0;
  proxy.loseAnswerWhen = (body) => body.includes('"AcquireSeat"') && lost++ < 2;
  try {
    const lease = await c.start();
    expect(lost).toBe(3); // two answers lost, the third arrived
    expect(rec.events.filter((e) => e.type === 'unreachable')).toHaveLength(2);
    expect(await liveLeases(a.account.id, 'lossy-pc')).toEqual([{ id: lease.id, device_hash: expect.any(String) }]);
  } finally {
    proxy.loseAnswerWhen = () => false;
  }
});

test('a network cut shorter than the lease: heartbeats fail, the lease is kept, and the same lease carries on when the network is back', async () => {
  const a = await owner();
  const { c, rec } = client(a, 'travelling-pc');
  await c.login(a.email, a.password);
  const lease = await c.start();
  await rec.waitFor((e) => e.type === 'heartbeat');
  await proxy.stop();
  const mark = rec.events.length;
  await rec.waitFor((e) => e.type === 'unreachable', mark);
  await rec.waitFor((e) => e.type === 'unreachable', rec.events.findIndex((e, i) => i >= mark && e.type === 'unreachable') + 1);
  // Offline, the app still knows what it may do: the cached, signed entitlement.
  const offline = await c.status();
  expect(offline).toMatchObject({ offline: true, claims: { canUse: true, userId: a.account.userId } });
  await proxy.start();
  const back = rec.events.length;
  await rec.waitFor((e) => e.type === 'recovered', back);
  const beat = (await rec.waitFor((e) => e.type === 'heartbeat', back)) as Extract<ClientEvent, { type: 'heartbeat' }>;
  expect(beat.lease.id).toBe(lease.id);
  expect(await liveLeases(a.account.id)).toHaveLength(1);
});

test('leaseChanged over the WebSocket, by hash: an administrator ends the seat and the app hears it at once, long before a heartbeat', async () => {
  // A server of its own whose apps beat once an hour: the ending can only arrive over the subscription.
  const hourly = await startTestServer({ HEARTBEAT_INTERVAL_SECONDS: '3600' });
  try {
    const { owner: admin, organization } = await newOrganization(hourly, { seats: 2, name: 'Client Test College' });
    const member = await newAccount(hourly);
    await join(hourly, member.token, organization.inviteCode);
    const rec = recorder();
    const c = new DesktopClient({
      serverUrl: hourly.base,
      issuer: new URL(hourly.base).origin.replace('127.0.0.1', 'localhost'),
      deviceId: 'member-pc',
      platform: 'WINDOWS',
      organizationId: organization.id,
      webSocketImpl: WebSocket,
      onEvent: rec.onEvent,
    });
    clients.push(c);
    await c.login(member.email, member.password);
    const lease = await c.start();
    expect(lease).toMatchObject({ kind: 'MEMBER', heartbeatIntervalSeconds: 3600 });
    // The subscription is in place once the server counts it.
    const subscriptions = async () => Number((await (await fetch(`${hourly.base}/metrics`)).text()).match(/^tessera_subscriptions (\d+)/m)?.[1] ?? 0);
    for (let i = 0; i < 200 && (await subscriptions()) < 1; i++) await new Promise((r) => setTimeout(r, 25));
    const r = await hourly.gql(
      'mutation($id: ID!) { endSeat(leaseId: $id) { lease { endReason } errors { code } } }',
      { id: lease.id },
      { token: admin.token },
    );
    expect(r.data!.endSeat.errors).toEqual([]);
    const ended = (await rec.waitFor((e) => e.type === 'ended', 0, 5_000)) as Extract<ClientEvent, { type: 'ended' }>;
    expect(ended.reason).toBe('ENDED_BY_ADMIN');
    expect(rec.events.some((e) => e.type === 'heartbeat')).toBe(false);
    expect(c.lease).toBeUndefined();
  } finally {
    for (const c of clients.splice(0)) await c.stop().catch(() => undefined);
    await hourly.stop();
  }
});

test('R7.5 on the client: a rewritten, expired, foreign-device or unsigned entitlement is refused', async () => {
  const a = await owner();
  const { c } = client(a, 'checking-pc');
  await c.login(a.email, a.password);
  const lease = await c.start();
  const token = lease.entitlement.token!;
  const jwks = (await (await fetch(`${t.base}/.well-known/jwks.json`)).json()) as { keys: [] };
  const issuer = new URL(t.base).origin.replace('127.0.0.1', 'localhost');
  const ok = await verifyEntitlement(token, jwks, { issuer, deviceId: 'checking-pc' });
  expect(ok.canUse).toBe(true);

  // A proxy on the user's machine rewrites canUse/exp: the signature no longer matches.
  const [h, p, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, canSave: false, exp: (claims.exp as number) + 86_400 * 365 })).toString('base64url')}.${s}`;
  const problem = (promise: Promise<unknown>) =>
    promise.then(
      () => 'accepted',
      (e: unknown) => (e instanceof EntitlementRejected ? e.problem : String(e)),
    );
  expect(await problem(verifyEntitlement(forged, jwks, { issuer, deviceId: 'checking-pc' }))).toBe('BAD_SIGNATURE');
  expect(await problem(verifyEntitlement(token, jwks, { issuer, deviceId: 'checking-pc', now: new Date(((claims.exp as number) + 1) * 1000) }))).toBe(
    'EXPIRED',
  );
  expect(await problem(verifyEntitlement(token, jwks, { issuer, deviceId: 'someone-elses-pc' }))).toBe('WRONG_DEVICE');
  expect(await problem(verifyEntitlement(token, jwks, { issuer: 'https://evil.example', deviceId: 'checking-pc' }))).toBe('WRONG_ISSUER');
  expect(await problem(verifyEntitlement(`${h}.${p}.`, jwks, { issuer, deviceId: 'checking-pc' }))).not.toBe('accepted');
  expect(await problem(verifyEntitlement(token, { keys: [] }, { issuer, deviceId: 'checking-pc' }))).toBe('UNKNOWN_KEY');
});

test('tessera desktop start | status | stop plays the app: a member seat taken, shown, and freed', async () => {
  const cli = path.resolve(__dirname, '../../dist/src/cli.js');
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const { organization } = await newOrganization(t, { seats: 1, name: 'Command Line College' });
  const member = await newAccount(t);
  await join(t, member.token, organization.inviteCode);
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-desktop-state-'));
  const env = { PATH: process.env.PATH, TESSERA_PASSWORD: member.password, LOG_LEVEL: 'warn' };
  const issuer = new URL(t.base).origin.replace('127.0.0.1', 'localhost');
  const common = ['--server', t.base, '--issuer', issuer, '--state', state];
  const start = spawn(process.execPath, [cli, 'desktop', 'start', ...common, '--email', member.email, '--organization', organization.id], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  start.stdout.on('data', (d: Buffer) => (out += d.toString()));
  start.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => start.once('exit', resolve));
  const deadline = Date.now() + 30_000;
  while (!/heartbeat: lease/.test(out)) {
    if (Date.now() > deadline || start.exitCode !== null) throw new Error(`desktop start did not keep a seat:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(out).toContain(`logged in as ${member.account.userId}`);
  expect(out).toContain('entitlement verified: use, save');
  expect(await liveLeases(member.account.id)).toHaveLength(1);

  const run = promisify(execFile);
  const status = await run(process.execPath, [cli, 'desktop', 'status', ...common], { env });
  expect(status.stdout).toContain('may use the app, may save');
  expect(status.stdout).toMatch(/desktop start: running \(pid \d+/);
  const stop = await run(process.execPath, [cli, 'desktop', 'stop', ...common], { env });
  expect(stop.stdout).toContain('stopped');
  expect(await exited).toBe(0);
  expect(out).toContain('seat released');
  expect(await liveLeases(member.account.id)).toEqual([]);
});
