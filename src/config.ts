import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';
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

/**
 * A configuration mistake. The message names every setting at fault and what it expects (one line
 * per problem when there are several); `problems` holds them one by one.
 */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(message: string, problems: string[] = [message], options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConfigError';
    this.problems = problems;
  }

  /** All problems in one error: the single one as it is, several as a list. */
  static of(problems: string[]): ConfigError {
    if (problems.length === 1) return new ConfigError(problems[0], problems);
    return new ConfigError(`${problems.length} problems in the configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, problems);
  }
}

type Env = Record<string, string | undefined>;

/*
 * The schema: one zod schema per environment variable. Each takes the raw value (undefined when the
 * variable is unset; blank counts as unset, surrounding spaces are dropped) and yields the parsed value or
 * its default. An issue's message says what is expected without the name; the name is put in front
 * when the problems are collected (`PORT must be an integer, got "eighty"`). Values that may carry a
 * password or a token (URLs, secrets) are never echoed in a message.
 */

const raw = z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined), z.string().optional());

type Ctx = z.RefinementCtx;

function issue(ctx: Ctx, message: string): void {
  ctx.addIssue({ code: z.ZodIssueCode.custom, message });
}

/** Adds the issue; what a transform returns then (zod discards it). */
function fail(ctx: Ctx, message: string): never {
  issue(ctx, message);
  return z.NEVER;
}

function integer(fallback: number, min: number, max: number) {
  return raw.transform((value, ctx) => {
    if (value === undefined) return fallback;
    if (!/^-?\d+$/.test(value)) return fail(ctx, `must be an integer, got "${value}"`);
    const n = Number(value);
    if (n < min || n > max) return fail(ctx, `must be between ${min} and ${max}, got ${n}`);
    return n;
  });
}

function positiveNumber(fallback: number) {
  return raw.transform((value, ctx) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) return fail(ctx, `must be a positive number, got "${value}"`);
    return n;
  });
}

const FLAG_WORDS = '1/0, true/false, on/off or yes/no';

function flagValue(value: string): boolean | undefined {
  const v = value.toLowerCase();
  if (v === '0' || v === 'false' || v === 'off' || v === 'no') return false;
  if (v === '1' || v === 'true' || v === 'on' || v === 'yes') return true;
  return undefined;
}

const flag = raw.transform((value, ctx) => {
  if (value === undefined) return false;
  return flagValue(value) ?? fail(ctx, `must be ${FLAG_WORDS}, got "${value}"`);
});

function oneOf<const T extends readonly [string, ...string[]]>(words: T, fallback: T[number] | undefined, what = `one of ${words.join(', ')}`) {
  return raw.transform((value, ctx): T[number] | undefined => {
    if (value === undefined) return fallback;
    if (!(words as readonly string[]).includes(value)) return fail(ctx, `must be ${what}; got "${value}"`);
    return value;
  });
}

/** An absolute URL with one of `protocols`; `example` shows one. The value itself is not echoed. */
function urlOf(protocols: string[], example: string, options: { needsHost?: boolean } = {}) {
  const kinds = `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`;
  return raw.transform((value, ctx) => {
    if (value === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return fail(ctx, `must be ${kinds}, such as ${example}; the value set is not a URL`);
    }
    if (!protocols.includes(url.protocol)) return fail(ctx, `must be ${kinds}, such as ${example}; not ${url.protocol}//…`);
    if (options.needsHost && !url.hostname) return fail(ctx, `must name a host, such as ${example}`);
    return value;
  });
}

function secret(minLength: number, what: string) {
  return raw.transform((value, ctx) => {
    if (value !== undefined && value.length < minLength) return fail(ctx, `must be at least ${minLength} characters long (${what}); it has ${value.length}`);
    return value;
  });
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
/** `someone@example.com` or `Display Name <someone@example.com>`. */
const MAILBOX = /^(?:(?:"[^"]*"|[^<>@"])*<([^\s<>@]+)@([^\s<>@]+)>|([^\s<>@",;:()]+)@([^\s<>@",;:()]+))$/;

const SETTINGS = {
  NODE_ENV: oneOf(['production', 'development', 'test'], undefined, 'production, development or test (or unset)'),
  PORT: integer(4000, 0, 65535),
  HOST: raw.transform((value, ctx) => {
    if (value === undefined) return '127.0.0.1';
    if (!net.isIP(value) && !HOSTNAME.test(value)) return fail(ctx, `must be an IP address or a host name (such as 127.0.0.1, 0.0.0.0 or ::), got "${value}"`);
    return value;
  }),
  DATABASE_URL: urlOf(['postgres:', 'postgresql:'], 'postgres://user:password@db.example.com:5432/tessera'),
  DATA_DIR: raw.transform((value) => path.resolve(value ?? './.data')),
  PUBLIC_URL: raw.transform((value, ctx) => {
    if (value === undefined) return undefined;
    const trimmed = value.replace(/\/+$/, '');
    let url: URL;
    try {
      url = new URL(trimmed);
    } catch {
      return fail(ctx, `must be an absolute URL, got "${trimmed}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return fail(ctx, `must be an absolute http:// or https:// URL (such as https://licenses.example.com), got "${trimmed}"`);
    return trimmed;
  }),
  SMTP_URL: urlOf(['smtp:', 'smtps:'], 'smtps://user:password@mail.example.com:465', { needsHost: true }),
  MAIL_FROM: raw.transform((value, ctx) => {
    if (value === undefined) return 'no-reply@localhost';
    const m = MAILBOX.exec(value);
    const domain = m?.[2] ?? m?.[4];
    if (!m || !domain || !HOSTNAME.test(domain)) {
      return fail(ctx, `must be an email address such as no-reply@example.com or "Tessera <no-reply@example.com>", got "${value}"`);
    }
    return value;
  }),
  SHOP_API_TOKEN: secret(16, 'the web shop sends it as its bearer token; e.g. openssl rand -hex 32'),
  SEAT_TIMEOUT_SECONDS: integer(28800, 1, 10 * 365 * 86400),
  HEARTBEAT_INTERVAL_SECONDS: integer(900, 1, 86400),
  REDIS_URL: urlOf(['redis:', 'rediss:'], 'redis://redis.example.com:6379', { needsHost: true }),
  APP_SECRET: secret(32, 'e.g. openssl rand -hex 32'),
  TEST_CLOCK: flag,
  RATE_LIMIT_FACTOR: positiveNumber(1),
  /** off, on (one proxy), or the number of proxies in front (at most 10 count). */
  TRUST_PROXY: raw.transform((value, ctx) => {
    if (value === undefined) return 0;
    if (/^\d+$/.test(value)) return Math.min(Number(value), 10);
    const on = flagValue(value);
    if (on === undefined) return fail(ctx, `must be ${FLAG_WORDS}, or the number of proxies in front; got "${value}"`);
    return on ? 1 : 0;
  }),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
  BODY_LIMIT_BYTES: integer(100 * 1024, 1024, 10 * 1024 * 1024),
  DB_POOL_SIZE: integer(10, 4, 500), // migrations and job rounds need two at once
  JOBS: raw.transform((value, ctx) => {
    if (value === undefined) return true;
    const v = value.toLowerCase();
    if (v !== 'on' && v !== 'off') return fail(ctx, `must be on or off, got "${value}"`);
    return v === 'on';
  }),
  /** Comma-separated absolute origins (scheme, host and port; no path). */
  CORS_ORIGINS: raw.transform((value, ctx) => {
    if (value === undefined) return [];
    const origins: string[] = [];
    for (const origin of value
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean)) {
      let url: URL;
      try {
        url = new URL(origin);
      } catch {
        issue(ctx, `must list origins such as https://shop.example.com, got "${origin}"`);
        continue;
      }
      if (url.origin !== origin.replace(/\/$/, '')) {
        // Kept as it was worded: "CORS_ORIGINS entries are origins without a path".
        issue(ctx, `entries are origins without a path, got "${origin}"`);
        continue;
      }
      origins.push(url.origin);
    }
    return origins;
  }),
  DB_CONNECT_TIMEOUT_MS: integer(5_000, 100, 600_000),
  DB_STATEMENT_TIMEOUT_MS: integer(15_000, 100, 3_600_000),
  DB_LOCK_TIMEOUT_MS: integer(5_000, 100, 3_600_000),
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: integer(60_000, 1_000, 3_600_000),
  /** An absolute http(s) URL without credentials; neither it nor the secret is echoed (a receiver's URL often carries its own token). */
  WEBHOOK_URL: raw.transform((value, ctx) => {
    if (value === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return fail(ctx, 'must be an absolute http:// or https:// URL (such as https://crm.example.com/tessera-events)');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail(ctx, `must be an http:// or https:// URL, not ${url.protocol}`);
    // fetch refuses a URL with credentials: every delivery would fail, so it is said now.
    if (url.username || url.password) return fail(ctx, 'must not carry user:password@; the signature authenticates the events');
    return url.href;
  }),
  /** `whsec_` and the base64 of at least 24 random bytes, as the Standard Webhooks specification asks. */
  WEBHOOK_SECRET: raw.transform((value, ctx) => {
    if (value === undefined) return undefined;
    const base64 = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(value)?.[1];
    if (!base64 || base64.length % 4 !== 0 || Buffer.from(base64, 'base64').length < 24) {
      return fail(ctx, 'must be whsec_ followed by the base64 of at least 24 random bytes (e.g. whsec_$(openssl rand -base64 32))');
    }
    return value;
  }),
} satisfies Record<string, z.ZodTypeAny>;

type Settings = { [K in keyof typeof SETTINGS]: z.output<(typeof SETTINGS)[K]> };

/** The names of every setting the schema knows, in the order problems are reported. */
export const SETTING_NAMES = Object.keys(SETTINGS) as Array<keyof typeof SETTINGS>;

/** Reads the environment: every problem is collected and thrown together in one ConfigError. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const s: Partial<Settings> = {};
  const valid = new Set<keyof Settings>();
  for (const name of SETTING_NAMES) {
    const result = SETTINGS[name].safeParse(env[name]);
    if (result.success) {
      (s as Record<string, unknown>)[name] = result.data;
      valid.add(name);
    } else {
      for (const issue of result.error.issues) problems.push(`${name} ${issue.message}`);
    }
  }
  const ok = (...names: Array<keyof Settings>) => names.every((n) => valid.has(n));

  // Rules across settings (each only once its settings parsed).
  const production = s.NODE_ENV === 'production';
  if (ok('TEST_CLOCK', 'NODE_ENV') && s.TEST_CLOCK && production) problems.push('TEST_CLOCK=1 is refused when NODE_ENV=production');
  if (ok('WEBHOOK_URL', 'WEBHOOK_SECRET')) {
    if (!s.WEBHOOK_URL && s.WEBHOOK_SECRET) problems.push('WEBHOOK_SECRET is set but WEBHOOK_URL is not: set both, or neither');
    if (s.WEBHOOK_URL && !s.WEBHOOK_SECRET) problems.push('WEBHOOK_SECRET is required when WEBHOOK_URL is set (whsec_ followed by base64, at least 24 bytes)');
  }
  if (problems.length) throw ConfigError.of(problems);

  const v = s as Settings;
  return {
    port: v.PORT,
    host: v.HOST,
    databaseUrl: v.DATABASE_URL,
    dataDir: v.DATA_DIR,
    publicUrl: v.PUBLIC_URL ?? `http://localhost:${v.PORT}`,
    publicUrlExplicit: v.PUBLIC_URL !== undefined,
    smtpUrl: v.SMTP_URL,
    mailFrom: v.MAIL_FROM,
    shopApiToken: v.SHOP_API_TOKEN,
    seatTimeoutSeconds: v.SEAT_TIMEOUT_SECONDS,
    heartbeatIntervalSeconds: v.HEARTBEAT_INTERVAL_SECONDS,
    redisUrl: v.REDIS_URL,
    appSecret: v.APP_SECRET,
    testClock: v.TEST_CLOCK,
    rateLimitFactor: v.RATE_LIMIT_FACTOR,
    trustProxyHops: v.TRUST_PROXY,
    logLevel: v.LOG_LEVEL ?? 'info',
    production,
    bodyLimitBytes: v.BODY_LIMIT_BYTES,
    dbPoolSize: v.DB_POOL_SIZE,
    runJobs: v.JOBS,
    corsOrigins: v.CORS_ORIGINS,
    dbTimeouts: {
      connectMs: v.DB_CONNECT_TIMEOUT_MS,
      statementMs: v.DB_STATEMENT_TIMEOUT_MS,
      lockMs: v.DB_LOCK_TIMEOUT_MS,
      idleInTransactionMs: v.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    },
    webhookUrl: v.WEBHOOK_URL,
    webhookSecret: v.WEBHOOK_SECRET,
  };
}
