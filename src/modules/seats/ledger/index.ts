import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../../platform/clock';
import { inTransaction, type AfterCommit } from '../../../platform/db/transaction';
import type { Events } from '../../../platform/events';
import type { Logger } from '../../../platform/logger';
import type { LeaseEndReasonName, SeatLeaseEntity } from '../entities';
import { reconcile } from '../allocation';
import { lockAccounts, lockPools, type PoolLocks } from './locks';
import * as store from './store';
import type { EndedLease } from './store';

/**
 * The seat ledger's public surface (architecture.md, "The seat ledger"). The ledger alone locks
 * pools and writes `seat_leases` and `waitlist_entries`; other modules end seats through the
 * methods here, inside their own transaction, and the ledger registers the events to publish
 * once that transaction has committed. The seat module's use cases (acquire.ts, lifecycle.ts, …)
 * use the ledger's internals (locks.ts, store.ts) directly; nothing else may (ESLint's
 * restricted imports).
 */

export { ACCOUNT_LOCK_NAMESPACE, POOL_LOCK_NAMESPACE, lockKey } from './locks';
export type { EndedLease } from './store';
/** The lock-free heartbeat statement, for the benchmark's direct-SQL baseline (bench/seats.ts). */
export { HEARTBEAT_FAST_SQL } from './store';

/** A transaction of another module, with its after-commit hook. */
export interface UnitOfWork {
  tx: EntityManager;
  afterCommit: AfterCommit;
}

/** What a seat transaction tells subscribers once it has committed (R7.2, R7.3). */
export interface SeatEffects {
  /** Ended for a reason the app must hear of (lapse, takeover, shrink, an administrator, support…). */
  ended(leases: EndedLease[]): void;
  /** Ended by the app's own release: only the pool's figures change. */
  released(leases: EndedLease[]): void;
  /** The pool's figures changed. */
  pool(poolAccountId: string): void;
}

export interface SeatLedgerDeps {
  ds: DataSource;
  clock: Clock;
  logger: Logger;
  events: Events;
}

/** R4.12 reasons other modules end seats with. */
export type ForeignEndReason = Extract<LeaseEndReasonName, 'LOGGED_OUT' | 'MEMBERSHIP_ENDED' | 'ENDED_BY_ADMIN' | 'SUPPORT' | 'LICENSE_ENDED'>;

export class SeatLedger {
  constructor(private readonly deps: SeatLedgerDeps) {}

  /** Collects a transaction's seat effects and publishes them after it commits. */
  effects(afterCommit: AfterCommit): SeatEffects {
    const ended: EndedLease[] = [];
    const pools = new Set<string>();
    let registered = false;
    const register = () => {
      if (registered) return;
      registered = true;
      afterCommit(() => {
        this.deps.events.leasesEnded(ended);
        for (const pool of pools) this.deps.events.poolChanged(pool);
      });
    };
    return {
      ended: (leases) => {
        register();
        ended.push(...leases);
      },
      released: (leases) => {
        register();
        for (const l of leases) pools.add(l.poolAccountId);
      },
      pool: (poolAccountId) => {
        register();
        pools.add(poolAccountId);
      },
    };
  }

  /** A seat transaction: `work` runs in one transaction; what it tells is published after commit. */
  run<T>(work: (tx: EntityManager, effects: SeatEffects) => Promise<T>): Promise<T> {
    return inTransaction(this.deps.ds, this.deps.logger, (tx, afterCommit) => work(tx, this.effects(afterCommit)));
  }

  /** A transaction of its own for the ledger's methods below (when no other module's transaction is open). */
  transaction<T>(work: (work: UnitOfWork) => Promise<T>): Promise<T> {
    return inTransaction(this.deps.ds, this.deps.logger, (tx, afterCommit) => work({ tx, afterCommit }));
  }

  /**
   * R3.4: a blocked, removed or departed member's seats of an organization end at once
   * (offline reservations and offline-bound seats too) and its place on the wait-list goes.
   * Under the member's seat lock and the pool's lock, so that an acquire running at the same
   * moment either finishes first (and its seat ends here) or sees the change.
   */
  async endMemberSeats(work: UnitOfWork, org: { id: string; ownerAccountId: string }, accountId: string): Promise<EndedLease[]> {
    const mine = await lockAccounts(work.tx, this.deps.clock, [accountId]);
    const locks = await lockPools(mine, this.deps.clock, [org.ownerAccountId]);
    const effects = this.effects(work.afterCommit);
    const cancelled = await store.closeWaitlistEntries(locks, { organizationId: org.id, accountId }, 'CANCELLED');
    const ended = await store.endLeases(locks, { accountId, organizationId: org.id }, 'MEMBERSHIP_ENDED', { includeOfflineBound: true });
    effects.ended(ended);
    if (cancelled > 0) effects.pool(org.ownerAccountId);
    return ended;
  }

  /**
   * Ends the seats of an account (R4.11 logging out everywhere and a password reset:
   * offline-bound seats stay, R6.4; support: `includeOfflineBound`), optionally only those on one
   * license (R8: the broken-computer case).
   */
  async endAccountSeats(
    work: UnitOfWork,
    accountId: string,
    reason: ForeignEndReason,
    options: { includeOfflineBound?: boolean; licenseId?: string; leaseId?: string } = {},
  ): Promise<EndedLease[]> {
    const mine = await lockAccounts(work.tx, this.deps.clock, [accountId]);
    // Several rows at once: under their pools' locks too, so that this UPDATE never locks rows
    // in another order than a pool's own multi-row writes (R4.10 packing, the sweeper) at the
    // same moment. Under the account's lock no new lease of it can start: these are all the pools.
    const pools = await store.poolsOfOpenLeases(work.tx, accountId);
    if (pools.length === 0) return [];
    const locks = await lockPools(mine, this.deps.clock, pools);
    const ended = await store.endLeases(
      locks,
      { accountId, licenseId: options.licenseId, ids: options.leaseId ? [options.leaseId] : undefined },
      reason,
      options,
    );
    this.effects(work.afterCommit).ended(ended);
    return ended;
  }

  /**
   * R3.4 `endSeat`: an administrator ends one member's live seat of an organization (reason
   * `ENDED_BY_ADMIN`). `authorize` is told the lease's organization and holder and answers the
   * organization when the caller administers it (it throws otherwise); a lease of no
   * organization is null. Answers the lease as it is afterwards and whether it ended now.
   */
  async endOrganizationSeat(
    work: UnitOfWork,
    leaseId: string,
    authorize: (organizationId: string, accountId: string) => Promise<{ id: string; ownerAccountId: string }>,
  ): Promise<{ lease: SeatLeaseEntity; endedNow: boolean } | null> {
    const before = await store.readLease(work.tx, leaseId);
    if (!before?.organizationId || !before.accountId) return null;
    const org = await authorize(before.organizationId, before.accountId);
    const mine = await lockAccounts(work.tx, this.deps.clock, [before.accountId]);
    const locks = await lockPools(mine, this.deps.clock, [org.ownerAccountId]);
    const ended = await store.endLeases(locks, { ids: [leaseId], organizationId: org.id }, 'ENDED_BY_ADMIN', { includeOfflineBound: true });
    this.effects(work.afterCommit).ended(ended);
    const lease = (await store.readLease(work.tx, leaseId))!;
    return { lease, endedNow: ended.length > 0 && lease.endReason === 'ENDED_BY_ADMIN' };
  }

  /**
   * R8.5: an account is deleted. Every seat it holds ends (offline-bound ones too, reason
   * `SUPPORT`), its places on wait-lists go, and so does every place on its own pool's wait-list
   * (an organization it owned is dissolved). Under its seat lock and the pools' locks.
   */
  async endAccount(work: UnitOfWork, accountId: string): Promise<EndedLease[]> {
    const mine = await lockAccounts(work.tx, this.deps.clock, [accountId]);
    const pools = new Set([accountId, ...(await store.poolsOfOpenLeases(work.tx, accountId)), ...(await store.poolsOfWaitlistEntries(work.tx, accountId))]);
    const locks = await lockPools(mine, this.deps.clock, [...pools]);
    const effects = this.effects(work.afterCommit);
    const cancelled = await store.cancelAccountWaitlistEntries(locks, accountId);
    const ended = await store.endLeases(locks, { accountId }, 'SUPPORT', { includeOfflineBound: true });
    effects.ended(ended);
    if (cancelled > 0) for (const pool of pools) effects.pool(pool);
    return ended;
  }

  /**
   * R2.11, R4.10, R8: licenses of these pools change (renewed with other seats, revoked, moved to
   * another account). Under the pools' locks `change` writes them; then each pool is reconciled: the
   * leases its licenses no longer carry end at once with `LICENSE_ENDED` (newest member sessions
   * first), and the apps hear it, rather than at their next heartbeat; the rest pack anew.
   */
  async changeLicenses<T>(work: UnitOfWork, poolAccountIds: string[], change: () => Promise<T>): Promise<{ result: T; ended: EndedLease[] }> {
    const locks = await lockPools(work.tx, this.deps.clock, poolAccountIds);
    const result = await change();
    const effects = this.effects(work.afterCommit);
    const ended: EndedLease[] = [];
    for (const pool of poolAccountIds) {
      effects.pool(pool);
      ended.push(...(await reconcilePool(locks, pool, effects)));
    }
    return { result, ended };
  }

  /** Which of these members hold a live seat of their organization now, in one statement (a loader's batch). */
  async membersUsingSeats(pairs: ReadonlyArray<{ organizationId: string; accountId: string }>): Promise<boolean[]> {
    const using = await store.membersUsingSeats(this.deps.ds.manager, pairs, this.deps.clock.now());
    return pairs.map((p) => using.has(`${p.organizationId}:${p.accountId}`));
  }
}

/** R4.10 for a whole pool, under its lock: leases its licenses no longer carry end (told to `effects`), the rest pack anew. */
export async function reconcilePool(locks: PoolLocks, poolAccountId: string, effects: SeatEffects): Promise<EndedLease[]> {
  const licenses = await store.licensesOfPool(locks.tx, poolAccountId);
  const leases = await store.liveLeasesOfPool(locks.tx, poolAccountId, locks.now);
  const { keep, end } = reconcile(licenses, leases, locks.now);
  for (const lease of leases) {
    const target = keep.get(lease.id);
    if (target && target !== lease.licenseId) await store.moveLease(locks, lease, target);
  }
  if (end.length === 0) return [];
  const ended = await store.endLeases(locks, { ids: end, poolAccountId }, 'LICENSE_ENDED', { includeOfflineBound: true });
  effects.ended(ended);
  return ended;
}
