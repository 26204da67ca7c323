import type { DataSource, EntityManager } from 'typeorm';
import type { Logger } from '../logger';

export type AfterCommit = (effect: () => unknown) => void;

/** Errors worth running the transaction again for, with the metric's label for each. */
const RETRYABLE: ReadonlyMap<string, RetryReason> = new Map([
  ['40001', 'serialization_failure'],
  ['40P01', 'deadlock'],
]);
const MAX_ATTEMPTS = 5;

export type RetryReason = 'serialization_failure' | 'deadlock';

/**
 * Who counts retries, per DataSource (one per server instance: tests run several in one process).
 * The server registers its metric here (`tessera_db_retries_total` by reason).
 */
const retryObservers = new WeakMap<DataSource, (reason: RetryReason) => void>();

export function observeRetries(ds: DataSource, observer: (reason: RetryReason) => void): void {
  retryObservers.set(ds, observer);
}

/**
 * Runs `work` in one transaction. Effects registered with `afterCommit` (emails, events) run only
 * once the transaction has committed, never from inside it, and their failures are logged, not
 * thrown at the caller whose change is already durable. Serialization failures and deadlocks are
 * retried a few times, each retry logged and counted.
 */
export async function inTransaction<T>(ds: DataSource, logger: Logger, work: (tx: EntityManager, afterCommit: AfterCommit) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const effects: Array<() => unknown> = [];
    try {
      const result = await ds.transaction((tx) => work(tx, (effect) => effects.push(effect)));
      for (const effect of effects) {
        Promise.resolve()
          .then(effect)
          .catch((err: unknown) => logger.error({ err }, 'an after-commit effect failed'));
      }
      return result;
    } catch (err) {
      const code = (err as { code?: string; driverError?: { code?: string } }).driverError?.code ?? (err as { code?: string }).code;
      const reason = code ? RETRYABLE.get(code) : undefined;
      if (!reason) throw err;
      if (attempt >= MAX_ATTEMPTS) {
        logger.error({ reason, attempts: attempt, err: (err as Error).message }, 'transaction failed after retries');
        throw err;
      }
      // Never silent: a deadlock is a bug in lock order (R4.8 says seat transactions never
      // deadlock), a serialization failure a sign of contention; both are logged and counted.
      retryObservers.get(ds)?.(reason);
      logger.warn({ reason, attempt, err: (err as Error).message }, 'transaction retried');
    }
  }
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string; driverError?: { code?: string; constraint?: string } };
  const code = e.driverError?.code ?? e.code;
  const name = e.driverError?.constraint ?? e.constraint;
  return code === '23505' && (constraint === undefined || name === constraint);
}

/**
 * Runs `attempt` again when it lost a race for a freshly generated random identifier (public IDs,
 * invite codes): the check-then-insert is exact except for two requests drawing the same value
 * at the same moment, which the unique index turns into an error worth one more draw.
 */
export async function retryOnUniqueRandom<T>(constraints: string[], attempt: () => Promise<T>, tries = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (i < tries && constraints.some((c) => isUniqueViolation(err, c))) continue;
      throw err;
    }
  }
}
