import type { DataSource, EntityManager } from 'typeorm';
import type { Session } from '../../platform/auth/session';
import type { AccountEntity } from '../accounts/entities';
import { addMs, SECOND, type Clock } from '../../platform/clock';
import { keyedHash } from '../../platform/crypto';
import { AccessError, DomainError } from '../../platform/errors';
import type { Logger } from '../../platform/logger';
import type { LicenseEntity } from '../licenses/entities';
import { isActive } from '../licenses/rules';
import type { LicenseService } from '../licenses/service';
import type { TrialService } from '../trials/service';
import { capacity, reconcile, seatsUsed, servingCandidates, type SeatKindName } from './allocation';
import type { SeatLeaseEntity } from './entities';
import type { Webhooks } from '../../platform/webhooks/events';
import { reconcilePool, type SeatEffects, type SeatLedger } from './ledger';
import { lockAccounts, lockPools, type PoolLocks } from './ledger/locks';
import * as store from './ledger/store';

/** Who acts on seats: the session (for decisions on what it touches) and its verified account. */
export interface Caller {
  session: Session;
  account: AccountEntity;
}

/**
 * What the seat use cases (acquire.ts, lifecycle.ts, usage.ts, entitlement.ts, offline-binding.ts,
 * sweeper.ts) share: their dependencies, the device hash, and the pool arithmetic they decide
 * with under the pool's lock.
 */

export interface SeatDeps {
  ds: DataSource;
  clock: Clock;
  logger: Logger;
  appSecret: string;
  seatTimeoutSeconds: number;
  heartbeatIntervalSeconds: number;
  licenses: LicenseService;
  trials: TrialService;
  ledger: SeatLedger;
  webhooks: Webhooks;
}

/** At most one `seats.exhausted` per pool in this long (R7.4): the first refusal of a busy hour says enough. */
const EXHAUSTED_NOTICE_MS = 60 * 60_000;

export interface SeatUsageView {
  organizationId: string | null;
  total: number;
  inUse: number;
  free: number;
  updatedAt: Date;
}

export interface Source {
  poolAccountId: string;
  organizationId: string | null;
  kind: SeatKindName;
}

/** What holds a pool's seats, per license: live leases and wait-list holds. */
export type Taken = Map<string, Array<{ kind: SeatKindName }>>;

export interface PoolSnapshot {
  leases: SeatLeaseEntity[];
  taken: Taken;
  /** Whether `me` has an open entry in the pool's wait-list line. */
  mineWaiting: boolean;
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class SeatCore {
  constructor(readonly deps: SeatDeps) {}

  get now(): Date {
    return this.deps.clock.now();
  }

  /** Of a device only this keyed hash is stored (R1.10). */
  deviceHash(deviceId: string): string {
    return keyedHash(this.deps.appSecret, 'device', deviceId);
  }

  checkDevice(deviceId: string): string {
    if (deviceId.trim().length < 1 || deviceId.length > 256) throw new DomainError('BAD_USER_INPUT', { reason: 'DEVICE_ID', field: ['input', 'deviceId'] });
    return this.deviceHash(deviceId);
  }

  checkLeaseId(leaseId: string): void {
    if (!UUID.test(leaseId)) throw new AccessError('NOT_FOUND');
  }

  lapseFrom(heartbeat: Date, reservedUntil: Date | null): Date {
    const byHeartbeat = addMs(heartbeat, this.deps.seatTimeoutSeconds * SECOND);
    return reservedUntil && reservedUntil > byHeartbeat ? reservedUntil : byHeartbeat;
  }

  /** R5.3 for a seat on a trial license; anything else is unaffected. */
  async trialDay(tx: EntityManager, licenseOrId: string | LicenseEntity, now: Date): Promise<'INSIDE_WINDOW' | 'USED_DAY' | 'OVER' | 'NOT_A_TRIAL'> {
    const license = typeof licenseOrId === 'string' ? await store.readLicense(tx, licenseOrId) : licenseOrId;
    if (license?.type !== 'TRIAL') return 'NOT_A_TRIAL';
    if (!isActive(license, now)) return 'OVER';
    return this.deps.trials.useActiveDay(tx, license.id, now);
  }

  /**
   * R4.1: the account's own licenses first, then each organization it is an active member of,
   * oldest membership first; an explicit organization goes first. Also tells whether the account
   * is blocked somewhere (so that a refusal can say why).
   */
  async sourcesOf(tx: EntityManager, accountId: string, preferred: string | null): Promise<{ sources: Source[]; blockedIn: string[] }> {
    const memberships = await tx.query<Array<{ organization_id: string; status: string; owner_account_id: string }>>(
      `SELECT m.organization_id, m.status, o.owner_account_id
         FROM memberships m JOIN organizations o ON o.id = m.organization_id
        WHERE m.account_id = $1
        ORDER BY m.joined_at, m.id`,
      [accountId],
    );
    const own: Source = { poolAccountId: accountId, organizationId: null, kind: 'OWNER' };
    const orgs: Source[] = memberships
      .filter((m) => m.status === 'ACTIVE')
      .map((m) => ({ poolAccountId: m.owner_account_id, organizationId: m.organization_id, kind: 'MEMBER' }));
    const first = orgs.filter((s) => s.organizationId === preferred);
    return {
      sources: [...first, own, ...orgs.filter((s) => s.organizationId !== preferred)],
      blockedIn: memberships.filter((m) => m.status === 'BLOCKED').map((m) => m.organization_id),
    };
  }

  /**
   * A pool's live leases and what holds its seats per license: the leases, and wait-list holds
   * (R4.13) except those of `me` (a holder may use its own hold); and whether `me` is in its
   * line. Read under the pool's lock, at the time the lock was granted.
   */
  snapshot(locks: PoolLocks, poolAccountId: string, me?: string): Promise<PoolSnapshot> {
    return this.snapshotAt(locks.tx, poolAccountId, locks.now, me);
  }

  /** The same figures without the lock, for reading only (they show a moment and decide nothing). */
  async snapshotAt(tx: EntityManager, poolAccountId: string, now: Date, me?: string): Promise<PoolSnapshot> {
    const leases = await store.liveLeasesOfPool(tx, poolAccountId, now);
    const taken: Taken = new Map();
    for (const l of leases) push(taken, l.licenseId, l);
    const line = await store.waitlistLine(tx, poolAccountId);
    for (const e of line) {
      if (e.accountId === me || e.status !== 'HOLDING' || !e.licenseId || !e.holdUntil || e.holdUntil <= now) continue;
      push(taken, e.licenseId, { kind: 'MEMBER' });
    }
    return { leases, taken, mineWaiting: line.some((e) => e.accountId === me) };
  }

  /** Seats in use on the licenses that serve this kind of user, counted as the invariant counts them. */
  usageFrom(organizationId: string | null, licenses: LicenseEntity[], taken: Taken, kind: SeatKindName, now: Date): SeatUsageView {
    const serving = new Set(servingCandidates(licenses, kind, now).map((l) => l.id));
    let inUse = 0;
    for (const [id, ls] of taken) if (serving.has(id)) inUse += seatsUsed(ls);
    const total = capacity(licenses, kind, now);
    return { organizationId, total, inUse, free: Math.max(0, total - inUse), updatedAt: now };
  }

  /**
   * R7.4: a pool refused an acquire for want of seats. Inside the refusing transaction (it commits:
   * the refusal is an answer, not a failure), at most once an hour per pool, `seats.exhausted` is queued.
   */
  async seatsExhausted(tx: EntityManager, poolAccountId: string, usage: SeatUsageView, refusedAccountId: string, now: Date): Promise<void> {
    const due = await tx.query<Array<{ pool_account_id: string }>>(
      `INSERT INTO seat_exhaustion_notices (pool_account_id, notified_at) VALUES ($1, $2)
       ON CONFLICT (pool_account_id) DO UPDATE SET notified_at = EXCLUDED.notified_at
        WHERE seat_exhaustion_notices.notified_at <= $3
       RETURNING pool_account_id`,
      [poolAccountId, now, new Date(now.getTime() - EXHAUSTED_NOTICE_MS)],
    );
    if (due.length === 0) return;
    const ids = await tx.query<Array<{ id: string; user_id: string }>>('SELECT id, user_id FROM accounts WHERE id = ANY($1::uuid[])', [
      [poolAccountId, refusedAccountId],
    ]);
    const userIdOf = (id: string) => ids.find((r) => r.id === id)?.user_id ?? null;
    await this.deps.webhooks.emit(tx, {
      type: 'seats.exhausted',
      key: usage.organizationId ? `organization:${usage.organizationId}` : `account:${poolAccountId}`,
      data: {
        organizationId: usage.organizationId,
        ownerUserId: userIdOf(poolAccountId),
        refusedUserId: userIdOf(refusedAccountId),
        total: usage.total,
        inUse: usage.inUse,
        at: now.toISOString(),
      },
    });
  }

  /** R4.10 for a whole pool: leases its licenses no longer carry end, the rest pack anew. */
  async reconcilePool(locks: PoolLocks, poolAccountId: string, effects: SeatEffects): Promise<void> {
    await reconcilePool(locks, poolAccountId, effects);
  }

  /** Reconciles the lease's pool when its license no longer serves or holds more than its seats. */
  async reconcileIfOver(locks: PoolLocks, lease: SeatLeaseEntity, effects: SeatEffects): Promise<void> {
    const license = await store.readLicense(locks.tx, lease.licenseId);
    if (license && isActive(license, locks.now)) {
      const onLicense = await store.liveKindsOnLicense(locks.tx, license.id, locks.now);
      if (seatsUsed(onLicense) <= license.seats) return;
    }
    await this.reconcilePool(locks, lease.poolAccountId, effects);
  }

  /** Re-packs a pool whose owner devices are spread over several licenses; true when a lease moved. */
  async repack(locks: PoolLocks, poolAccountId: string, licenses: LicenseEntity[], leases: SeatLeaseEntity[], effects: SeatEffects): Promise<boolean> {
    if (leases.filter((l) => l.kind !== 'MEMBER').length < 2) return false;
    const { keep } = reconcile(licenses, leases, locks.now);
    const moved = leases.some((l) => keep.get(l.id) !== undefined && keep.get(l.id) !== l.licenseId);
    if (moved) await this.reconcilePool(locks, poolAccountId, effects);
    return moved;
  }

  /**
   * The caller's own lease under its account's lock and then its pool's, read again once both are
   * held (an acquire may be counting it as lapsed, or a release ending it, at this very moment).
   */
  async lockedOwnLease(tx: EntityManager, caller: Caller, leaseId: string): Promise<{ locks: PoolLocks; lease: SeatLeaseEntity }> {
    const found = await this.ownLease(tx, caller, leaseId);
    const mine = await lockAccounts(tx, this.deps.clock, [caller.account.id]);
    const locks = await lockPools(mine, this.deps.clock, [found.poolAccountId]);
    return { locks, lease: (await store.readLease(tx, found.id))! };
  }

  /** The caller's own lease (`lease:hold`), or NOT_FOUND (also for someone else's). */
  async ownLease(tx: EntityManager, caller: Caller, leaseId: string): Promise<SeatLeaseEntity> {
    this.checkLeaseId(leaseId);
    const lease = await store.readLease(tx, leaseId);
    if (!lease) throw new AccessError('NOT_FOUND');
    await caller.session.assert('lease:hold', lease);
    return lease;
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
