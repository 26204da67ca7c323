import type { DataSource, EntityManager } from 'typeorm';
import type { Logger } from '../logger';

export type AfterCommit = (effect: () => unknown) => void;

const RETRYABLE = new Set(['40001', '40P01']); // serialization failure, deadlock

/**
 * Runs `work` in one transaction. Effects registered with `afterCommit` (emails, events) run only
 * once the transaction has committed, never from inside it, and their failures are logged, not
 * thrown at the caller whose change is already durable. Serialization failures and deadlocks are
 * retried a few times.
 */
export async function inTransaction<T>(
  ds: DataSource,
  logger: Logger,
  work: (tx: EntityManager, afterCommit: AfterCommit) => Promise<T>,
): Promise<T> {
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
      if (code && RETRYABLE.has(code) && attempt < 5) continue;
      throw err;
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
