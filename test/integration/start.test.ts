import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, dropTestDatabase } from '../helpers/server';

/**
 * `npm start` as users and container managers run it (scripts/start.mjs): it builds only when the
 * build is missing or stale (dist/.build-stamp, written by `npm run build`, older than a source),
 * and the process npm starts is the server itself, so that SIGTERM to npm (which npm passes on)
 * stops the server gracefully and leaves no orphan behind.
 */
jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '..', '..');
const STAMP = path.join(ROOT, 'dist', '.build-stamp');
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
const URL_LINE = /Tessera GraphQL API: (\S+)/;

interface Run {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let databaseUrl: string;
let dataDir: string;
let production: string | undefined;
const runs: Run[] = [];

function mtime(file: string): number {
  return fs.statSync(file).mtimeMs;
}

function buildState(): string {
  return spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build-state.mjs')], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
}

function launch(command: string, args: string[], cwd = ROOT): Run {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['REDIS_URL', 'SMTP_URL', 'TESSERA_TEST_ADMIN_URL', 'HOST', 'PUBLIC_URL']) delete env[name];
  Object.assign(env, { DATABASE_URL: databaseUrl, PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info', JOBS: 'off' });
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (s: string) => chunks.push(s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => chunks.push(s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const run = { child, output: () => chunks.join(''), exited };
  runs.push(run);
  return run;
}

async function waitForUrl(run: Run, ms = 240_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = URL_LINE.exec(run.output());
    if (m) return m[1];
    if (run.child.exitCode !== null || run.child.signalCode !== null) throw new Error(`exited before listening:\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`no "Tessera GraphQL API:" line:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The PID of the process that holds the listening TCP socket on `port` (from /proc/net/tcp*). */
function listenerPid(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; the inode is the tenth field.
      if (f.length > 9 && parseInt(f[1].split(':')[1], 16) === port && f[3] === '0A') inodes.add(f[9]);
    }
  }
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let fds: string[] = [];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) return Number(pid);
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return undefined;
}

function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function parentOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

async function exitOf(run: Run, ms = 60_000) {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run.exited,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`did not exit:\n${run.output()}`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends SIGTERM to `target` and checks that the server (the process listening) is gone and the exit is clean. */
async function terminate(run: Run, target: number, server: number, port: number) {
  process.kill(target, 'SIGTERM');
  expect(await exitOf(run)).toEqual({ code: 0, signal: null });
  for (let i = 0; i < 50 && isRunning(server); i++) await new Promise((r) => setTimeout(r, 100));
  expect(isRunning(server)).toBe(false);
  expect(await accepts(port)).toBe(false);
  expect(run.output()).toContain('"signal":"SIGTERM"'); // the server itself received it and shut down
}

beforeAll(async () => {
  if (buildState() !== 'fresh') {
    const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
    if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}\n${r.stderr}`);
  }
  databaseUrl = await createTestDatabase();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-start-'));
});

afterEach(async () => {
  for (const run of runs.splice(0)) {
    if (run.child.exitCode !== null || run.child.signalCode !== null) continue;
    run.child.kill('SIGKILL');
    await run.exited;
  }
});

afterAll(async () => {
  if (databaseUrl) await dropTestDatabase(databaseUrl);
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  if (production) fs.rmSync(production, { recursive: true, force: true });
});

/**
 * A copy of the project as `npm ci --omit=dev` leaves it next to a shipped build: the files (times
 * kept, so the build is fresh) and a node_modules without the dev dependencies (links to ours).
 */
function productionCopy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-production-'));
  const names = ['package.json', 'codegen.yml', 'tsconfig.json', 'tsconfig.build.json', 'scripts', 'src', 'schema', 'migrations', 'clients', 'dist'];
  expect(spawnSync('cp', ['-a', ...names, dir], { cwd: ROOT }).status).toBe(0);
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const dev = new Set(Object.keys(pkg.devDependencies));
  const modules = path.join(ROOT, 'node_modules');
  fs.mkdirSync(path.join(dir, 'node_modules'));
  for (const name of fs.readdirSync(modules)) {
    if (name === '.bin' || name.startsWith('.') || dev.has(name)) continue;
    if (name.startsWith('@')) {
      fs.mkdirSync(path.join(dir, 'node_modules', name));
      for (const member of fs.readdirSync(path.join(modules, name))) {
        if (!dev.has(`${name}/${member}`)) fs.symlinkSync(path.join(modules, name, member), path.join(dir, 'node_modules', name, member));
      }
    } else fs.symlinkSync(path.join(modules, name), path.join(dir, 'node_modules', name));
  }
  return dir;
}

describe('npm start', () => {
  it('with a fresh build starts without building; SIGTERM to npm stops the server itself (no orphan) and npm exits 0', async () => {
    expect(buildState()).toBe('fresh');
    const stamp = mtime(STAMP);
    const cli = mtime(CLI);
    const run = launch('npm', ['start']);
    const url = await waitForUrl(run);
    expect(run.output()).not.toContain('building');
    expect(mtime(STAMP)).toBe(stamp);
    expect(mtime(CLI)).toBe(cli);
    expect((await fetch(url.replace(/\/graphql$/, '/healthz'))).status).toBe(200);

    // The process listening is npm's own child: no shell and no other process in between.
    const port = Number(new URL(url).port);
    const server = listenerPid(port)!;
    expect(server).toBeDefined();
    expect(parentOf(server)).toBe(run.child.pid);
    expect(fs.readFileSync(`/proc/${server}/cmdline`, 'utf8').split('\0')).toContain('scripts/start.mjs');

    await terminate(run, run.child.pid!, server, port);
  });

  it('after a source file is touched, the launcher rebuilds first (and then not again); SIGTERM to it exits 0', async () => {
    const stamp = mtime(STAMP);
    const source = path.join(ROOT, 'src', 'cli.ts');
    const now = new Date(Math.max(Date.now(), stamp + 1000));
    fs.utimesSync(source, now, now); // the content is unchanged
    expect(buildState()).toMatch(/^stale \(newest input: src\/cli\.ts\)$/);

    const run = launch(process.execPath, ['scripts/start.mjs', 'serve']);
    const url = await waitForUrl(run);
    expect(run.output()).toContain('tessera: src/cli.ts changed since the last build: building (npm run build)');
    expect(mtime(STAMP)).toBeGreaterThan(stamp);
    expect(buildState()).toBe('fresh');

    const port = Number(new URL(url).port);
    const server = listenerPid(port)!;
    expect(server).toBe(run.child.pid); // the launcher is the server
    await terminate(run, server, server, port);
  });

  it('with the runtime dependencies only (npm ci --omit=dev): a build is run as it is, a stale one with a warning, a missing one is a clear error', async () => {
    const dir = (production = productionCopy());
    expect(fs.existsSync(path.join(dir, 'node_modules', 'typescript'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'node_modules', '@graphql-codegen', 'cli'))).toBe(false);

    const fresh = launch('npm', ['start'], dir);
    const url = await waitForUrl(fresh, 60_000);
    expect(fresh.output()).not.toContain('tessera:');
    const port = Number(new URL(url).port);
    await terminate(fresh, fresh.child.pid!, listenerPid(port)!, port);

    const now = new Date(Date.now() + 1000);
    fs.utimesSync(path.join(dir, 'src', 'cli.ts'), now, now);
    const stale = launch(process.execPath, ['scripts/start.mjs', 'serve'], dir);
    const staleUrl = await waitForUrl(stale, 60_000);
    expect(stale.output()).toContain(
      'tessera: warning: src/cli.ts changed since the last build, but the dev dependencies that build it are not installed: running the existing build.',
    );
    const stalePort = Number(new URL(staleUrl).port);
    await terminate(stale, stale.child.pid!, stale.child.pid!, stalePort);

    fs.rmSync(path.join(dir, 'dist'), { recursive: true });
    const missing = launch(process.execPath, ['scripts/start.mjs', 'serve'], dir);
    expect(await exitOf(missing)).toEqual({ code: 1, signal: null });
    expect(missing.output()).toContain(
      'there is no build (dist/) and the tools to make one are not installed (dev dependencies). Run "npm ci && npm run build"',
    );
  });
});
