import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/platform/db/embedded';
import { acquire, issueLicense, join, newAccount, newOrganization, release, type NewAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import { subscribe, wsClient } from '../helpers/ws';
import { channels } from '../../src/platform/events';

const USAGE = 'subscription($id: ID!) { seatUsageChanged(organizationId: $id) { organizationId total inUse free updatedAt } }';
const LEASE = 'subscription($id: ID!) { leaseChanged(leaseId: $id) { id endedAt endReason } }';
type Usage = { organizationId: string; total: number; inUse: number; free: number };
type Lease = { id: string; endedAt: string | null; endReason: string | null };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('R7.2 and R7.3 on one instance', () => {
  let t: TestServer;
  const clients: Array<ReturnType<typeof wsClient>> = [];
  const client = (token?: string) => {
    const c = wsClient(t.url, token);
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    for (const c of clients) await c.dispose();
    await t.stop();
  });

  async function setup(seats = 3): Promise<{ owner: NewAccount; orgId: string; members: NewAccount[] }> {
    const { owner, organization } = await newOrganization(t, { seats });
    const members = await Promise.all([newAccount(t), newAccount(t), newAccount(t)]);
    for (const m of members) await join(t, m.token, organization.inviteCode);
    return { owner, orgId: organization.id, members };
  }

  it('seatUsageChanged: the current state first, then acquire, release, reservation, block, removal, lapse and license changes', async () => {
    const { owner, orgId, members } = await setup();
    const sub = subscribe<Usage>(client(owner.token), USAGE, { id: orgId }, 'seatUsageChanged');
    expect((await sub.waitForCount(1))[0]).toMatchObject({ organizationId: orgId, total: 3, inUse: 0, free: 3 });
    // Each change must be followed by a push showing it (a change may bring more than one push
    // with the same figures: messages are coalesced, never lost).
    let seen = sub.events.length;
    const after = async (change: () => Promise<unknown>, expected: Partial<Usage>) => {
      // Let the pushes of the previous change settle (a trailing coalesced push may follow), so
      // that only pushes caused by this change count.
      for (let last = -1; last !== sub.events.length;) {
        last = sub.events.length;
        await sleep(250);
      }
      seen = sub.events.length;
      await change();
      const deadline = Date.now() + 3000;
      for (;;) {
        const fresh = sub.events.slice(seen);
        if (fresh.some((e) => Object.entries(expected).every(([k, v]) => (e as Record<string, unknown>)[k] === v))) return;
        if (Date.now() > deadline) throw new Error(`no push with ${JSON.stringify(expected)} after the change; got ${JSON.stringify(fresh)}`);
        await sleep(20);
      }
    };

    let a: { id: string } | undefined;
    await after(async () => (a = (await acquire(t, members[0].token, 'a')).lease!), { inUse: 1 });
    await after(() => release(t, members[0].token, a!.id), { inUse: 0 });
    let b: { id: string } | undefined;
    await after(async () => (b = (await acquire(t, members[1].token, 'b')).lease!), { inUse: 1 });
    await after(
      () =>
        t.gql(
          'mutation($i: ReserveOfflineInput!) { reserveOffline(input: $i) { errors { code } } }',
          { i: { leaseId: b!.id, days: 1 } },
          { token: members[1].token },
        ),
      { inUse: 1 }, // a reservation is pushed too
    );
    const list = await t.gql(
      'query($id: ID!) { organization(id: $id) { members { edges { node { id account { userId } } } } } }',
      { id: orgId },
      { token: owner.token },
    );
    const idOf = (m: NewAccount) =>
      list.data!.organization.members.edges.find((e: { node: { account: { userId: string } } }) => e.node.account.userId === m.account.userId).node.id;
    await after(
      () =>
        t.gql(
          'mutation($i: SetMemberStatusInput!) { setMemberStatus(input: $i) { errors { code } } }',
          { i: { membershipId: idOf(members[1]), status: 'BLOCKED' } },
          { token: owner.token },
        ),
      { inUse: 0 },
    );
    await after(() => acquire(t, members[2].token, 'c'), { inUse: 1 });
    await after(() => t.gql('mutation($id: ID!) { removeMember(membershipId: $id) { ok } }', { id: idOf(members[2]) }, { token: owner.token }), { inUse: 0 });
    // A lapse: 8 hours without heartbeat, recorded by the sweeper.
    await after(() => acquire(t, members[0].token, 'a2'), { inUse: 1 });
    await after(
      async () => {
        await t.advance(8 * 3600 + 1);
        await t.server.jobs.run('sweep-lapsed-seats');
      },
      { inUse: 0 },
    );
    // A license joins the pool.
    await after(() => issueLicense(t, { type: 'EDUCATIONAL', seats: 2, redeemForUserId: owner.account.userId }), { total: 5 });
    sub.close();
  });

  it('coalesces a burst of acquires into few messages, the last one with the final figures', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 30 });
    const people = await Promise.all(Array.from({ length: 20 }, () => newAccount(t)));
    for (const p of people) await join(t, p.token, organization.inviteCode);
    const sub = subscribe<Usage>(client(owner.token), USAGE, { id: organization.id }, 'seatUsageChanged');
    await sub.waitForCount(1);
    await Promise.all(people.map((p, i) => acquire(t, p.token, `burst-${i}`)));
    const deadline = Date.now() + 3000;
    while (sub.events[sub.events.length - 1].inUse !== 20 && Date.now() < deadline) await sleep(20);
    expect(sub.events[sub.events.length - 1]).toMatchObject({ inUse: 20, free: 10 });
    // Never more than the first state plus one per acquire; the coalescing itself is unit-tested
    // (test/unit/events.test.ts), since how many acquires share a window depends on the machine.
    expect(sub.events.length).toBeLessThanOrEqual(people.length + 1);
    sub.close();
  });

  it('refuses members, strangers and anonymous callers, and ends when the token is revoked or the admin right is lost', async () => {
    const { owner, orgId, members } = await setup();
    const member = subscribe<Usage>(client(members[0].token), USAGE, { id: orgId }, 'seatUsageChanged');
    await member.waitForEnd();
    expect(JSON.stringify(member.errors)).toContain('NOT_FOUND');
    const anon = subscribe<Usage>(client(), USAGE, { id: orgId }, 'seatUsageChanged');
    await anon.waitForEnd();
    expect(JSON.stringify(anon.errors)).toContain('UNAUTHENTICATED');

    // A co-administrator listens until the owner revokes the right.
    const list = await t.gql(
      'query($id: ID!) { organization(id: $id) { members { edges { node { id account { userId } } } } } }',
      { id: orgId },
      { token: owner.token },
    );
    const coId = list.data!.organization.members.edges.find(
      (e: { node: { account: { userId: string } } }) => e.node.account.userId === members[1].account.userId,
    ).node.id;
    await t.gql(
      'mutation($i: SetMemberAdminInput!) { setMemberAdmin(input: $i) { errors { code } } }',
      { i: { membershipId: coId, admin: true } },
      { token: owner.token },
    );
    const co = subscribe<Usage>(client(members[1].token), USAGE, { id: orgId }, 'seatUsageChanged');
    await co.waitForCount(1);
    await t.gql(
      'mutation($i: SetMemberAdminInput!) { setMemberAdmin(input: $i) { errors { code } } }',
      { i: { membershipId: coId, admin: false } },
      { token: owner.token },
    );
    await co.waitForEnd();
    expect(co.events).toHaveLength(1);
    // Not a silent complete: the client hears why (as for anyone who may not see the organization).
    expect(JSON.stringify(co.errors)).toContain('NOT_FOUND');

    // The owner listens on a second token, which is then revoked.
    const second = (await t.gql('mutation($i: LoginInput!) { login(input: $i) { token } }', { i: { email: owner.email, password: owner.password } })).data!
      .login.token;
    const revoked = subscribe<Usage>(client(second), USAGE, { id: orgId }, 'seatUsageChanged');
    await revoked.waitForCount(1);
    await t.gql('mutation { logout { ok } }', {}, { token: second });
    await revoked.waitForEnd();
    expect(JSON.stringify(revoked.errors)).toContain('UNAUTHENTICATED');
  });

  it('leaseChanged pushes an ending even when the account’s signal arrives before the lease’s own', async () => {
    const { members } = await setup();
    const [m] = members;
    const lease = (await acquire(t, m.token, 'race-pc')).lease!;
    const sub = subscribe<Lease>(client(m.token), LEASE, { id: lease.id }, 'leaseChanged');
    // Time for the subscription to be listening: otherwise its first look would find the lease
    // ended and push it anyway, and this would not test the race.
    await sleep(1000);
    // As a block does, but with only the account's signal sent (the lease's own delayed or lost).
    await t.server.ds.query(`UPDATE seat_leases SET ended_at = $2, end_reason = 'MEMBERSHIP_ENDED' WHERE id = $1`, [lease.id, t.server.clock.now()]);
    t.server.services.waitlist.bus.publish(channels.account(m.account.id), 'changed');
    await sub.waitForCount(1);
    expect(sub.events[0]).toMatchObject({ id: lease.id, endReason: 'MEMBERSHIP_ENDED' });
    await sub.waitForEnd();
  });

  it('leaseChanged tells the app when its lease ends for another reason than its own release', async () => {
    const { owner, orgId, members } = await setup();
    const [m, other] = members;
    const lease = (await acquire(t, m.token, 'm-pc')).lease!;
    const refused = subscribe<Lease>(client(other.token), LEASE, { id: lease.id }, 'leaseChanged');
    await refused.waitForEnd();
    expect(JSON.stringify(refused.errors)).toContain('NOT_FOUND');

    const sub = subscribe<Lease>(client(m.token), LEASE, { id: lease.id }, 'leaseChanged');
    await sleep(1000); // no push while the lease lives (and time for the subscription to be set up)
    expect(sub.events).toEqual([]);
    const list = await t.gql(
      'query($id: ID!) { organization(id: $id) { members { edges { node { id account { userId } } } } } }',
      { id: orgId },
      { token: owner.token },
    );
    const mId = list.data!.organization.members.edges.find((e: { node: { account: { userId: string } } }) => e.node.account.userId === m.account.userId).node
      .id;
    await t.gql(
      'mutation($i: SetMemberStatusInput!) { setMemberStatus(input: $i) { errors { code } } }',
      { i: { membershipId: mId, status: 'BLOCKED' } },
      { token: owner.token },
    );
    await sub.waitForCount(1);
    expect(sub.events[0]).toMatchObject({ id: lease.id, endReason: 'MEMBERSHIP_ENDED' });
    await sub.waitForEnd();

    // Its own release is not pushed.
    const own = (await acquire(t, other.token, 'o-pc')).lease!;
    const quiet = subscribe<Lease>(client(other.token), LEASE, { id: own.id }, 'leaseChanged');
    await sleep(1000); // the subscription must be in place before the release for this to say anything
    await release(t, other.token, own.id);
    await sleep(500);
    expect(quiet.events).toEqual([]);
    quiet.close();

    // A cloud takeover is.
    const cloudOwner = await newAccount(t);
    await issueLicense(t, { platforms: ['CLOUD'], redeemForUserId: cloudOwner.account.userId });
    const first = (await acquire(t, cloudOwner.token, 'browser-1', { platform: 'CLOUD' })).lease!;
    const taken = subscribe<Lease>(client(cloudOwner.token), LEASE, { id: first.id }, 'leaseChanged');
    await sleep(300);
    await acquire(t, cloudOwner.token, 'browser-2', { platform: 'CLOUD', takeover: true });
    expect((await taken.waitForCount(1))[0]).toMatchObject({ endReason: 'TAKEN_OVER' });
  });
});

describe('R7.2 across two instances through Redis', () => {
  const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  let t: TestServer;
  let child: ChildProcess;
  let childUrl: string;
  let dataDir: string;
  beforeAll(async () => {
    t = await startTestServer({ REDIS_URL: redisUrl });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-live-'));
    const port = await freePort();
    const cli = path.join(__dirname, '..', '..', 'dist', 'src', 'cli.js');
    child = spawn(process.execPath, [cli, 'serve'], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: t.databaseUrl,
        REDIS_URL: redisUrl,
        // Every instance delivers the shared outbox's mail: all of them need the same SMTP server.
        SMTP_URL: t.mail.url,
        PORT: String(port),
        DATA_DIR: dataDir,
        APP_SECRET: 'test-secret-test-secret-test-secret-0123',
        RATE_LIMIT_FACTOR: '1000',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    childUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /Tessera GraphQL API: (\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`second instance exited with ${code}`)));
    });
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await t.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('a seat taken through one instance is seen by a subscriber on the other', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 2 });
    const m = await newAccount(t);
    await join(t, m.token, organization.inviteCode);
    const c = wsClient(childUrl, owner.token);
    try {
      const sub = subscribe<Usage>(c, USAGE, { id: organization.id }, 'seatUsageChanged');
      expect((await sub.waitForCount(1))[0]).toMatchObject({ inUse: 0 });
      await acquire(t, m.token, 'pc');
      expect((await sub.waitForCount(2))[1]).toMatchObject({ inUse: 1, free: 1 });
      sub.close();
    } finally {
      await c.dispose();
    }
  });
});
