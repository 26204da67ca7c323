import 'reflect-metadata';
import { DataSource, type EntityManager } from 'typeorm';
import { migrations } from '../../../migrations';
import { accountEntities } from '../../modules/accounts/entities';
import { licenseEntities } from '../../modules/licenses/entities';
import { organizationEntities } from '../../modules/organizations/entities';
import { seatEntities } from '../../modules/seats/entities';
import { trialEntities } from '../../modules/trials/entities';
import type { Logger } from '../logger';

export const entities = [...accountEntities, ...licenseEntities, ...organizationEntities, ...seatEntities, ...trialEntities];

export function createDataSource(url: string, poolSize: number): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities,
    migrations,
    synchronize: false,
    migrationsRun: false,
    migrationsTransactionMode: 'each',
    logging: false,
    extra: { max: poolSize, application_name: 'tessera' },
  });
}

/** Applies pending migrations; safe when several instances start at once (advisory lock). */
export async function migrate(ds: DataSource, logger: Logger): Promise<string[]> {
  const runner = ds.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const applied = await ds.runMigrations({ transaction: 'each' });
    for (const m of applied) logger.info({ migration: m.name }, 'migration applied');
    return applied.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
}

export async function pendingMigrations(ds: DataSource): Promise<boolean> {
  return ds.showMigrations();
}

/** Advisory lock keys (one number per purpose, so that jobs never collide). */
export const MIGRATION_LOCK = 7_100_001;

export type Tx = EntityManager;

/** The `pg` pool behind TypeORM, for metrics. */
export function poolOf(ds: DataSource): { totalCount: number; idleCount: number; waitingCount: number } | undefined {
  const driver = ds.driver as unknown as { master?: { totalCount: number; idleCount: number; waitingCount: number } };
  return driver.master;
}
