import type { EntityManager } from 'typeorm';
import type { Clock } from '../../../platform/clock';

/**
 * The seat ledger's locks (R4.8). Two kinds, both PostgreSQL advisory locks held until the
 * transaction ends:
 *
 * - an account's seat lock: one account's seat changes (its acquires, retries included, and
 *   whatever ends its seats: blocking, removal, logging out everywhere) run one after another;
 * - a pool's lock: whatever decides on a pool's seats (acquire, heartbeat near lapse, release,
 *   reservation, wait-list, sweeping) runs alone on that pool.
 *
 * Why advisory locks and not the pool owner's row (`SELECT … FROM accounts … FOR UPDATE`, as
 * before): a row lock on `accounts` conflicts with the key-share lock that every insert into a
 * table with a foreign key to `accounts` takes (memberships, audit entries, tokens, leases
 * themselves), so seat transactions and ordinary inserts could wait for each other in a cycle
 * (40P01). `FOR NO KEY UPDATE` would avoid the key-share conflict but still conflict with every
 * ordinary UPDATE of the account row (profile, verification), coupling seats to unrelated writes.
 * An advisory lock touches no row: it conflicts only with itself.
 *
 * Writes that can take or keep a seat (a new lease, a heartbeat near its lapse, a move, a
 * reservation, a wait-list hold) need the pool's lock. Ending leases needs either the pool's lock
 * or the lock of the account whose leases end: freeing a seat cannot break R4.8, and that
 * account's own acquires still wait for it. Releasing, the hot path, ends one row under the
 * account's lock and so never queues behind the pool's acquires; endings of several rows take the
 * pools' locks as well, so that two multi-row writes never lock lease rows in opposite orders.
 * (A release racing R4.10's packing is equivalent to the release coming just after it.)
 *
 * Deadlock freedom among seat transactions comes from one order: a transaction takes its account
 * locks (once, sorted), then its pool locks (once, sorted by the lock key itself, so that two IDs
 * sharing a key cannot invert the order). Both rules are checked here at run time; the proofs
 * returned are the only way to call the ledger's writes, so that a write without the lock does
 * not compile.
 */

export const ACCOUNT_LOCK_NAMESPACE = 7_100_020;
export const POOL_LOCK_NAMESPACE = 7_100_021;

const HEX8 = /^[0-9a-f]{8}$/i;

/**
 * The lock key of an account or pool: the UUID's first 32 bits as a signed integer. Random v4
 * UUIDs spread evenly; two IDs that share a key only share a lock (more waiting, never less
 * safety).
 */
export function lockKey(id: string): number {
  const hex = id.slice(0, 8);
  if (!HEX8.test(hex)) throw new Error(`seat lock: not a UUID: ${id}`);
  return parseInt(hex, 16) | 0;
}

declare const accountProof: unique symbol;
declare const poolProof: unique symbol;

/**
 * Proof that the transaction holds these accounts' seat locks, with the clock's time read once
 * they were granted. Enough for writes that only free these accounts' seats (a release): they
 * can never put a pool over its seats, and the account's own acquires wait for them.
 */
export interface AccountLocks {
  readonly [accountProof]: true;
  readonly tx: EntityManager;
  readonly accounts: ReadonlySet<string>;
  readonly now: Date;
}

/**
 * Proof that the transaction holds these pools' locks, with the clock's time read once they were
 * granted: everything decided under the locks is judged by `now`, never by a time read before
 * the wait (R4.8: a license that ended while the acquire waited serves nobody).
 */
export interface PoolLocks {
  readonly [poolProof]: true;
  readonly tx: EntityManager;
  readonly pools: ReadonlySet<string>;
  readonly now: Date;
}

type Stage = 'accounts' | 'pools';
const stages = new WeakMap<EntityManager, Stage>();

async function take(tx: EntityManager, namespace: number, ids: Iterable<string>): Promise<void> {
  const keys = [...new Set([...ids].map(lockKey))].sort((a, b) => a - b);
  if (keys.length === 0) return;
  // One round trip; rows are produced (and locks taken) in the array's order.
  await tx.query('SELECT pg_advisory_xact_lock($1::int, k) FROM unnest($2::int[]) WITH ORDINALITY AS t(k, n) ORDER BY n', [namespace, keys]);
}

/** Takes the seat locks of these accounts. Once per transaction, before any pool lock. */
export async function lockAccounts(tx: EntityManager, clock: Clock, accountIds: string[]): Promise<AccountLocks> {
  const stage = stages.get(tx);
  if (stage) throw new Error(`seat lock order: account locks requested after ${stage} locks in the same transaction`);
  stages.set(tx, 'accounts');
  await take(tx, ACCOUNT_LOCK_NAMESPACE, accountIds);
  return { tx, accounts: new Set(accountIds), now: clock.now() } as unknown as AccountLocks;
}

/**
 * Takes the locks of these pools (pool owners' account IDs) and reads the clock once they are
 * held. Once per transaction, after the account locks if any.
 */
export async function lockPools(tx: EntityManager | AccountLocks, clock: Clock, poolIds: string[]): Promise<PoolLocks> {
  const manager = isAccountLocks(tx) ? tx.tx : tx;
  if (stages.get(manager) === 'pools') throw new Error('seat lock order: pool locks requested twice in the same transaction');
  stages.set(manager, 'pools');
  await take(manager, POOL_LOCK_NAMESPACE, poolIds);
  return { tx: manager, pools: new Set(poolIds), now: clock.now() } as unknown as PoolLocks;
}

export function isAccountLocks(x: EntityManager | AccountLocks | PoolLocks): x is AccountLocks {
  return 'accounts' in x && 'tx' in x;
}

/** Throws unless the proof covers the pool: a write outside its locks is a bug, not a race to lose. */
export function assertLocked(locks: PoolLocks, poolAccountId: string): void {
  if (!locks.pools.has(poolAccountId)) throw new Error(`seat ledger: pool ${poolAccountId} is not locked by this transaction`);
}
