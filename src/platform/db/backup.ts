import type { Config } from '../../config';
import type { Logger } from '../logger';

/**
 * `tessera backup <file>` and `tessera restore <file>` (issue 18): the embedded database or the one
 * at DATABASE_URL, consistent while the server runs. (Being written: the command line calls these.)
 */
export interface BackupResult {
  file: string;
  bytes: number;
  tables: number;
}

export interface RestoreResult {
  tables: number;
  rows: number;
}

export async function backupDatabase(config: Config, logger: Logger, file: string): Promise<BackupResult> {
  void config;
  void logger;
  throw new Error(`backup is not available yet (${file})`);
}

export async function restoreDatabase(config: Config, logger: Logger, file: string, options: { force: boolean }): Promise<RestoreResult> {
  void config;
  void logger;
  void options;
  throw new Error(`restore is not available yet (${file})`);
}
