import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';

/**
 * The configuration schema (api-contract.md, "Configuration (environment)"): every mistake names its
 * setting and says what is expected, all mistakes are reported at once, and what was right before
 * still loads exactly as before.
 */

function problemOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`accepted: ${JSON.stringify(env)}`);
}

describe('the defaults', () => {
  it('are exactly those of the contract (and of the parser before the schema)', () => {
    expect(loadConfig({})).toEqual({
      port: 4000,
      host: '127.0.0.1',
      databaseUrl: undefined,
      dataDir: path.resolve('./.data'),
      publicUrl: 'http://localhost:4000',
      publicUrlExplicit: false,
      smtpUrl: undefined,
      mailFrom: 'no-reply@localhost',
      shopApiToken: undefined,
      seatTimeoutSeconds: 28800,
      heartbeatIntervalSeconds: 900,
      redisUrl: undefined,
      appSecret: undefined,
      testClock: false,
      rateLimitFactor: 1,
      trustProxyHops: 0,
      logLevel: 'info',
      production: false,
      bodyLimitBytes: 100 * 1024,
      dbPoolSize: 10,
      runJobs: true,
      corsOrigins: [],
      dbTimeouts: { connectMs: 5_000, statementMs: 15_000, lockMs: 5_000, idleInTransactionMs: 60_000 },
      webhookUrl: undefined,
      webhookSecret: undefined,
    });
  });

  it('treat a blank value as unset', () => {
    expect(loadConfig({ PORT: '', JOBS: ' ', NODE_ENV: '', MAIL_FROM: '', SMTP_URL: '  ' })).toEqual(loadConfig({}));
  });
});

describe('good values', () => {
  it('load as they did', () => {
    const c = loadConfig({
      NODE_ENV: 'production',
      PORT: '8080',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgresql://tessera:pw@db.example.com:5432/tessera',
      DATA_DIR: '/var/lib/tessera',
      PUBLIC_URL: 'https://licenses.example.com/',
      SMTP_URL: 'smtps://user:pw@mail.example.com:465',
      MAIL_FROM: 'Tessera <no-reply@example.com>',
      SHOP_API_TOKEN: 'a-shop-token-0123456789',
      REDIS_URL: 'rediss://redis.example.com:6380',
      APP_SECRET: 'x'.repeat(32),
      TRUST_PROXY: '2',
      LOG_LEVEL: 'warn',
      JOBS: 'OFF',
      CORS_ORIGINS: 'https://shop.example.com, http://localhost:3000/',
      RATE_LIMIT_FACTOR: '2.5',
    });
    expect(c).toMatchObject({
      production: true,
      port: 8080,
      host: '0.0.0.0',
      databaseUrl: 'postgresql://tessera:pw@db.example.com:5432/tessera',
      dataDir: '/var/lib/tessera',
      publicUrl: 'https://licenses.example.com',
      publicUrlExplicit: true,
      smtpUrl: 'smtps://user:pw@mail.example.com:465',
      mailFrom: 'Tessera <no-reply@example.com>',
      redisUrl: 'rediss://redis.example.com:6380',
      trustProxyHops: 2,
      logLevel: 'warn',
      runJobs: false,
      corsOrigins: ['https://shop.example.com', 'http://localhost:3000'],
      rateLimitFactor: 2.5,
    });
    expect(loadConfig({ PORT: '0' }).publicUrl).toBe('http://localhost:0');
    expect(loadConfig({ TRUST_PROXY: 'on' }).trustProxyHops).toBe(1);
    expect(loadConfig({ TRUST_PROXY: '99' }).trustProxyHops).toBe(10);
    expect(loadConfig({ JOBS: 'on' }).runJobs).toBe(true);
    expect(loadConfig({ TEST_CLOCK: 'yes' }).testClock).toBe(true);
    for (const NODE_ENV of ['development', 'test']) expect(loadConfig({ NODE_ENV }).production).toBe(false);
    for (const MAIL_FROM of ['no-reply@localhost', 'licenses@shop.example.com', '"Shop, Inc." <licenses@shop.example.com>'])
      expect(loadConfig({ MAIL_FROM }).mailFrom).toBe(MAIL_FROM);
    for (const HOST of ['localhost', '::', '::1', '192.168.1.10', 'tessera.internal']) expect(loadConfig({ HOST }).host).toBe(HOST);
    expect(loadConfig({ DATABASE_URL: 'postgres:///tessera?host=/var/run/postgresql' }).databaseUrl).toBe('postgres:///tessera?host=/var/run/postgresql');
  });
});

describe('a bad value', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['PORT', { PORT: 'eighty' }, /^PORT must be an integer, got "eighty"$/],
    ['PORT', { PORT: '65536' }, /^PORT must be between 0 and 65535, got 65536$/],
    ['PORT', { PORT: '-1' }, /^PORT must be between 0 and 65535/],
    ['HOST', { HOST: 'not a host' }, /^HOST must be an IP address or a host name/],
    ['NODE_ENV', { NODE_ENV: 'prod' }, /^NODE_ENV must be production, development or test \(or unset\); got "prod"$/],
    ['JOBS', { JOBS: 'no' }, /^JOBS must be on or off, got "no"$/],
    ['JOBS', { JOBS: '0' }, /^JOBS must be on or off/],
    ['MAIL_FROM', { MAIL_FROM: 'nobody' }, /^MAIL_FROM must be an email address such as no-reply@example.com/],
    ['MAIL_FROM', { MAIL_FROM: 'Shop <shop@>' }, /^MAIL_FROM must be an email address/],
    ['MAIL_FROM', { MAIL_FROM: 'a@b@c' }, /^MAIL_FROM must be an email address/],
    ['SHOP_API_TOKEN', { SHOP_API_TOKEN: 'x' }, /^SHOP_API_TOKEN must be at least 16 characters long/],
    ['SMTP_URL', { SMTP_URL: 'garbage' }, /^SMTP_URL must be a URL starting with smtp:\/\/ or smtps:\/\//],
    ['SMTP_URL', { SMTP_URL: 'http://mail.example.com' }, /^SMTP_URL must be a URL starting with smtp:\/\/ or smtps:\/\/.*not http:/],
    ['SMTP_URL', { SMTP_URL: 'smtp:garbage' }, /^SMTP_URL must name a host/],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://db.example.com/tessera' }, /^DATABASE_URL must be a URL starting with postgres:\/\/ or postgresql:\/\//],
    ['DATABASE_URL', { DATABASE_URL: 'db.example.com:5432' }, /^DATABASE_URL must be a URL starting with postgres:\/\//],
    ['REDIS_URL', { REDIS_URL: 'localhost:6379' }, /^REDIS_URL must be a URL starting with redis:\/\/ or rediss:\/\//],
    ['REDIS_URL', { REDIS_URL: 'http://redis.example.com' }, /^REDIS_URL must be a URL starting with redis:\/\//],
    ['PUBLIC_URL', { PUBLIC_URL: 'licenses.example.com' }, /^PUBLIC_URL must be an absolute URL/],
    ['PUBLIC_URL', { PUBLIC_URL: 'localhost:4000' }, /^PUBLIC_URL must be an absolute http:\/\/ or https:\/\/ URL/],
    ['APP_SECRET', { APP_SECRET: 'short' }, /^APP_SECRET must be at least 32 characters long/],
    ['TEST_CLOCK', { TEST_CLOCK: 'maybe' }, /^TEST_CLOCK must be 1\/0, true\/false, on\/off or yes\/no, got "maybe"$/],
    ['TEST_CLOCK', { TEST_CLOCK: '1', NODE_ENV: 'production' }, /^TEST_CLOCK=1 is refused when NODE_ENV=production$/],
    ['TRUST_PROXY', { TRUST_PROXY: 'sometimes' }, /^TRUST_PROXY must be 1\/0, true\/false, on\/off or yes\/no, or the number of proxies/],
    ['RATE_LIMIT_FACTOR', { RATE_LIMIT_FACTOR: '0' }, /^RATE_LIMIT_FACTOR must be a positive number, got "0"$/],
    ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }, /^LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got "verbose"$/],
    ['SEAT_TIMEOUT_SECONDS', { SEAT_TIMEOUT_SECONDS: '0' }, /^SEAT_TIMEOUT_SECONDS must be between 1 and/],
    ['HEARTBEAT_INTERVAL_SECONDS', { HEARTBEAT_INTERVAL_SECONDS: '1.5' }, /^HEARTBEAT_INTERVAL_SECONDS must be an integer/],
    ['BODY_LIMIT_BYTES', { BODY_LIMIT_BYTES: '10' }, /^BODY_LIMIT_BYTES must be between 1024 and/],
    ['DB_POOL_SIZE', { DB_POOL_SIZE: '2' }, /^DB_POOL_SIZE must be between 4 and 500, got 2$/],
    ['DB_STATEMENT_TIMEOUT_MS', { DB_STATEMENT_TIMEOUT_MS: 'soon' }, /^DB_STATEMENT_TIMEOUT_MS must be an integer/],
    ['CORS_ORIGINS', { CORS_ORIGINS: 'shop.example.com' }, /^CORS_ORIGINS must list origins such as https:\/\/shop.example.com/],
    ['CORS_ORIGINS', { CORS_ORIGINS: 'https://shop.example.com/cart' }, /^CORS_ORIGINS entries are origins without a path/],
    [
      'WEBHOOK_URL',
      { WEBHOOK_URL: 'ftp://crm.example.com', WEBHOOK_SECRET: `whsec_${Buffer.alloc(24, 1).toString('base64')}` },
      /^WEBHOOK_URL must be an http/,
    ],
    ['WEBHOOK_SECRET', { WEBHOOK_SECRET: `whsec_${Buffer.alloc(24, 1).toString('base64')}` }, /^WEBHOOK_SECRET is set but WEBHOOK_URL is not/],
  ];

  it.each(cases)('%s: %j is refused with a message naming it', (name, env, message) => {
    const error = problemOf(env);
    expect(error.problems).toHaveLength(1);
    expect(error.message).toMatch(message);
    expect(error.message.startsWith(name)).toBe(true);
  });

  it('that may carry a password or token is not echoed', () => {
    const envs: Array<Record<string, string>> = [
      { DATABASE_URL: 'mysql://tessera:hunter2-secret@db.example.com/tessera' },
      { REDIS_URL: 'http://:hunter2-secret@redis.example.com' },
      { SMTP_URL: 'smtp:hunter2-secret' },
      { SHOP_API_TOKEN: 'hunter2-secret' },
      { APP_SECRET: 'hunter2-secret' },
    ];
    for (const env of envs) {
      expect(problemOf(env).message).not.toContain('hunter2');
    }
  });
});

describe('several bad values', () => {
  it('are all reported in one error, one line each, in the order of the settings', () => {
    const error = problemOf({
      PORT: 'eighty',
      JOBS: 'no',
      NODE_ENV: 'prod',
      MAIL_FROM: 'nobody',
      SHOP_API_TOKEN: 'x',
      SMTP_URL: 'garbage',
      DATABASE_URL: 'mysql://db/x',
      REDIS_URL: 'garbage',
      LOG_LEVEL: 'loud',
    });
    const names = ['NODE_ENV', 'PORT', 'DATABASE_URL', 'SMTP_URL', 'MAIL_FROM', 'SHOP_API_TOKEN', 'REDIS_URL', 'LOG_LEVEL', 'JOBS'];
    expect(error.problems.map((p) => p.split(' ')[0])).toEqual(names);
    expect(error.message.split('\n')[0]).toBe(`${names.length} problems in the configuration:`);
    for (const [i, problem] of error.problems.entries()) expect(error.message.split('\n')[i + 1]).toBe(`  - ${problem}`);
  });

  it('include the rules across settings once their settings parse', () => {
    const error = problemOf({ TEST_CLOCK: '1', NODE_ENV: 'production', PORT: 'x', WEBHOOK_URL: 'https://crm.example.com/hooks' });
    expect(error.problems).toEqual([
      'PORT must be an integer, got "x"',
      'TEST_CLOCK=1 is refused when NODE_ENV=production',
      'WEBHOOK_SECRET is required when WEBHOOK_URL is set (whsec_ followed by base64, at least 24 bytes)',
    ]);
    // A NODE_ENV that does not parse is reported as such, not as "production".
    expect(problemOf({ TEST_CLOCK: '1', NODE_ENV: 'prod' }).problems).toEqual(['NODE_ENV must be production, development or test (or unset); got "prod"']);
  });
});
