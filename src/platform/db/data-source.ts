import 'reflect-metadata';
import pg from 'pg';
import { DataSource, type EntityManager } from 'typeorm';
import type { PostgresDataSourceOptions } from 'typeorm/driver/postgres/PostgresDataSourceOptions';
import { migrations } from '../../../migrations';
import { accountEntities } from '../../modules/accounts/entities';
import { licenseEntities } from '../../modules/licenses/entities';
import { organizationEntities } from '../../modules/organizations/entities';
import { seatEntities } from '../../modules/seats/entities';
import { trialEntities } from '../../modules/trials/entities';
import type { Logger } from '../logger';

export const entities = [...accountEntities, ...licenseEntities, ...organizationEntities, ...seatEntities, ...trialEntities];

/** How long the process waits for the database, each in milliseconds (0: no limit). */
export interface DbTimeouts {
  /** A new connection, and a free one from a full pool (`DB_CONNECT_TIMEOUT_MS`). */
  connectMs: number;
  /** One statement, on the server (`DB_STATEMENT_TIMEOUT_MS`); the client gives up a little later. */
  statementMs: number;
  /** One wait for a lock, row or advisory (`DB_LOCK_TIMEOUT_MS`). */
  lockMs: number;
  /** A transaction left open with nothing running (`DB_IDLE_IN_TRANSACTION_TIMEOUT_MS`). */
  idleInTransactionMs: number;
}

export const DEFAULT_DB_TIMEOUTS: DbTimeouts = { connectMs: 5_000, statementMs: 15_000, lockMs: 5_000, idleInTransactionMs: 60_000 };

/** How much later than the server's statement timeout the client stops waiting for an answer. */
const CLIENT_GRACE_MS = 2_000;

/**
 * A `pg` client that, when it gave up waiting for an answer (`query_timeout`: the server is frozen
 * or the network is gone), closes its connection instead of keeping it: the late answer of the
 * abandoned statement would otherwise meet the next user of the connection. Closing makes the
 * pool (and TypeORM's query runner, which listens for the error) drop it.
 */
class GuardedClient extends pg.Client {}
type AnyQuery = (this: pg.Client, ...args: unknown[]) => unknown;
(GuardedClient.prototype as unknown as { query: AnyQuery }).query = function guardedQuery(this: pg.Client, ...args: unknown[]): unknown {
  // Looked up at every call, not kept from load time: whatever wraps `pg.Client.prototype.query`
  // (the statement counter of test/integration/seat-queries.test.ts) sees these statements too.
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with `apply(this)`
  const baseQuery = pg.Client.prototype.query as AnyQuery;
  const result = baseQuery.apply(this, args);
  if (result && typeof (result as Promise<unknown>).then === 'function') {
    (result as Promise<unknown>).catch((err: unknown) => {
      if ((err as Error)?.message === 'Query read timeout') {
        // Not `end()`: that waits for the frozen server. `connection` is pg's internal socket wrapper.
        // Marked unusable first: TypeORM releases the client before the socket's error arrives,
        // and pg-pool drops a client that is not `_queryable` instead of handing it out again.
        const self = this as unknown as { _queryable: boolean; connection?: { stream?: { destroy(err?: Error): void } } };
        self._queryable = false;
        self.connection?.stream?.destroy(new Error('the database did not answer in time; connection dropped'));
      }
    });
  }
  return result;
};

export function createDataSource(url: string, poolSize: number, timeouts: DbTimeouts = DEFAULT_DB_TIMEOUTS): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities,
    migrations,
    synchronize: false,
    migrationsRun: false,
    migrationsTransactionMode: 'each',
    logging: false,
    extra: {
      max: poolSize,
      application_name: 'tessera',
      Client: GuardedClient,
      connectionTimeoutMillis: timeouts.connectMs,
      // Sent as startup parameters: every session of the pool has them.
      statement_timeout: timeouts.statementMs,
      lock_timeout: timeouts.lockMs,
      idle_in_transaction_session_timeout: timeouts.idleInTransactionMs,
      query_timeout: timeouts.statementMs > 0 ? timeouts.statementMs + CLIENT_GRACE_MS : 0,
      keepAlive: true,
    },
  });
}

/**
 * Applies pending migrations; safe when several instances start at once (advisory lock). Runs on
 * its own short-lived connections without statement or lock timeouts: a migration may rewrite a
 * large table, and a second instance waits for the first one's migrations as long as they take.
 */
export async function migrate(ds: DataSource, logger: Logger): Promise<string[]> {
  const options = ds.options as PostgresDataSourceOptions;
  const extra = options.extra as Record<string, unknown> | undefined;
  const migrator = new DataSource({
    ...options,
    extra: { ...extra, max: 2, statement_timeout: 0, lock_timeout: 0, query_timeout: 0, idle_in_transaction_session_timeout: 0 },
  });
  await migrator.initialize();
  const runner = migrator.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const applied = await migrator.runMigrations({ transaction: 'each' });
    for (const m of applied) logger.info({ migration: m.name }, 'migration applied');
    return applied.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
    await migrator.destroy();
  }
}

export async function pendingMigrations(ds: DataSource): Promise<boolean> {
  return ds.showMigrations();
}

/** Advisory lock keys (one number per purpose, so that jobs never collide). */
export const MIGRATION_LOCK = 7_100_001;

export type Tx = EntityManager;

/** The URL a DataSource connects to (the outbox opens its own pool on the same database). */
export function databaseUrlOf(ds: DataSource): string {
  const url = (ds.options as PostgresDataSourceOptions).url;
  if (!url) throw new Error('the DataSource has no URL');
  return url;
}

/**
 * `SELECT 1` with a read timeout of its own, on the pool behind TypeORM: when the database does not
 * answer, the probe's connection is dropped when the probe gives up (pg-pool removes a client
 * released with an error), not held for the full statement timeout.
 */
export async function probeDatabase(ds: DataSource, timeoutMs: number): Promise<void> {
  const pool = (ds.driver as unknown as { master?: pg.Pool }).master;
  if (!pool) throw new Error('the DataSource is not initialized');
  // `query_timeout` per query is pg's (ConnectionParameters / Client.query), not in its type definitions.
  await pool.query({ text: 'SELECT 1', query_timeout: timeoutMs } as pg.QueryConfig);
}

/** The `pg` pool behind TypeORM, for metrics. */
export function poolOf(ds: DataSource): { totalCount: number; idleCount: number; waitingCount: number } | undefined {
  const driver = ds.driver as unknown as { master?: { totalCount: number; idleCount: number; waitingCount: number } };
  return driver.master;
}
