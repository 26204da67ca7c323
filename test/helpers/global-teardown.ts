import fs from 'node:fs';
import type { EmbeddedPostgres } from '../../src/platform/db/embedded';

export default async function globalTeardown(): Promise<void> {
  const held = (globalThis as { __tesseraEmbedded?: { embedded: EmbeddedPostgres; dataDir: string } }).__tesseraEmbedded;
  if (!held) return;
  await held.embedded.stop();
  fs.rmSync(held.dataDir, { recursive: true, force: true });
}
