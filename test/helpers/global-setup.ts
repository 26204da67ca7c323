import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureEmbeddedPostgres } from '../../src/platform/db/embedded';
import { createLogger } from '../../src/platform/logger';

/**
 * One PostgreSQL server for the whole run: DATABASE_URL when set (CI also runs against the
 * machine's server), otherwise an embedded one in a fresh folder. Every test file then creates
 * its own database on it (see helpers/server.ts), so files never see each other's rows.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) {
    process.env.TESSERA_TEST_ADMIN_URL = process.env.DATABASE_URL;
    return;
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-test-db-'));
  const embedded = await ensureEmbeddedPostgres(dataDir, createLogger('warn'));
  process.env.TESSERA_TEST_ADMIN_URL = embedded.url;
  (globalThis as { __tesseraEmbedded?: unknown }).__tesseraEmbedded = { embedded, dataDir };
}
