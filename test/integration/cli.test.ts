import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from '../helpers/child-server';
import { createTestDatabase, dropTestDatabase } from '../helpers/server';

/**
 * The built command line (api-contract.md, "Command line"): --help for every command changes
 * nothing (no configuration read, no database opened), --version works everywhere, usage mistakes
 * are refused with the command's usage and exit code 2, and a configuration mistake names its
 * setting (exit code 1), also when it shows only at run time (an unreachable DATABASE_URL or
 * REDIS_URL, a port in use).
 */

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with a clean environment: only PATH, a fresh DATA_DIR and what `env` says. */
async function tessera(args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env },
      cwd: dataDir,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let dataDir: string;
let unreachable: string;
let fresh: string;

async function tablesIn(url: string): Promise<string[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT table_schema || '.' || table_name AS name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`,
    );
    return rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-'));
  // A port nothing listens on: any attempt to connect fails (ECONNREFUSED).
  unreachable = `postgres://tessera:not-the-password@127.0.0.1:${await freePort()}/tessera`;
  fresh = await createTestDatabase();
});
afterAll(async () => {
  if (fresh) await dropTestDatabase(fresh);
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

const COMMANDS: Array<[string, RegExp]> = [
  ['serve', /serve/],
  ['migrate', /migrate/],
  ['grant-support', /grant-support <email>/],
  ['rotate-entitlement-key', /rotate-entitlement-key/],
  ['backup', /backup <file>/],
  ['restore', /restore <file> \[--force\]/],
  ['support', /delete-account <account> --yes/],
  ['desktop', /desktop <start\|status\|stop>/],
  ['offline-request', /offline-request --device <id>/],
  ['offline-verify', /offline-verify --response/],
];

test('--version and -V print the version of package.json, on their own and after any command', async () => {
  for (const args of [['--version'], ['-V'], ['serve', '--version'], ['grant-support', '-V'], ['support', '--version'], ['desktop', '-V']]) {
    expect({ args, ...(await tessera(args, { DATABASE_URL: unreachable })) }).toEqual({ args, code: 0, stdout: `${VERSION}\n`, stderr: '' });
  }
});

test('the overview: --help, -h and help list every command (exit 0); no command at all is a usage error (exit 2)', async () => {
  for (const args of [['--help'], ['-h'], ['help']]) {
    const r = await tessera(args);
    expect(r.code).toBe(0);
    for (const [name] of COMMANDS) expect(r.stdout).toContain(`  ${name}`);
  }
  const none = await tessera([]);
  expect(none.code).toBe(2);
  expect(none.stderr).toContain('Commands:');
});

test('<command> --help (and -h, and help <command>) prints that command’s usage and changes nothing, with no database to reach', async () => {
  const results = await Promise.all(
    COMMANDS.flatMap(([name, usage]) =>
      [
        [name, '--help'],
        [name, '-h'],
        ['help', name],
        ['--help', name],
      ].map(async (args) => ({ args, usage, ...(await tessera(args, { DATABASE_URL: unreachable })) })),
    ),
  );
  for (const r of results) {
    expect({ args: r.args, code: r.code, stderr: r.stderr }).toEqual({ args: r.args, code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^Usage: /);
    expect(r.stdout).toMatch(r.usage);
  }
  // Nothing was written either: no embedded database, no generated app secret.
  expect(fs.readdirSync(dataDir)).toEqual([]);
});

test('--help neither migrates nor looks for an account named --help: a fresh database stays empty', async () => {
  expect(await tablesIn(fresh)).toEqual([]);
  for (const args of [
    ['migrate', '--help'],
    ['grant-support', '--help'],
    ['grant-support', 'someone@example.com', '--help'],
    ['restore', 'x.backup', '--help'],
    ['support', 'find', 'x', '--as', 'y', '--help'],
  ]) {
    const r = await tessera(args, { DATABASE_URL: fresh });
    expect({ args, code: r.code }).toEqual({ args, code: 0 });
    expect(r.stdout).toMatch(/^Usage: /);
    expect(r.stderr).toBe('');
  }
  expect(await tablesIn(fresh)).toEqual([]);
});

test('an unknown option, a missing or an extra argument, an unknown command: the usage, exit 2, nothing done', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['serve', '--port', '5000'], /Unknown option '--port'[\s\S]*Usage: npm run tessera -- serve/],
    [['migrate', '--dry-run'], /Unknown option '--dry-run'[\s\S]*Usage: npm run tessera -- migrate/],
    [['migrate', 'now'], /migrate takes no arguments; unexpected: "now"[\s\S]*Usage: npm run tessera -- migrate/],
    [['grant-support'], /grant-support needs <email>[\s\S]*Usage: npm run tessera -- grant-support <email>/],
    [['grant-support', 'a@example.com', 'b@example.com'], /unexpected: "b@example.com"[\s\S]*Usage: npm run tessera -- grant-support/],
    [['grant-support', '--email', 'a@example.com'], /Unknown option '--email'/],
    [['rotate-entitlement-key', '--now'], /Unknown option '--now'[\s\S]*rotate-entitlement-key/],
    [['backup'], /backup needs <file>[\s\S]*Usage: npm run tessera -- backup <file>/],
    [['backup', 'a', 'b'], /unexpected: "b"/],
    [['restore', '--force'], /restore needs <file>[\s\S]*Usage: npm run tessera -- restore <file> \[--force\]/],
    [['restore', 'x.backup', '--yes'], /Unknown option '--yes'/],
    [['support', 'find', 'x', '--as', 'y', '--bogus'], /Unknown option '--bogus'[\s\S]*Usage: npm run tessera -- support/],
    [['desktop', 'status', '--bogus'], /Unknown option '--bogus'[\s\S]*Usage: npm run tessera -- desktop/],
    [['offline-verify', '--bogus'], /offline-verify/],
    [['frobnicate'], /Unknown command "frobnicate"[\s\S]*Commands:/],
    [['--bogus'], /Unknown option '--bogus'[\s\S]*Commands:/],
  ];
  const results = await Promise.all(cases.map(async ([args, message]) => ({ args, message, ...(await tessera(args, { DATABASE_URL: fresh })) })));
  for (const r of results) {
    expect({ args: r.args, code: r.code, stdout: r.stdout }).toEqual({ args: r.args, code: 2, stdout: '' });
    expect(r.stderr).toMatch(r.message);
  }
  expect(await tablesIn(fresh)).toEqual([]);
});

test('configuration mistakes name their settings, all at once (exit 1)', async () => {
  const r = await tessera(['migrate'], { DATABASE_URL: fresh, JOBS: 'no', NODE_ENV: 'prod', MAIL_FROM: 'nobody', SHOP_API_TOKEN: 'x', SMTP_URL: 'garbage' });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^Configuration error: 5 problems in the configuration:\n/);
  for (const name of ['JOBS', 'NODE_ENV', 'MAIL_FROM', 'SHOP_API_TOKEN', 'SMTP_URL']) expect(r.stderr).toMatch(new RegExp(`^  - ${name} must `, 'm'));
  expect(await tablesIn(fresh)).toEqual([]);
});

test('an unreachable DATABASE_URL is named, with where it points and never its password (exit 1)', async () => {
  const port = new URL(unreachable).port;
  for (const args of [['migrate'], ['grant-support', 'someone@example.com'], ['serve']]) {
    const r = await tessera(args, { DATABASE_URL: unreachable, PORT: '0' });
    expect({ args, code: r.code }).toEqual({ args, code: 1 });
    expect(r.stderr).toContain(`Configuration error: DATABASE_URL: cannot connect to 127.0.0.1:${port} (ECONNREFUSED)`);
    expect(r.stderr).not.toContain('not-the-password');
  }
});

test('an unreachable REDIS_URL is named (exit 1)', async () => {
  const port = await freePort();
  const scratch = await createTestDatabase();
  try {
    const r = await tessera(['rotate-entitlement-key'], { DATABASE_URL: scratch, REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Configuration error: REDIS_URL: cannot connect to 127.0.0.1:${port} (ECONNREFUSED)`);
  } finally {
    await dropTestDatabase(scratch);
  }
});

test('a port in use is named, before the database is opened (exit 1)', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
  const port = (taken.address() as net.AddressInfo).port;
  try {
    const r = await tessera(['serve'], { DATABASE_URL: fresh, PORT: String(port), HOST: '127.0.0.1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Configuration error: PORT ${port} on 127.0.0.1 is already in use`);
    expect(r.stdout).not.toContain('Tessera GraphQL API');
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
  expect(await tablesIn(fresh)).toEqual([]);
});
