import type { EntityManager } from 'typeorm';
import type { LanguageCode } from '../../accounts/entities';
import { LicenseEntity, type LicenseTypeName, type PlatformName } from '../../licenses/entities';
import type { SeatKindName } from '../allocation';
import { SeatLeaseEntity, type LeaseEndReasonName } from '../entities';
import { WaitlistEntryEntity, type WaitlistStatusName } from '../waitlist-entity';
import { assertLocked, isAccountLocks, type AccountLocks, type PoolLocks } from './locks';

/**
 * Every statement that reads or writes `seat_leases` and `waitlist_entries` (architecture.md, "The
 * seat ledger"): plain SQL, mapped to the entities here, tested directly against PostgreSQL
 * (test/integration/seat-store.test.ts). Every write takes the proof of its pool's lock and its
 * SQL is restricted to the locked pools, so that a write outside them changes nothing even if
 * the code asked it to. The seat arithmetic in SQL here must match allocation.ts: member leases
 * take a seat each, owner devices (OWNER, OFFLINE_BOUND) one seat per two.
 */

type Row = Record<string, unknown>;

/** Live: not ended and, for a member lease, not lapsed, at parameter `param`. */
export function liveSql(alias: string, param: string): string {
  return `${alias}.ended_at IS NULL AND (${alias}.lapses_at IS NULL OR ${alias}.lapses_at > ${param})`;
}

/** Used seats of license `licenseAlias`, counting leases live at `nowParam`. */
export function usedSeatsSql(licenseAlias: string, nowParam: string): string {
  return `(SELECT count(*) FILTER (WHERE x.kind = 'MEMBER') + ceil(count(*) FILTER (WHERE x.kind <> 'MEMBER') / 2.0)
             FROM seat_leases x
            WHERE x.license_id = ${licenseAlias}.id AND ${liveSql('x', nowParam)})`;
}

export const LEASE_COLUMNS =
  'id, account_id, pool_account_id, organization_id, license_id, device_hash, platform, kind, acquired_at, last_heartbeat_at, reserved_until, lapses_at, ended_at, end_reason, offline_nonce, offline_issued_at';

/** Rows of an `UPDATE … RETURNING` through TypeORM's postgres driver (it answers `[rows, count]`). */
export function returningRows(result: unknown): Row[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as Row[];
  return result as Row[];
}

export function leaseOfRow(row: Row): SeatLeaseEntity {
  return Object.assign(new SeatLeaseEntity(), {
    id: row.id as string,
    accountId: row.account_id as string | null,
    poolAccountId: row.pool_account_id as string,
    organizationId: row.organization_id as string | null,
    licenseId: row.license_id as string,
    deviceHash: row.device_hash as string,
    platform: row.platform as PlatformName,
    kind: row.kind as SeatKindName,
    acquiredAt: row.acquired_at as Date,
    lastHeartbeatAt: row.last_heartbeat_at as Date,
    reservedUntil: row.reserved_until as Date | null,
    lapsesAt: row.lapses_at as Date | null,
    endedAt: row.ended_at as Date | null,
    endReason: row.end_reason as LeaseEndReasonName | null,
    offlineNonce: (row.offline_nonce ?? null) as string | null,
    offlineIssuedAt: (row.offline_issued_at ?? null) as Date | null,
  });
}

function licenseOfRow(row: Row): LicenseEntity {
  return Object.assign(new LicenseEntity(), {
    id: row.id as string,
    licenseId: row.license_id as string,
    key: row.license_key as string,
    type: row.type as LicenseTypeName,
    seats: row.seats as number,
    platforms: row.platforms as PlatformName[],
    expiresAt: row.expires_at as Date | null,
    orderReference: row.order_reference as string,
    purchaserEmail: row.purchaser_email as string | null,
    language: row.language as LanguageCode,
    ownerAccountId: row.owner_account_id as string | null,
    redeemedAt: row.redeemed_at as Date | null,
    revokedAt: row.revoked_at as Date | null,
    createdAt: row.created_at as Date,
  });
}

function entryOfRow(row: Row): WaitlistEntryEntity {
  return Object.assign(new WaitlistEntryEntity(), {
    id: row.id as string,
    organizationId: row.organization_id as string,
    poolAccountId: row.pool_account_id as string,
    accountId: row.account_id as string,
    deviceHash: row.device_hash as string,
    platform: row.platform as PlatformName,
    status: row.status as WaitlistStatusName,
    licenseId: row.license_id as string | null,
    holdUntil: row.hold_until as Date | null,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
  });
}

export interface EndedLease {
  id: string;
  poolAccountId: string;
}

/** A lease that ended, as it is now (the write's RETURNING: no read after it). */
export interface EndedLeaseRow extends EndedLease {
  lease: SeatLeaseEntity;
}

function endedOf(rows: Row[]): EndedLease[] {
  return rows.map((r) => ({ id: r.id as string, poolAccountId: r.pool_account_id as string }));
}

function lockedPools(locks: PoolLocks): string[] {
  return [...locks.pools];
}

// ---------------------------------------------------------------- reads

/** The account's unended lease on a device (at most one: a partial unique index). */
export async function openLeaseOf(tx: EntityManager, accountId: string, deviceHash: string): Promise<SeatLeaseEntity | null> {
  const [row] = await tx.query<Row[]>(`SELECT ${LEASE_COLUMNS} FROM seat_leases WHERE account_id = $1 AND device_hash = $2 AND ended_at IS NULL`, [
    accountId,
    deviceHash,
  ]);
  return row ? leaseOfRow(row) : null;
}

export async function readLease(tx: EntityManager, id: string): Promise<SeatLeaseEntity | null> {
  const [row] = await tx.query<Row[]>(`SELECT ${LEASE_COLUMNS} FROM seat_leases WHERE id = $1`, [id]);
  return row ? leaseOfRow(row) : null;
}

export async function liveLeasesOfPool(tx: EntityManager, poolAccountId: string, now: Date): Promise<SeatLeaseEntity[]> {
  const rows = await tx.query<Row[]>(`SELECT ${LEASE_COLUMNS} FROM seat_leases l WHERE l.pool_account_id = $1 AND ${liveSql('l', '$2')}`, [poolAccountId, now]);
  return rows.map(leaseOfRow);
}

/** An account's live leases, newest first. */
export async function liveLeasesOfAccount(tx: EntityManager, accountId: string, now: Date): Promise<SeatLeaseEntity[]> {
  const rows = await tx.query<Row[]>(
    `SELECT ${LEASE_COLUMNS} FROM seat_leases l WHERE l.account_id = $1 AND ${liveSql('l', '$2')} ORDER BY l.acquired_at DESC, l.id`,
    [accountId, now],
  );
  return rows.map(leaseOfRow);
}

export async function licensesOfPool(tx: EntityManager, poolAccountId: string): Promise<LicenseEntity[]> {
  const rows = await tx.query<Row[]>('SELECT * FROM licenses WHERE owner_account_id = $1', [poolAccountId]);
  return rows.map(licenseOfRow);
}

export async function readLicense(tx: EntityManager, id: string): Promise<LicenseEntity | null> {
  const [row] = await tx.query<Row[]>('SELECT * FROM licenses WHERE id = $1', [id]);
  return row ? licenseOfRow(row) : null;
}

/** The live `CLOUD` leases of an account (R4.6: at most one, but read all). */
export async function liveCloudLeasesOf(tx: EntityManager, accountId: string, now: Date): Promise<EndedLease[]> {
  const rows = await tx.query<Row[]>(
    `SELECT id, pool_account_id FROM seat_leases l WHERE l.account_id = $1 AND l.platform = 'CLOUD' AND ${liveSql('l', '$2')}`,
    [accountId, now],
  );
  return endedOf(rows);
}

/** The kinds of the live leases a license serves. */
export async function liveKindsOnLicense(tx: EntityManager, licenseId: string, now: Date): Promise<Array<{ kind: SeatKindName }>> {
  return await tx.query<
    Array<{
      kind: SeatKindName;
    }>
  >(`SELECT kind FROM seat_leases l WHERE l.license_id = $1 AND ${liveSql('l', '$2')}`, [licenseId, now]);
}

/** Which of these (organization, account) pairs hold a live seat of the organization now: one statement. */
export async function membersUsingSeats(
  tx: EntityManager,
  pairs: ReadonlyArray<{ organizationId: string; accountId: string }>,
  now: Date,
): Promise<Set<string>> {
  if (pairs.length === 0) return new Set();
  const rows = await tx.query<Row[]>(
    `SELECT DISTINCT l.organization_id, l.account_id
       FROM seat_leases l
       JOIN unnest($1::uuid[], $2::uuid[]) AS p(organization_id, account_id)
         ON l.organization_id = p.organization_id AND l.account_id = p.account_id
      WHERE ${liveSql('l', '$3')}`,
    [pairs.map((p) => p.organizationId), pairs.map((p) => p.accountId), now],
  );
  return new Set(rows.map((r) => `${r.organization_id as string}:${r.account_id as string}`));
}

/** The line of a pool's wait-list (waiting and holding entries), first come first. */
export async function waitlistLine(tx: EntityManager, poolAccountId: string): Promise<WaitlistEntryEntity[]> {
  const rows = await tx.query<Row[]>(`SELECT * FROM waitlist_entries WHERE pool_account_id = $1 AND status IN ('WAITING', 'HOLDING') ORDER BY created_at, id`, [
    poolAccountId,
  ]);
  return rows.map(entryOfRow);
}

/** The account's open entry (waiting or holding) on an organization's wait-list. */
export async function openEntryOf(tx: EntityManager, organizationId: string, accountId: string): Promise<WaitlistEntryEntity | null> {
  const [row] = await tx.query<Row[]>(`SELECT * FROM waitlist_entries WHERE organization_id = $1 AND account_id = $2 AND status IN ('WAITING', 'HOLDING')`, [
    organizationId,
    accountId,
  ]);
  return row ? entryOfRow(row) : null;
}

/** R4.13: who waits in a pool's line and is still an active member (only they get a turn, R3.4), first come first. */
export async function activeWaiters(tx: EntityManager, poolAccountId: string): Promise<WaitlistEntryEntity[]> {
  const rows = await tx.query<Row[]>(
    `SELECT w.* FROM waitlist_entries w
       JOIN memberships m ON m.organization_id = w.organization_id AND m.account_id = w.account_id AND m.status = 'ACTIVE'
      WHERE w.pool_account_id = $1 AND w.status = 'WAITING'
      ORDER BY w.created_at, w.id`,
    [poolAccountId],
  );
  return rows.map(entryOfRow);
}

/** Whether anybody waits or holds in a pool's line (nobody: nothing to lock). */
export async function hasOpenLine(tx: EntityManager, poolAccountId: string): Promise<boolean> {
  const rows = await tx.query<Row[]>(`SELECT 1 FROM waitlist_entries WHERE pool_account_id = $1 AND status IN ('WAITING', 'HOLDING') LIMIT 1`, [poolAccountId]);
  return rows.length > 0;
}

export async function poolsWithOpenLines(tx: EntityManager): Promise<string[]> {
  const rows = await tx.query<Row[]>(`SELECT DISTINCT pool_account_id FROM waitlist_entries WHERE status IN ('WAITING', 'HOLDING')`);
  return rows.map((r) => r.pool_account_id as string);
}

/** 1-based place of a waiting entry among those still waiting in its pool. */
export async function waitingPosition(tx: EntityManager, entry: Pick<WaitlistEntryEntity, 'id' | 'poolAccountId' | 'createdAt'>): Promise<number> {
  const [row] = await tx.query<Array<{ n: number }>>(
    `SELECT count(*)::int AS n FROM waitlist_entries WHERE pool_account_id = $1 AND status = 'WAITING' AND (created_at, id) <= ($2, $3)`,
    [entry.poolAccountId, entry.createdAt, entry.id],
  );
  return row.n;
}

/** The pools in which an account has unended leases. */
export async function poolsOfOpenLeases(tx: EntityManager, accountId: string): Promise<string[]> {
  const rows = await tx.query<Row[]>('SELECT DISTINCT pool_account_id FROM seat_leases WHERE account_id = $1 AND ended_at IS NULL', [accountId]);
  return rows.map((r) => r.pool_account_id as string);
}

/** Pools with leases that lapsed but are not recorded as ended yet (the sweeper's work). */
export async function poolsWithLapsedLeases(tx: EntityManager, now: Date, limit: number): Promise<string[]> {
  const rows = await tx.query<Row[]>(
    `SELECT DISTINCT pool_account_id FROM seat_leases WHERE ended_at IS NULL AND lapses_at IS NOT NULL AND lapses_at <= $1 LIMIT $2`,
    [now, limit],
  );
  return rows.map((r) => r.pool_account_id as string);
}

/** R4.8 as a figure: licenses carrying more live leases than their seats (owner devices counting half). Must stay 0. */
export async function licensesOverCapacity(tx: EntityManager, now: Date): Promise<number> {
  const [row] = await tx.query<Array<{ n: number }>>(
    `SELECT count(*)::int AS n FROM licenses l
      WHERE l.id IN (SELECT DISTINCT license_id FROM seat_leases x WHERE ${liveSql('x', '$1')})
        AND ${usedSeatsSql('l', '$1')} > l.seats`,
    [now],
  );
  return row.n;
}

/** Live leases now, counted by kind (metrics). */
export async function leasesInUseByKind(tx: EntityManager, now: Date): Promise<Array<{ kind: string; n: number }>> {
  return tx.query<Array<{ kind: string; n: number }>>(`SELECT x.kind, count(*)::int AS n FROM seat_leases x WHERE ${liveSql('x', '$1')} GROUP BY x.kind`, [
    now,
  ]);
}

// ---------------------------------------------------------------- writes (under the pool's lock)

export interface NewLease {
  id: string;
  accountId: string;
  poolAccountId: string;
  organizationId: string | null;
  licenseId: string;
  deviceHash: string;
  platform: PlatformName;
  kind: SeatKindName;
  acquiredAt: Date;
  lapsesAt: Date | null;
  offlineNonce?: string | null;
}

export async function insertLease(locks: PoolLocks, lease: NewLease): Promise<SeatLeaseEntity> {
  assertLocked(locks, lease.poolAccountId);
  const [row] = await locks.tx.query<Row[]>(
    `INSERT INTO seat_leases (id, account_id, pool_account_id, organization_id, license_id, device_hash, platform, kind,
                              acquired_at, last_heartbeat_at, reserved_until, lapses_at, offline_nonce, offline_issued_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz, $9::timestamptz, NULL, $10::timestamptz, $11::text, CASE WHEN $11::text IS NULL THEN NULL ELSE $9::timestamptz END)
     RETURNING ${LEASE_COLUMNS}`,
    [
      lease.id,
      lease.accountId,
      lease.poolAccountId,
      lease.organizationId,
      lease.licenseId,
      lease.deviceHash,
      lease.platform,
      lease.kind,
      lease.acquiredAt,
      lease.lapsesAt,
      lease.offlineNonce ?? null,
    ],
  );
  return leaseOfRow(row);
}

/**
 * Ends unended leases matching a condition, with a reason (R4.12), within the locked pools (or the
 * locked accounts' leases) only.
 * Offline-bound seats are left alone unless `includeOfflineBound` (support, membership endings,
 * a pool that shrank). A lease that had already lapsed ended then, as TIMED_OUT, whatever
 * happens to it now.
 */
export async function endLeases(
  locks: PoolLocks | AccountLocks,
  where: { accountId?: string; organizationId?: string; poolAccountId?: string; licenseId?: string; ids?: string[] },
  reason: LeaseEndReasonName,
  options: { includeOfflineBound?: boolean } = {},
): Promise<EndedLeaseRow[]> {
  // Within the locked pools, or (ending only frees seats) among the locked accounts' leases.
  const byAccount = isAccountLocks(locks);
  if (where.poolAccountId && !byAccount) assertLocked(locks, where.poolAccountId);
  const conditions = ['ended_at IS NULL', byAccount ? 'account_id = ANY($3::uuid[])' : 'pool_account_id = ANY($3::uuid[])'];
  const params: unknown[] = [locks.now, reason, byAccount ? [...locks.accounts] : lockedPools(locks)];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    conditions.push(sql.replace('?', `$${params.length}`));
  };
  if (where.accountId) add('account_id = ?', where.accountId);
  if (where.organizationId) add('organization_id = ?', where.organizationId);
  if (where.poolAccountId) add('pool_account_id = ?', where.poolAccountId);
  if (where.licenseId) add('license_id = ?', where.licenseId);
  if (where.ids) add('id = ANY(?::uuid[])', where.ids);
  if (!options.includeOfflineBound) conditions.push("kind <> 'OFFLINE_BOUND'");
  const rows = returningRows(
    await locks.tx.query(
      `UPDATE seat_leases
          SET ended_at = CASE WHEN lapses_at IS NOT NULL AND lapses_at <= $1 THEN lapses_at ELSE $1 END,
              end_reason = CASE WHEN lapses_at IS NOT NULL AND lapses_at <= $1 THEN 'TIMED_OUT' ELSE $2 END
        WHERE ${conditions.join(' AND ')}
        RETURNING ${LEASE_COLUMNS}`,
      params,
    ),
  );
  return rows.map((r) => ({ id: r.id as string, poolAccountId: r.pool_account_id as string, lease: leaseOfRow(r) }));
}

/** Records TIMED_OUT for the locked pools' leases that lapsed (R4.3); they stopped counting when they lapsed. */
export async function endLapsed(locks: PoolLocks): Promise<EndedLease[]> {
  const rows = returningRows(
    await locks.tx.query(
      `UPDATE seat_leases SET ended_at = lapses_at, end_reason = 'TIMED_OUT'
        WHERE pool_account_id = ANY($2::uuid[]) AND ended_at IS NULL AND lapses_at IS NOT NULL AND lapses_at <= $1
        RETURNING id, pool_account_id`,
      [locks.now, lockedPools(locks)],
    ),
  );
  return endedOf(rows);
}

/** A heartbeat under the lock: the lease was seen now; a member lease lapses `lapsesAt`. */
export async function touchLease(locks: PoolLocks, lease: Pick<SeatLeaseEntity, 'id' | 'poolAccountId'>, lapsesAt: Date | null): Promise<void> {
  assertLocked(locks, lease.poolAccountId);
  await locks.tx.query('UPDATE seat_leases SET last_heartbeat_at = $2, lapses_at = $3 WHERE id = $1 AND pool_account_id = $4 AND ended_at IS NULL', [
    lease.id,
    locks.now,
    lapsesAt,
    lease.poolAccountId,
  ]);
}

/** R4.10: a lease kept while its pool settles moves to the license that now carries it. */
export async function moveLease(locks: PoolLocks, lease: Pick<SeatLeaseEntity, 'id' | 'poolAccountId'>, licenseId: string): Promise<void> {
  assertLocked(locks, lease.poolAccountId);
  await locks.tx.query('UPDATE seat_leases SET license_id = $2 WHERE id = $1 AND pool_account_id = $3 AND ended_at IS NULL', [
    lease.id,
    licenseId,
    lease.poolAccountId,
  ]);
}

/** R4.9: a member keeps this device's seat until `reservedUntil`. */
export async function reserveLease(locks: PoolLocks, lease: Pick<SeatLeaseEntity, 'id' | 'poolAccountId'>, reservedUntil: Date, lapsesAt: Date): Promise<void> {
  assertLocked(locks, lease.poolAccountId);
  await locks.tx.query(
    'UPDATE seat_leases SET reserved_until = $2, last_heartbeat_at = $3, lapses_at = $4 WHERE id = $1 AND pool_account_id = $5 AND ended_at IS NULL',
    [lease.id, reservedUntil, locks.now, lapsesAt, lease.poolAccountId],
  );
}

/** R6.4: the seat is bound to an air-gapped computer (from an owner seat, or a new request nonce). */
export async function bindLeaseOffline(locks: PoolLocks, lease: Pick<SeatLeaseEntity, 'id' | 'poolAccountId'>, nonce: string): Promise<void> {
  assertLocked(locks, lease.poolAccountId);
  await locks.tx.query(
    "UPDATE seat_leases SET kind = 'OFFLINE_BOUND', offline_nonce = $2, offline_issued_at = $3, lapses_at = NULL WHERE id = $1 AND pool_account_id = $4 AND ended_at IS NULL",
    [lease.id, nonce, locks.now, lease.poolAccountId],
  );
}

/**
 * A heartbeat without the pool lock, in one statement: it extends the caller's lease only while
 * the lease is live and not about to lapse (`safeUntil`: now plus a margin, so that no concurrent
 * acquire, judging by its own clock reading, can have counted it as lapsed), and its license is
 * active, within its seats, and not a trial (a trial's heartbeat may use up an active day, R5.3).
 * It changes no figure an acquire decides on (a live lease stays live), which is why it alone of
 * the writes needs no lock. Null: take the locked path.
 */
export async function extendLeaseLockFree(
  tx: EntityManager,
  p: { leaseId: string; accountId: string; now: Date; lapsesAt: Date; safeUntil: Date },
): Promise<SeatLeaseEntity | null> {
  const rows = returningRows(await tx.query(HEARTBEAT_FAST_SQL, [p.leaseId, p.accountId, p.now, p.lapsesAt, p.safeUntil]));
  return rows.length === 1 ? leaseOfRow(rows[0]) : null;
}

/** $1 lease, $2 account, $3 now, $4 lapse by heartbeat, $5 now + margin. */
export const HEARTBEAT_FAST_SQL = `
  UPDATE seat_leases s
     SET last_heartbeat_at = $3,
         lapses_at = CASE WHEN s.kind = 'MEMBER' THEN GREATEST($4::timestamptz, s.reserved_until) END
    FROM licenses l
   WHERE s.id = $1 AND s.account_id = $2 AND s.ended_at IS NULL
     AND (s.lapses_at IS NULL OR s.lapses_at > $5)
     AND l.id = s.license_id AND l.type <> 'TRIAL' AND l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > $3)
     AND ${usedSeatsSql('l', '$3')} <= l.seats
  RETURNING s.${LEASE_COLUMNS.split(', ').join(', s.')}`;

// ---------------------------------------------------------------- wait-list writes (R4.13)

export async function insertWaitlistEntry(
  locks: PoolLocks,
  entry: Pick<WaitlistEntryEntity, 'id' | 'organizationId' | 'poolAccountId' | 'accountId' | 'deviceHash' | 'platform'>,
): Promise<WaitlistEntryEntity> {
  assertLocked(locks, entry.poolAccountId);
  const [row] = await locks.tx.query<Row[]>(
    `INSERT INTO waitlist_entries (id, organization_id, pool_account_id, account_id, device_hash, platform, status, license_id, hold_until, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'WAITING', NULL, NULL, $7, $7) RETURNING *`,
    [entry.id, entry.organizationId, entry.poolAccountId, entry.accountId, entry.deviceHash, entry.platform, locks.now],
  );
  return entryOfRow(row);
}

/** Closes the account's open entries on an organization's line (left, blocked, removed, served). */
export async function closeWaitlistEntries(
  locks: PoolLocks,
  where: { organizationId: string; accountId: string },
  status: Extract<WaitlistStatusName, 'CANCELLED' | 'FULFILLED' | 'EXPIRED'>,
): Promise<number> {
  const rows = returningRows(
    await locks.tx.query(
      `UPDATE waitlist_entries SET status = $3, updated_at = $4
        WHERE organization_id = $1 AND account_id = $2 AND status IN ('WAITING', 'HOLDING') AND pool_account_id = ANY($5::uuid[])
        RETURNING id`,
      [where.organizationId, where.accountId, status, locks.now, lockedPools(locks)],
    ),
  );
  return rows.length;
}

/** Every place of an account on the locked pools' wait-lists, and every place on the wait-list of its own pool (support's deletion, R8.5). */
export async function cancelAccountWaitlistEntries(locks: PoolLocks, accountId: string): Promise<number> {
  const rows = returningRows(
    await locks.tx.query(
      `UPDATE waitlist_entries SET status = 'CANCELLED', updated_at = $2
        WHERE (account_id = $1 OR pool_account_id = $1) AND status IN ('WAITING', 'HOLDING') AND pool_account_id = ANY($3::uuid[])
        RETURNING id`,
      [accountId, locks.now, lockedPools(locks)],
    ),
  );
  return rows.length;
}

/** Pools on whose wait-lists the account has a place. */
export async function poolsOfWaitlistEntries(tx: EntityManager, accountId: string): Promise<string[]> {
  const rows = await tx.query<Row[]>(`SELECT DISTINCT pool_account_id FROM waitlist_entries WHERE account_id = $1 AND status IN ('WAITING', 'HOLDING')`, [
    accountId,
  ]);
  return rows.map((r) => r.pool_account_id as string);
}

/** Holds that ran out are over; answers whose they were. */
export async function expireHolds(locks: PoolLocks, poolAccountId: string): Promise<string[]> {
  assertLocked(locks, poolAccountId);
  const rows = returningRows(
    await locks.tx.query(
      `UPDATE waitlist_entries SET status = 'EXPIRED', updated_at = $2
        WHERE pool_account_id = $1 AND status = 'HOLDING' AND hold_until <= $2 RETURNING account_id`,
      [poolAccountId, locks.now],
    ),
  );
  return rows.map((r) => r.account_id as string);
}

export async function holdSeatFor(
  locks: PoolLocks,
  entry: Pick<WaitlistEntryEntity, 'id' | 'poolAccountId'>,
  licenseId: string,
  holdUntil: Date,
): Promise<void> {
  assertLocked(locks, entry.poolAccountId);
  await locks.tx.query(
    `UPDATE waitlist_entries SET status = 'HOLDING', license_id = $2, hold_until = $3, updated_at = $4 WHERE id = $1 AND pool_account_id = $5 AND status = 'WAITING'`,
    [entry.id, licenseId, holdUntil, locks.now, entry.poolAccountId],
  );
}
