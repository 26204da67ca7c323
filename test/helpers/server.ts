import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { loadConfig, type Config } from '../../src/config';
import { createLogger } from '../../src/platform/logger';
import { startServer, type RunningServer } from '../../src/server';
import { MailCatcher } from './mail';

/** The web shop's token in test servers. */
export const SHOP_TOKEN = 'shop-token-for-tests-0123456789abcdef';

export interface GqlOptions {
  token?: string;
  lang?: string;
  /** Client address as a load balancer would report it (the test server trusts X-Forwarded-For). */
  ip?: string;
  headers?: Record<string, string>;
}

export interface GqlResult<T = Record<string, any>> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

export interface TestServer {
  server: RunningServer;
  mail: MailCatcher;
  url: string;
  base: string;
  databaseUrl: string;
  gql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, options?: GqlOptions): Promise<GqlResult<T>>;
  advance(seconds: number): Promise<void>;
  stop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates an empty database for one test file on the run's PostgreSQL server. */
export async function createTestDatabase(adminUrl?: string): Promise<string> {
  const admin = adminUrl ?? process.env.TESSERA_TEST_ADMIN_URL;
  if (!admin) throw new Error('TESSERA_TEST_ADMIN_URL is not set: run the tests through jest (globalSetup)');
  const name = `tessera_t_${randomBytes(6).toString('hex')}`;
  const client = new Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return withDatabase(admin, name);
}

export async function dropTestDatabase(url: string, adminUrl?: string): Promise<void> {
  const admin = adminUrl ?? process.env.TESSERA_TEST_ADMIN_URL!;
  const name = new URL(url).pathname.slice(1);
  const client = new Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/**
 * A real server (HTTP, GraphQL, its own database, a real SMTP server catching its mail, a test
 * clock) on a free port. `env` overrides configuration as the environment would.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  options: {
    logLines?: string[];
    /** Another PostgreSQL server to make the test database on (fault tests freeze their own). */
    adminUrl?: string;
    /** Serve this test database (a second instance of another test server); it is left for that one to drop. */
    databaseUrl?: string;
  } = {},
): Promise<TestServer> {
  const mail = await new MailCatcher().start();
  const databaseUrl = options.databaseUrl ?? (await createTestDatabase(options.adminUrl));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-test-data-'));
  const config: Config = loadConfig({
    PORT: '0',
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    SMTP_URL: mail.url,
    TEST_CLOCK: '1',
    TRUST_PROXY: '1',
    APP_SECRET: 'test-secret-test-secret-test-secret-0123',
    SHOP_API_TOKEN: SHOP_TOKEN,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // Request rate limits are tested on their own (rate-limits.test.ts); elsewhere they stay out of the way.
    RATE_LIMIT_FACTOR: '1000',
    // Periodic jobs run when a test says so (t.server.jobs.run), never behind its back.
    JOBS: 'off',
    ...env,
  });
  // With `logLines`, every log line the server writes is kept there (for tests of what is logged).
  const destination = options.logLines ? { write: (line: string) => void options.logLines!.push(line) } : undefined;
  const server = await startServer(config, { logger: createLogger(config.logLevel, destination) });
  const base = server.url.replace(/\/graphql$/, '');
  const testServer: TestServer = {
    server,
    mail,
    url: server.url,
    base,
    databaseUrl,
    async gql(query, variables = {}, options = {}) {
      const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      if (options.lang) headers['accept-language'] = options.lang;
      headers['x-forwarded-for'] = options.ip ?? '203.0.113.1';
      const res = await fetch(server.url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data?: any; errors?: GqlResult['errors'] };
      return { status: res.status, data: body.data, errors: body.errors };
    },
    async advance(seconds) {
      const r = await testServer.gql('mutation($s: Int!) { advanceTestClock(seconds: $s) { now errors { code } } }', { s: seconds });
      if (r.errors || r.data?.advanceTestClock.errors.length) throw new Error(`advanceTestClock failed: ${JSON.stringify(r)}`);
    },
    async stop() {
      await server.stop();
      await mail.stop();
      if (!options.databaseUrl) await dropTestDatabase(databaseUrl, options.adminUrl);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return testServer;
}
