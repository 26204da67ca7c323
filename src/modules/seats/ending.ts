import type { EntityManager } from 'typeorm';
import type { LeaseEndReasonName } from './entities';
import { returningRows } from './sql';

/** The advisory lock that serializes one account's seat changes: acquires, and whatever ends its seats. */
export const SEAT_LOCK_NAMESPACE = 7_100_020;

/**
 * Takes the account's seat lock inside `tx`, so that ending its seats (block, removal, leaving,
 * logging out everywhere) cannot interleave with an acquire that read the old state.
 */
export async function lockAccountSeats(tx: EntityManager, accountId: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SEAT_LOCK_NAMESPACE, accountId]);
}

/**
 * Ends unended leases matching a condition, with a reason (R4.12). Used by the seats module and by
 * the modules whose actions end seats: blocking or removing a member (R3.4), logging out
 * everywhere (R4.11). Offline-bound seats are left alone unless `includeOfflineBound` (support).
 * Returns the ended leases (for the events published after commit).
 */
export async function endLeases(
  tx: EntityManager,
  where: { accountId?: string; organizationId?: string; poolAccountId?: string; ids?: string[] },
  reason: LeaseEndReasonName,
  now: Date,
  options: { includeOfflineBound?: boolean } = {},
): Promise<EndedLease[]> {
  const conditions = ['ended_at IS NULL'];
  const params: unknown[] = [now, reason];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    conditions.push(sql.replace('?', `$${params.length}`));
  };
  if (where.accountId) add('account_id = ?', where.accountId);
  if (where.organizationId) add('organization_id = ?', where.organizationId);
  if (where.poolAccountId) add('pool_account_id = ?', where.poolAccountId);
  if (where.ids) add('id = ANY(?::uuid[])', where.ids);
  if (!options.includeOfflineBound) conditions.push("kind <> 'OFFLINE_BOUND'");
  // A lease that had already lapsed ended then, as TIMED_OUT, whatever happens to it now.
  const rows = (await tx.query(
    `UPDATE seat_leases
        SET ended_at = CASE WHEN lapses_at IS NOT NULL AND lapses_at <= $1 THEN lapses_at ELSE $1 END,
            end_reason = CASE WHEN lapses_at IS NOT NULL AND lapses_at <= $1 THEN 'TIMED_OUT' ELSE $2 END
      WHERE ${conditions.join(' AND ')}
      RETURNING id, pool_account_id`,
    params,
  )) as unknown;
  return returningRows(rows).map((r) => ({ id: r.id as string, poolAccountId: r.pool_account_id as string }));
}

export interface EndedLease {
  id: string;
  poolAccountId: string;
}
