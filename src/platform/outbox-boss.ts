import type { PgBoss as PgBossInstance } from 'pg-boss' with { 'resolution-mode': 'import' };
import type { EntityManager } from 'typeorm';
import type { Logger } from './logger';

// pg-boss is an ES module; Node 20.19+ loads it with require() (tests: jest.config.js transforms it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { PgBoss } = require('pg-boss') as { PgBoss: typeof PgBossInstance };

/** The schema of the durable outbox's queues (mail and webhooks), pg-boss's own tables. */
export const OUTBOX_SCHEMA = 'tessera_outbox';

export interface OutboxStats {
  queued: number;
  failed: number;
  oldestQueuedSeconds: number;
}

/** How an outbox reaches the database: its own small pool, with the server's bounds on waits. */
export interface OutboxConnection {
  databaseUrl: string;
  /** `application_name` of its connections, and the name in its log lines. */
  name: string;
  logger: Logger;
  /** Whether this process delivers (a server: LISTEN/NOTIFY and supervision) or only enqueues (a one-off command). */
  work: boolean;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

/**
 * A started pg-boss instance for one outbox (mail or webhooks): three connections, the server's
 * statement and lock timeouts, supervision (a dead worker's job handed on within about half a
 * minute) only where jobs are worked, no cron.
 */
export async function startOutboxBoss(c: OutboxConnection): Promise<PgBossInstance> {
  const boss = new PgBoss({
    connectionString: c.databaseUrl,
    schema: OUTBOX_SCHEMA,
    application_name: c.name,
    max: 3,
    connectionTimeoutMillis: c.connectTimeoutMs,
    options: `-c statement_timeout=${c.statementTimeoutMs} -c lock_timeout=${c.lockTimeoutMs}`,
    useListenNotify: c.work,
    supervise: c.work,
    schedule: false,
    superviseIntervalSeconds: 5,
    monitorIntervalSeconds: 5,
    registerInstance: false,
  });
  boss.on('error', (err: Error) => c.logger.warn({ err }, `${c.name}: database error (it retries)`));
  await boss.start();
  return boss;
}

/** pg-boss's `db` option that runs its insert inside the caller's TypeORM transaction. */
export function inTransactionDb(tx: EntityManager): { executeSql: (text: string, values?: unknown[]) => Promise<{ rows: unknown[] }> } {
  const runner = tx.queryRunner;
  if (!runner) throw new Error('the outbox queues only inside a transaction');
  return { executeSql: async (text, values) => ({ rows: (await runner.query(text, values, true)).records as unknown[] }) };
}

/** Queued (waiting, due for a retry or being worked), failed for good, and the age of the oldest queued job of a queue. */
export async function outboxStats(query: (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>, queue: string): Promise<OutboxStats> {
  const [row] = await query(
    `SELECT count(*) FILTER (WHERE state IN ('created', 'retry', 'active'))::int AS queued,
            count(*) FILTER (WHERE state = 'failed')::int AS failed,
            COALESCE(EXTRACT(EPOCH FROM now() - min(created_on) FILTER (WHERE state IN ('created', 'retry', 'active'))), 0)::float8 AS oldest
       FROM ${OUTBOX_SCHEMA}.job WHERE name = $1`,
    [queue],
  );
  return { queued: Number(row.queued), failed: Number(row.failed), oldestQueuedSeconds: Number(row.oldest) };
}
