import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from './logger';

/**
 * APP_SECRET keys the hashes of device IDs and IP addresses. Without the setting, one is generated
 * into DATA_DIR/app-secret on first start (with a warning) and reused afterwards; several instances
 * must share one through APP_SECRET.
 */
export function resolveAppSecret(configured: string | undefined, dataDir: string, logger: Logger): string {
  if (configured) return configured;
  const file = path.join(dataDir, 'app-secret');
  try {
    const existing = fs.readFileSync(file, 'utf8').trim();
    if (existing.length >= 32) return existing;
  } catch {
    /* not there yet */
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  try {
    fs.writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
    logger.warn({ file }, 'APP_SECRET is not set: generated one into DATA_DIR; set APP_SECRET when more than one instance serves');
    return secret;
  } catch {
    // Another process wrote it first: use theirs.
    return fs.readFileSync(file, 'utf8').trim();
  }
}
