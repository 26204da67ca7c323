import path from 'node:path';
import type { DbTimeouts } from './platform/db/data-source';

/** Every environment setting, parsed and validated once (api-contract.md, "Configuration"). */
export interface Config {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  dataDir: string;
  publicUrl: string;
  /** Whether PUBLIC_URL was set; otherwise it follows the port (also one picked for PORT=0). */
  publicUrlExplicit: boolean;
  smtpUrl: string | undefined;
  mailFrom: string;
  shopApiToken: string | undefined;
  seatTimeoutSeconds: number;
  heartbeatIntervalSeconds: number;
  redisUrl: string | undefined;
  /** From APP_SECRET; when absent the server generates one into DATA_DIR (see platform/app-secret). */
  appSecret: string | undefined;
  testClock: boolean;
  rateLimitFactor: number;
  /** How many proxies in front append to X-Forwarded-For (0: use the socket's address). */
  trustProxyHops: number;
  logLevel: string;
  production: boolean;
  /** Largest accepted HTTP request body. */
  bodyLimitBytes: number;
  /** Connections in the database pool of one instance. */
  dbPoolSize: number;
  /** Whether this instance runs the periodic jobs on timers (`JOBS=off`: only when asked). */
  runJobs: boolean;
  /** Origins whose browsers may call `/graphql` (CORS_ORIGINS, comma-separated). */
  corsOrigins: string[];
  /** How long the process waits for the database (connect, statement, lock, idle transaction). */
  dbTimeouts: DbTimeouts;
  /** Where Standard Webhooks events are POSTed (R7.4); without it none are queued. */
  webhookUrl: string | undefined;
  /** Their signing secret (`whsec_` and base64), set exactly when `webhookUrl` is. */
  webhookSecret: string | undefined;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function num(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`${name} must be a positive number, got "${raw}"`);
  return value;
}

function flag(env: Env, name: string): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false' || raw === 'off' || raw === 'no') return false;
  if (raw === '1' || raw === 'true' || raw === 'on' || raw === 'yes') return true;
  throw new ConfigError(`${name} must be 1/0, true/false, on/off or yes/no, got "${env[name]}"`);
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

/** TRUST_PROXY: off, on (one proxy), or the number of proxies in front. */
function proxyHops(env: Env): number {
  const raw = (env.TRUST_PROXY ?? '').trim();
  if (/^\d+$/.test(raw)) return Math.min(Number(raw), 10);
  return flag(env, 'TRUST_PROXY') ? 1 : 0;
}

/** CORS_ORIGINS: comma-separated absolute origins (scheme, host and port; no path). */
function corsOrigins(env: Env): string[] {
  const raw = optional(env, 'CORS_ORIGINS');
  if (!raw) return [];
  return raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)
    .map((origin) => {
      let url: URL;
      try {
        url = new URL(origin);
      } catch {
        throw new ConfigError(`CORS_ORIGINS must list origins such as https://shop.example.com, got "${origin}"`);
      }
      if (url.origin !== origin.replace(/\/$/, '')) throw new ConfigError(`CORS_ORIGINS entries are origins without a path, got "${origin}"`);
      return url.origin;
    });
}

/**
 * WEBHOOK_URL and WEBHOOK_SECRET (R7.4): an absolute http(s) URL, and the Standard Webhooks secret
 * (`whsec_` and the base64 of at least 24 random bytes, as the specification asks) that signs for it.
 * A secret without a URL is refused too: it would read as if webhooks were on.
 */
function webhooks(env: Env): { webhookUrl: string | undefined; webhookSecret: string | undefined } {
  const webhookUrl = optional(env, 'WEBHOOK_URL');
  const webhookSecret = optional(env, 'WEBHOOK_SECRET');
  if (!webhookUrl) {
    if (webhookSecret) throw new ConfigError('WEBHOOK_SECRET is set but WEBHOOK_URL is not: set both, or neither');
    return { webhookUrl: undefined, webhookSecret: undefined };
  }
  // Neither value is echoed in an error: a receiver's URL often carries its own token.
  let url: URL;
  try {
    url = new URL(webhookUrl);
  } catch {
    throw new ConfigError('WEBHOOK_URL must be an absolute http:// or https:// URL (such as https://crm.example.com/tessera-events)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`WEBHOOK_URL must be an http:// or https:// URL, not ${url.protocol}`);
  // fetch refuses a URL with credentials: every delivery would fail, so it is said now.
  if (url.username || url.password) throw new ConfigError('WEBHOOK_URL must not carry user:password@; the signature authenticates the events');
  if (!webhookSecret) throw new ConfigError('WEBHOOK_SECRET is required when WEBHOOK_URL is set (whsec_ followed by base64, at least 24 bytes)');
  const base64 = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(webhookSecret)?.[1];
  if (!base64 || base64.length % 4 !== 0 || Buffer.from(base64, 'base64').length < 24) {
    throw new ConfigError('WEBHOOK_SECRET must be whsec_ followed by the base64 of at least 24 random bytes (e.g. whsec_$(openssl rand -base64 32))');
  }
  return { webhookUrl: url.href, webhookSecret };
}

export function loadConfig(env: Env = process.env): Config {
  const production = env.NODE_ENV === 'production';
  const port = int(env, 'PORT', 4000, 0, 65535);
  const host = optional(env, 'HOST') ?? '127.0.0.1';
  const testClock = flag(env, 'TEST_CLOCK');
  if (testClock && production) {
    throw new ConfigError('TEST_CLOCK=1 is refused when NODE_ENV=production');
  }
  const publicUrl = (optional(env, 'PUBLIC_URL') ?? `http://localhost:${port}`).replace(/\/+$/, '');
  try {
    new URL(publicUrl);
  } catch {
    throw new ConfigError(`PUBLIC_URL must be an absolute URL, got "${publicUrl}"`);
  }
  const databaseUrl = optional(env, 'DATABASE_URL');
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const logLevel = optional(env, 'LOG_LEVEL') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got "${logLevel}"`);
  }
  const appSecret = optional(env, 'APP_SECRET');
  if (appSecret !== undefined && appSecret.length < 32) {
    throw new ConfigError('APP_SECRET must be at least 32 characters long');
  }
  return {
    port,
    host,
    databaseUrl,
    dataDir: path.resolve(optional(env, 'DATA_DIR') ?? './.data'),
    publicUrl,
    publicUrlExplicit: optional(env, 'PUBLIC_URL') !== undefined,
    smtpUrl: optional(env, 'SMTP_URL'),
    mailFrom: optional(env, 'MAIL_FROM') ?? 'no-reply@localhost',
    shopApiToken: optional(env, 'SHOP_API_TOKEN'),
    seatTimeoutSeconds: int(env, 'SEAT_TIMEOUT_SECONDS', 28800, 1, 10 * 365 * 86400),
    heartbeatIntervalSeconds: int(env, 'HEARTBEAT_INTERVAL_SECONDS', 900, 1, 86400),
    redisUrl: optional(env, 'REDIS_URL'),
    appSecret,
    testClock,
    rateLimitFactor: num(env, 'RATE_LIMIT_FACTOR', 1),
    trustProxyHops: proxyHops(env),
    logLevel,
    production,
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 100 * 1024, 1024, 10 * 1024 * 1024),
    dbPoolSize: int(env, 'DB_POOL_SIZE', 10, 4, 500), // migrations and job rounds need two at once
    runJobs: (env.JOBS ?? 'on').trim().toLowerCase() !== 'off',
    corsOrigins: corsOrigins(env),
    dbTimeouts: {
      connectMs: int(env, 'DB_CONNECT_TIMEOUT_MS', 5_000, 100, 600_000),
      statementMs: int(env, 'DB_STATEMENT_TIMEOUT_MS', 15_000, 100, 3_600_000),
      lockMs: int(env, 'DB_LOCK_TIMEOUT_MS', 5_000, 100, 3_600_000),
      idleInTransactionMs: int(env, 'DB_IDLE_IN_TRANSACTION_TIMEOUT_MS', 60_000, 1_000, 3_600_000),
    },
    ...webhooks(env),
  };
}
