import { Client } from 'pg';
import { POOL_LOCK_NAMESPACE, lockKey } from '../../src/modules/seats/ledger';
import { inTransaction } from '../../src/platform/db/transaction';
import {
  acquire,
  heartbeat,
  issueLicense,
  join,
  newAccount,
  newOrganization,
  redeem,
  release,
  seatsInUseByLicense,
  type NewAccount,
} from '../helpers/factories';
import { metricValue, overlapsBeyondSeats } from '../helpers/lease-history';
import { tokenFrom } from '../helpers/mail';
import { startTestServer, type TestServer } from '../helpers/server';
import { subscribe, wsClient } from '../helpers/ws';

/**
 * The seat ledger (R4.8, R4.6, R3.4, R4.12): decisions taken under the pool's lock with the time
 * then, no deadlocks with ordinary inserts, retries counted, and the operations that end seats.
 */
jest.setTimeout(180_000);

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

async function membersOf(inviteCode: string, n: number): Promise<NewAccount[]> {
  const out: NewAccount[] = [];
  for (let i = 0; i < n; i += 10) {
    const batch = await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => newAccount(t)));
    for (const m of batch) expect((await join(t, m.token, inviteCode)).errors).toEqual([]);
    out.push(...batch);
  }
  return out;
}

/** Resolves once some session waits for this advisory lock (a positive signal, not a sleep). */
async function untilWaitingFor(admin: Client, namespace: number, key: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows } = await admin.query(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = $1::oid AND objid = $2::oid AND objsubid = 2`,
      [namespace, key >>> 0],
    );
    if (rows[0].n > 0) return;
    if (Date.now() > deadline) throw new Error('nobody waited for the lock');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function invariantHolds(): Promise<void> {
  for (const row of await seatsInUseByLicense(t)) expect(row.used).toBeLessThanOrEqual(row.seats);
  expect(await overlapsBeyondSeats(t)).toEqual([]);
}

describe('R4.8 decisions under the lock, with the time then', () => {
  it('an acquire that waited for the pool lock across a license’s expiry is not served by the expired license', async () => {
    // One pool: a permanent 1-seat license and a 1-seat license that ends in 60 s.
    const { owner, organization, license: permanent } = await newOrganization(t, { seats: 1 });
    const ending = await issueLicense(t, { type: 'EDUCATIONAL', seats: 1, expiresAt: new Date(t.server.clock.nowMs() + 60_000).toISOString() });
    expect((await redeem(t, owner.token, ending.key)).errors).toEqual([]);
    const [first, second] = await membersOf(organization.inviteCode, 2);
    const held = await acquire(t, first.token, 'first-pc');
    expect(held.lease!.license.id).toBe(permanent.id); // the longest-lasting license serves first

    const blocker = new Client({ connectionString: t.databaseUrl });
    await blocker.connect();
    try {
      // Another connection holds the pool's lock; the acquire waits for it.
      await blocker.query('SELECT pg_advisory_lock($1::int, $2::int)', [POOL_LOCK_NAMESPACE, lockKey(owner.account.id)]);
      const pending = acquire(t, second.token, 'second-pc');
      await untilWaitingFor(blocker, POOL_LOCK_NAMESPACE, lockKey(owner.account.id));
      await t.advance(61); // the second license ends while the acquire waits
      await blocker.query('SELECT pg_advisory_unlock($1::int, $2::int)', [POOL_LOCK_NAMESPACE, lockKey(owner.account.id)]);
      const result = await pending;
      // Judged by the time once the lock was granted: one license of one seat, taken.
      expect(result.lease).toBeNull();
      expect(result.errors.map((e) => e.code)).toEqual(['SEATS_EXHAUSTED']);
      expect(result.seatUsage).toMatchObject({ total: 1, inUse: 1, free: 0 });
    } finally {
      await blocker.end();
    }
    const onEnded = await t.server.ds.query<Array<{ n: number }>>('SELECT count(*)::int AS n FROM seat_leases WHERE license_id = $1', [ending.id]);
    expect(onEnded[0].n).toBe(0);
    await invariantHolds();
  });

  it('an acquire that waited while a seat was freed takes it (the leases are read after the wait too)', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 1 });
    const [first, second] = await membersOf(organization.inviteCode, 2);
    const held = (await acquire(t, first.token, 'first-pc')).lease!;
    const blocker = new Client({ connectionString: t.databaseUrl });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT pg_advisory_xact_lock($1::int, $2::int)', [POOL_LOCK_NAMESPACE, lockKey(owner.account.id)]);
      const pending = acquire(t, second.token, 'second-pc');
      await untilWaitingFor(blocker, POOL_LOCK_NAMESPACE, lockKey(owner.account.id));
      // While the acquire waits, the first member's seat ends in the blocking transaction.
      await blocker.query(`UPDATE seat_leases SET ended_at = now(), end_reason = 'CLOSED' WHERE id = $1`, [held.id]);
      await blocker.query('COMMIT');
      const result = await pending;
      expect(result.errors).toEqual([]);
      expect(result.seatUsage).toMatchObject({ total: 1, inUse: 1 });
    } finally {
      await blocker.end();
    }
    await invariantHolds();
  });
});

describe('R4.8 no deadlocks, and retries are never silent', () => {
  it('a deadlock is retried, logged and counted in tessera_db_retries_total', async () => {
    const before = await metricValue(t, 'tessera_db_retries_total', { reason: 'deadlock' });
    const a = await newAccount(t);
    const b = await newAccount(t);
    // Two transactions update two rows in opposite orders, each waiting for the other's first
    // row: PostgreSQL breaks the cycle with 40P01 and inTransaction runs the loser again.
    let bothHoldFirst!: () => void;
    const barrier = new Promise<void>((r) => (bothHoldFirst = r));
    let arrived = 0;
    const arrive = async () => {
      arrived += 1;
      if (arrived === 2) bothHoldFirst();
      await barrier;
    };
    const cross = (first: string, second: string) =>
      inTransaction(t.server.ds, t.server.logger, async (tx) => {
        await tx.query('UPDATE accounts SET updated_at = now() WHERE id = $1', [first]);
        if (arrived < 2) await arrive();
        await tx.query('UPDATE accounts SET updated_at = now() WHERE id = $1', [second]);
      });
    await Promise.all([cross(a.account.id, b.account.id), cross(b.account.id, a.account.id)]);
    expect(await metricValue(t, 'tessera_db_retries_total', { reason: 'deadlock' })).toBe(before + 1);
  });

  it('acquires, releases, blocking and ordinary inserts that reference accounts run together for many rounds without a deadlock', async () => {
    const deadlocksBefore = await metricValue(t, 'tessera_db_retries_total', { reason: 'deadlock' });
    const { owner, organization } = await newOrganization(t, { seats: 6 });
    const people = await membersOf(organization.inviteCode, 10);
    const list = await t.gql(
      'query($id: ID!) { organization(id: $id) { members(first: 100) { edges { node { id account { userId } } } } } }',
      { id: organization.id },
      { token: owner.token },
    );
    const membershipOf = new Map<string, string>(
      list.data!.organization.members.edges.map((e: { node: { id: string; account: { userId: string } } }) => [e.node.account.userId, e.node.id]),
    );
    const setStatus = (m: NewAccount, status: 'ACTIVE' | 'BLOCKED') =>
      t.gql(
        'mutation($i: SetMemberStatusInput!) { setMemberStatus(input: $i) { errors { code } } }',
        { i: { membershipId: membershipOf.get(m.account.userId), status } },
        { token: owner.token },
      );
    let granted = 0;
    for (let round = 0; round < 12; round++) {
      const blocked = people[round % people.length];
      const work: Array<Promise<unknown>> = [];
      for (const [i, m] of people.entries()) {
        work.push(
          (async () => {
            const r = await acquire(t, m.token, `pc-${i}`);
            if (r.lease) {
              granted += 1;
              await heartbeat(t, m.token, r.lease.id);
              await release(t, m.token, r.lease.id);
            }
          })(),
        );
      }
      // Ordinary writes referencing the pool owner's and members' account rows, at the same time:
      // audit entries and membership changes (blocking), a registration with its token, a login,
      // a new member joining (a membership row), the owner's own devices.
      work.push(setStatus(blocked, 'BLOCKED').then(() => setStatus(blocked, 'ACTIVE')));
      work.push(newAccount(t, { verified: false }));
      work.push(newAccount(t).then((n) => join(t, n.token, organization.inviteCode)));
      work.push(acquire(t, owner.token, `owner-${round % 3}`));
      await Promise.all(work);
    }
    expect(granted).toBeGreaterThan(0);
    expect(await metricValue(t, 'tessera_db_retries_total', { reason: 'deadlock' })).toBe(deadlocksBefore);
    await invariantHolds();
  });
});

describe('R4.8 measured in production', () => {
  it('tessera_seats_in_use by kind and tessera_seat_refusals_total by code follow acquires and refusals', async () => {
    const { organization } = await newOrganization(t, { seats: 1 });
    const [a, b] = await membersOf(organization.inviteCode, 2);
    const inUse = await metricValue(t, 'tessera_seats_in_use', { kind: 'MEMBER' });
    const refused = await metricValue(t, 'tessera_seat_refusals_total', { code: 'SEATS_EXHAUSTED' });
    const lease = (await acquire(t, a.token, 'metrics-pc')).lease!;
    expect(await metricValue(t, 'tessera_seats_in_use', { kind: 'MEMBER' })).toBe(inUse + 1);
    expect((await acquire(t, b.token, 'metrics-pc')).errors.map((e) => e.code)).toEqual(['SEATS_EXHAUSTED']);
    expect(await metricValue(t, 'tessera_seat_refusals_total', { code: 'SEATS_EXHAUSTED' })).toBe(refused + 1);
    expect((await release(t, a.token, lease.id)).errors).toEqual([]);
    expect(await metricValue(t, 'tessera_seats_in_use', { kind: 'MEMBER' })).toBe(inUse);
  });

  it('tessera_licenses_over_capacity (read when scraped; the sweep logs it too): 0 normally, above 0 for a license carrying more than its seats', async () => {
    await t.server.services.seats.sweepLapsed();
    expect(await metricValue(t, 'tessera_licenses_over_capacity')).toBe(0);
    // Rows written behind the ledger's back (what a bug would do): two member leases on one seat.
    const { owner, organization, license } = await newOrganization(t, { seats: 1 });
    const [a, b] = await membersOf(organization.inviteCode, 2);
    const ids: string[] = [];
    for (const m of [a, b]) {
      const [row] = await t.server.ds.query<Array<{ id: string }>>(
        `INSERT INTO seat_leases (id, account_id, pool_account_id, organization_id, license_id, device_hash, platform, kind, acquired_at, last_heartbeat_at, lapses_at)
         VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, 'WINDOWS', 'MEMBER', $6, $6, $6::timestamptz + interval '1 hour') RETURNING id`,
        [m.account.id, owner.account.id, organization.id, license.id, `forged-${m.account.id}`, t.server.clock.now()],
      );
      ids.push(row.id);
    }
    await t.server.services.seats.sweepLapsed();
    expect(await metricValue(t, 'tessera_licenses_over_capacity')).toBe(1);
    await t.server.ds.query(`UPDATE seat_leases SET ended_at = $2, end_reason = 'SUPPORT' WHERE id = ANY($1::uuid[])`, [ids, t.server.clock.now()]);
    await t.server.services.seats.sweepLapsed();
    expect(await metricValue(t, 'tessera_licenses_over_capacity')).toBe(0);
  });
});

describe('R4.6, R3.4 and R4.12 endings', () => {
  it('R4.6 releasing a CLOUD lease ends it, for an owner too; a desktop owner seat is kept', async () => {
    const owner = await newAccount(t);
    await issueLicense(t, { seats: 2, platforms: ['WINDOWS', 'CLOUD'], redeemForUserId: owner.account.userId });
    const cloud = (await acquire(t, owner.token, 'browser-1', { platform: 'CLOUD' })).lease!;
    expect(cloud.kind).toBe('OWNER');
    const released = await release(t, owner.token, cloud.id);
    expect(released.lease).toMatchObject({ endReason: 'CLOSED' });
    expect(released.lease!.endedAt).not.toBeNull();
    // Another browser may now start Cloud without a takeover.
    expect((await acquire(t, owner.token, 'browser-2', { platform: 'CLOUD' })).errors).toEqual([]);
    const desktop = (await acquire(t, owner.token, 'laptop')).lease!;
    expect((await release(t, owner.token, desktop.id)).lease).toMatchObject({ endedAt: null, endReason: null });
  });

  it('R3.4 endSeat: an administrator ends one member’s seat (ENDED_BY_ADMIN), audited and pushed; nobody else can', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 3 });
    const [member, coAdmin, stranger, otherAdmin] = await membersOf(organization.inviteCode, 4);
    const outsider = await newAccount(t);
    const lease = (await acquire(t, member.token, 'member-pc')).lease!;
    const adminLease = (await acquire(t, otherAdmin.token, 'other-admin-pc')).lease!;
    const list = await t.gql(
      'query($id: ID!) { organization(id: $id) { members { edges { node { id account { userId } } } } } }',
      { id: organization.id },
      { token: owner.token },
    );
    for (const admin of [coAdmin, otherAdmin]) {
      const membershipId = list.data!.organization.members.edges.find(
        (e: { node: { account: { userId: string } } }) => e.node.account.userId === admin.account.userId,
      ).node.id;
      await t.gql(
        'mutation($i: SetMemberAdminInput!) { setMemberAdmin(input: $i) { errors { code } } }',
        { i: { membershipId, admin: true } },
        { token: owner.token },
      );
    }

    const END = 'mutation($id: ID!) { endSeat(leaseId: $id) { lease { id endedAt endReason } errors { code reason } } }';
    // Others: NOT_FOUND, the same answer as for a lease that does not exist.
    for (const who of [stranger, outsider, member]) {
      const r = await t.gql(END, { id: lease.id }, { token: who.token });
      expect(r.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    }
    expect((await t.gql(END, { id: '00000000-0000-4000-8000-000000000000' }, { token: owner.token })).errors?.[0].extensions?.code).toBe('NOT_FOUND');
    // A co-administrator leaves other administrators to the owner.
    expect((await t.gql(END, { id: adminLease.id }, { token: coAdmin.token })).data?.endSeat.errors).toEqual([
      { code: 'ADMIN_PROTECTED', reason: 'OTHER_ADMIN' },
    ]);

    const client = wsClient(t.url, member.token);
    try {
      const sub = subscribe<{ id: string; endReason: string }>(
        client,
        'subscription($id: ID!) { leaseChanged(leaseId: $id) { id endedAt endReason } }',
        { id: lease.id },
        'leaseChanged',
      );
      const ended = await t.gql(END, { id: lease.id }, { token: coAdmin.token });
      expect(ended.data?.endSeat.errors).toEqual([]);
      expect(ended.data?.endSeat.lease).toMatchObject({ id: lease.id, endReason: 'ENDED_BY_ADMIN' });
      await sub.waitForCount(1);
      expect(sub.events[0]).toMatchObject({ id: lease.id, endReason: 'ENDED_BY_ADMIN' });
    } finally {
      await client.dispose();
    }
    // The app hears of it at its next heartbeat; the member is not blocked and may start again.
    expect((await heartbeat(t, member.token, lease.id)).errors).toEqual([{ code: 'LEASE_ENDED', reason: 'ENDED_BY_ADMIN' }]);
    // Ending it again changes nothing and writes no second audit entry.
    expect((await t.gql(END, { id: lease.id }, { token: owner.token })).data?.endSeat.lease).toMatchObject({ endReason: 'ENDED_BY_ADMIN' });
    const audit = await t.gql(
      'query($id: ID!) { organization(id: $id) { auditLog(first: 20) { edges { node { action actor { userId } targetUserId } } } } }',
      { id: organization.id },
      { token: owner.token },
    );
    const seatEnded = audit
      .data!.organization.auditLog.edges.map((e: { node: unknown }) => e.node)
      .filter((n: { action: string }) => n.action === 'SEAT_ENDED');
    expect(seatEnded).toEqual([{ action: 'SEAT_ENDED', actor: { userId: coAdmin.account.userId }, targetUserId: member.account.userId }]);
    expect((await acquire(t, member.token, 'member-pc')).errors).toEqual([]);
  });

  it('R1.7 R4.11 a password reset revokes every token, so every seat of the account ends as LOGGED_OUT', async () => {
    const { organization } = await newOrganization(t, { seats: 2 });
    const [member] = await membersOf(organization.inviteCode, 1);
    const lease = (await acquire(t, member.token, 'pc')).lease!;
    const asked = await t.gql('mutation($e: String!) { requestPasswordReset(email: $e) { ok } }', { e: member.email });
    expect(asked.data?.requestPasswordReset.ok).toBe(true);
    const mail = await t.mail.waitFor(member.email, (m) => m.text.includes('/reset-password?token='));
    const reset = await t.gql('mutation($i: ResetPasswordInput!) { resetPassword(input: $i) { ok errors { code } } }', {
      i: { token: tokenFrom(mail, '/reset-password'), newPassword: 'another long passphrase 42' },
    });
    expect(reset.data?.resetPassword).toEqual({ ok: true, errors: [] });
    const [row] = await t.server.ds.query<Array<{ end_reason: string | null }>>('SELECT end_reason FROM seat_leases WHERE id = $1', [lease.id]);
    expect(row.end_reason).toBe('LOGGED_OUT');
  });

  it('R4.6 R4.9 a Cloud seat cannot be reserved for offline use', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 1 });
    const cloud = await issueLicense(t, { type: 'EDUCATIONAL', seats: 1, platforms: ['CLOUD'] });
    expect((await redeem(t, owner.token, cloud.key)).errors).toEqual([]);
    const [member] = await membersOf(organization.inviteCode, 1);
    const lease = (await acquire(t, member.token, 'browser', { platform: 'CLOUD' })).lease!;
    const r = await t.gql(
      'mutation($i: ReserveOfflineInput!) { reserveOffline(input: $i) { lease { reservedUntil } errors { code reason } } }',
      {
        i: { leaseId: lease.id, days: 3 },
      },
      { token: member.token },
    );
    expect(r.data?.reserveOffline.errors).toEqual([{ code: 'OFFLINE_NOT_ALLOWED', reason: 'CLOUD' }]);
    const [row] = await t.server.ds.query<Array<{ reserved_until: Date | null }>>('SELECT reserved_until FROM seat_leases WHERE id = $1', [lease.id]);
    expect(row.reserved_until).toBeNull();
  });

  it('R3.4 a blocked member with no other source is told MEMBERSHIP_BLOCKED, also when naming the organization', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 2 });
    const [member] = await membersOf(organization.inviteCode, 1);
    const list = await t.gql(
      'query($id: ID!) { organization(id: $id) { members { edges { node { id } } } } }',
      { id: organization.id },
      { token: owner.token },
    );
    await t.gql(
      'mutation($i: SetMemberStatusInput!) { setMemberStatus(input: $i) { errors { code } } }',
      { i: { membershipId: list.data!.organization.members.edges[0].node.id, status: 'BLOCKED' } },
      { token: owner.token },
    );
    const plain = await acquire(t, member.token, 'pc');
    expect(plain.errors.map((e) => e.code)).toEqual(['MEMBERSHIP_BLOCKED']);
    expect(plain.errors[0].message).toMatch(/blocked/i);
    expect((await acquire(t, member.token, 'pc', { organizationId: organization.id })).errors.map((e) => e.code)).toEqual(['MEMBERSHIP_BLOCKED']);
  });
});

describe('the seat ledger migration, down and up again', () => {
  it('down reads ENDED_BY_ADMIN as SUPPORT and keeps SEAT_ENDED audit entries as organization changes; up accepts ENDED_BY_ADMIN again', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 1 });
    const [member] = await membersOf(organization.inviteCode, 1);
    const lease = (await acquire(t, member.token, 'pc')).lease!;
    const ended = await t.gql('mutation($id: ID!) { endSeat(leaseId: $id) { lease { endReason } errors { code } } }', { id: lease.id }, { token: owner.token });
    expect(ended.data?.endSeat.lease).toEqual({ endReason: 'ENDED_BY_ADMIN' });

    // Later migrations are undone first, down to this one.
    for (;;) {
      const [last] = await t.server.ds.query<Array<{ name: string }>>('SELECT name FROM migrations ORDER BY id DESC LIMIT 1');
      await t.server.ds.undoLastMigration({ transaction: 'each' });
      if (last.name === 'SeatLedger1765000000000') break;
    }
    const [row] = await t.server.ds.query<Array<{ end_reason: string }>>('SELECT end_reason FROM seat_leases WHERE id = $1', [lease.id]);
    expect(row.end_reason).toBe('SUPPORT');
    const audit = await t.server.ds.query<Array<{ action: string; details: { was?: string } }>>(
      `SELECT action, details FROM audit_log WHERE organization_id = $1 AND details->>'was' = 'SEAT_ENDED'`,
      [organization.id],
    );
    expect(audit).toHaveLength(1);
    expect(audit[0].action).toBe('ORGANIZATION_UPDATED');

    await t.server.ds.runMigrations({ transaction: 'each' });
    await t.server.ds.query(`UPDATE seat_leases SET end_reason = 'ENDED_BY_ADMIN' WHERE id = $1`, [lease.id]);
    const [back] = await t.server.ds.query<Array<{ end_reason: string }>>('SELECT end_reason FROM seat_leases WHERE id = $1', [lease.id]);
    expect(back.end_reason).toBe('ENDED_BY_ADMIN');
  });
});
