import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { embeddedBinDir } from '../../src/platform/db/embedded';

/**
 * The server as users run it (api-contract.md, "Command line" and "Configuration"): the built
 * `tessera` command with no DATABASE_URL, so that it starts its own PostgreSQL under DATA_DIR, and
 * stops it again on SIGTERM and SIGINT. Runs the compiled dist/ output as `npm run tessera` does.
 */
jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
const PASSWORD = 'embedded passphrase 2718';
const URL_LINE = /Tessera GraphQL API: (\S+)/;

interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let dataDir: string;
let pgdata: string;
const children: ChildProcess[] = [];
/** The account registered on the first start, used after the restart. */
let registered: { email: string; userId: string } | undefined;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

function mtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** `npm test` builds first; when this file runs on its own, a missing or stale dist/ is rebuilt. */
function ensureBuilt(): void {
  const built = Math.max(mtime(CLI), mtime(path.join(ROOT, 'dist', '.tsbuildinfo')));
  const sources = Math.max(...['src', 'migrations', 'schema'].map((d) => newestMtime(path.join(ROOT, d))));
  if (mtime(CLI) > 0 && built >= sources) return;
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (!fs.existsSync(CLI)) throw new Error(`building dist/ failed:\n${tsc.stdout}\n${tsc.stderr}`);
  if (tsc.status !== 0) console.warn(`tsc reported errors while refreshing dist/ (output emitted anyway):\n${tsc.stdout}`);
}

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [
    'DATABASE_URL',
    'PORT',
    'HOST',
    'PUBLIC_URL',
    'SMTP_URL',
    'APP_SECRET',
    'TEST_CLOCK',
    'TRUST_PROXY',
    'REDIS_URL',
    'SHOP_API_TOKEN',
    'TESSERA_TEST_ADMIN_URL',
  ]) {
    delete env[name];
  }
  return { ...env, DATA_DIR: dataDir, LOG_LEVEL: 'info', ...extra };
}

/** With `ownGroup`, the command leads a process group of its own, as a shell's foreground job does. */
function runCli(args: string[], extraEnv: Record<string, string> = {}, ownGroup = false): Cli {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: childEnv(extraEnv),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: ownGroup,
  });
  children.push(child);
  const out: string[] = [];
  const err: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (s: string) => out.push(s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => err.push(s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => out.join(''), stderr: () => err.join(''), exited };
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with the printed URL once the server listens; fails if the process exits first. */
async function waitForUrl(cli: Cli, ms = 90_000): Promise<string> {
  const printed = new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = URL_LINE.exec(cli.stdout());
      if (m) resolve(m[1]);
    };
    cli.child.stdout!.on('data', check);
    check();
    void cli.exited.then(({ code, signal }) =>
      reject(new Error(`the server exited (code ${code}, signal ${signal}) before listening.\nstdout:\n${cli.stdout()}\nstderr:\n${cli.stderr()}`)),
    );
  });
  return withTimeout(printed, ms, () => `no "Tessera GraphQL API:" line.\nstdout:\n${cli.stdout()}\nstderr:\n${cli.stderr()}`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether a process runs (a zombie left for a parent that never reaps does not count). */
function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    if (fs.existsSync('/proc/self')) return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** PIDs of live processes whose command line names this data directory (the postmaster has `-D <pgdata>`). */
function processesFor(dir: string): number[] {
  if (!fs.existsSync('/proc/self')) return [];
  const found: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(dir) && isRunning(Number(name))) found.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

function postmaster(): { pid: number; port: number } | undefined {
  try {
    const lines = fs.readFileSync(path.join(pgdata, 'postmaster.pid'), 'utf8').split('\n');
    return { pid: Number(lines[0]), port: Number(lines[3]) };
  } catch {
    return undefined;
  }
}

function state(): { user?: string; password?: string; port?: number; ownerPid?: number } {
  return JSON.parse(fs.readFileSync(path.join(dataDir, 'postgres.json'), 'utf8'));
}

async function gql(base: string, query: string, variables: Record<string, unknown> = {}, token?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: unknown[] } };
}

async function login(base: string, email: string, password: string) {
  const r = await gql(base, 'mutation($input: LoginInput!) { login(input: $input) { token account { userId } errors { code } } }', {
    input: { email, password },
  });
  expect(r.body.errors).toBeUndefined();
  return r.body.data.login as { token: string | null; account: { userId: string } | null; errors: Array<{ code: string }> };
}

async function waitFor<T>(probe: () => T | undefined, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Stops the server with `signal` (with `toGroup`, sent to its whole process group, as Ctrl-C in a
 * terminal does) and checks that it exits 0 and leaves no PostgreSQL running for DATA_DIR.
 */
async function stopAndCheck(cli: Cli, signal: NodeJS.Signals, pg: { pid: number }, toGroup = false): Promise<void> {
  if (toGroup) process.kill(-cli.child.pid!, signal);
  else expect(cli.child.kill(signal)).toBe(true);
  const exit = await withTimeout(cli.exited, 60_000, () => `the server did not exit after ${signal}.\nstdout:\n${cli.stdout()}\nstderr:\n${cli.stderr()}`);
  expect({ exit, stderr: cli.stderr() }).toEqual({ exit: { code: 0, signal: null }, stderr: cli.stderr() });
  expect(fs.existsSync(path.join(pgdata, 'postmaster.pid'))).toBe(false);
  expect(isRunning(pg.pid)).toBe(false);
  expect(processesFor(pgdata)).toEqual([]);
}

beforeAll(() => {
  ensureBuilt();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-embedded-'));
  pgdata = path.join(dataDir, 'postgres');
});

/** Stops what a failed test left running, so that the next test starts from a stopped DATA_DIR. */
async function stopLeftovers(signal: NodeJS.Signals): Promise<void> {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    await exited;
    clearTimeout(timer);
  }
}

afterEach(async () => {
  await stopLeftovers('SIGTERM');
});

afterAll(async () => {
  await stopLeftovers('SIGKILL');
  const left = pgdata ? postmaster() : undefined;
  if (left && isRunning(left.pid)) {
    const owner = fs.statSync(pgdata);
    const asOwner = typeof process.getuid === 'function' && process.getuid() === 0 ? { uid: owner.uid, gid: owner.gid } : {};
    const r = spawnSync(path.join(embeddedBinDir(), 'pg_ctl'), ['stop', '-w', '-t', '60', '-m', 'immediate', '-D', pgdata], {
      ...asOwner,
      encoding: 'utf8',
      timeout: 90_000,
    });
    if (r.status !== 0 && isRunning(left.pid)) process.kill(left.pid, 'SIGQUIT');
  }
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('embedded database (the server as users run it)', () => {
  it('first start initialises DATA_DIR/postgres, records the port, serves, and SIGTERM stops server and database (exit 0)', async () => {
    const port = await freePort();
    const cli = runCli(['serve'], { PORT: String(port) });
    const url = await waitForUrl(cli);
    expect(url).toBe(`http://127.0.0.1:${port}/graphql`);
    const base = url.replace(/\/graphql$/, '');

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    const email = `embedded-${Date.now()}@example.com`;
    const reg = await gql(base, 'mutation($input: RegisterInput!) { register(input: $input) { token account { userId } errors { code } } }', {
      input: { email, password: PASSWORD, name: 'Embedded User', language: 'EN' },
    });
    expect(reg.body.errors).toBeUndefined();
    expect(reg.body.data.register.errors).toEqual([]);
    expect(reg.body.data.register.token).toBeTruthy();
    registered = { email, userId: reg.body.data.register.account.userId };

    // Without SMTP_URL the verification email is written under DATA_DIR/mail, with a link to this server.
    const eml = await waitFor(
      () => {
        const dir = path.join(dataDir, 'mail');
        const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.eml')) : [];
        return files.length ? fs.readFileSync(path.join(dir, files[0])) : undefined;
      },
      10_000,
      'the verification email under DATA_DIR/mail',
    );
    const mail = await simpleParser(eml);
    expect(mail.to && !Array.isArray(mail.to) ? mail.to.text : '').toBe(email);
    expect(mail.text).toContain(`http://localhost:${port}/verify-email?token=`);

    expect(fs.existsSync(path.join(pgdata, 'PG_VERSION'))).toBe(true);
    const pg = postmaster();
    expect(pg).toBeDefined();
    expect(isRunning(pg!.pid)).toBe(true);
    const recorded = state();
    expect(recorded.port).toBe(pg!.port);
    expect(recorded.ownerPid).toBe(cli.child.pid);

    // The password never reaches the log (serve logs to stdout).
    expect(cli.stdout()).not.toContain(PASSWORD);
    expect(cli.stderr()).not.toContain(PASSWORD);

    await stopAndCheck(cli, 'SIGTERM', pg!);
  });

  it('a second start of the same DATA_DIR reuses the data, and SIGINT (Ctrl-C) stops server and database (exit 0)', async () => {
    expect(registered).toBeDefined();
    const cli = runCli(['serve'], { PORT: String(await freePort()) }, true);
    const base = (await waitForUrl(cli)).replace(/\/graphql$/, '');
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    const r = await login(base, registered!.email, PASSWORD);
    expect(r.errors).toEqual([]);
    expect(r.account).toEqual({ userId: registered!.userId });

    const pg = postmaster();
    expect(pg).toBeDefined();
    expect(state()).toMatchObject({ port: pg!.port, ownerPid: cli.child.pid });
    await stopAndCheck(cli, 'SIGINT', pg!, true);
  });

  it('migrate while the server runs succeeds and leaves the server and its database running', async () => {
    const cli = runCli(['serve'], { PORT: String(await freePort()) });
    const base = (await waitForUrl(cli)).replace(/\/graphql$/, '');
    const pg = postmaster();
    expect(pg).toBeDefined();

    const migrate = runCli(['migrate']);
    const done = await withTimeout(migrate.exited, 90_000, () => `migrate did not finish.\nstdout:\n${migrate.stdout()}\nstderr:\n${migrate.stderr()}`);
    expect({ done, stderr: migrate.stderr() }).toEqual({ done: { code: 0, signal: null }, stderr: migrate.stderr() });
    expect(migrate.stdout()).toContain('Migrations are up to date.');

    // The database the server started is still the one running, still recorded as the server's.
    expect(postmaster()).toEqual(pg);
    expect(isRunning(pg!.pid)).toBe(true);
    expect(state()).toMatchObject({ port: pg!.port, ownerPid: cli.child.pid });
    // And the server still answers, including queries that need the database.
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    if (registered) expect((await login(base, registered.email, PASSWORD)).errors).toEqual([]);
    const reg = await gql(base, 'mutation($input: RegisterInput!) { register(input: $input) { token errors { code } } }', {
      input: { email: `after-migrate-${Date.now()}@example.com`, password: PASSWORD, name: 'After Migrate', language: 'DE' },
    });
    expect(reg.body.data.register.errors).toEqual([]);

    await stopAndCheck(cli, 'SIGTERM', pg!);
  });

  it('after a crash (SIGKILL) the database left running is adopted by the next start, which stops it on SIGTERM', async () => {
    const crashed = runCli(['serve'], { PORT: String(await freePort()) });
    await waitForUrl(crashed);
    const orphan = postmaster();
    expect(orphan).toBeDefined();
    crashed.child.kill('SIGKILL');
    expect(await withTimeout(crashed.exited, 30_000, () => 'SIGKILL did not end the server')).toEqual({ code: null, signal: 'SIGKILL' });
    expect(isRunning(orphan!.pid)).toBe(true); // nobody stopped it

    const cli = runCli(['serve'], { PORT: String(await freePort()) });
    const base = (await waitForUrl(cli)).replace(/\/graphql$/, '');
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    if (registered) expect((await login(base, registered.email, PASSWORD)).errors).toEqual([]);
    expect(postmaster()).toEqual(orphan);
    expect(state()).toMatchObject({ port: orphan!.port, ownerPid: cli.child.pid });
    await stopAndCheck(cli, 'SIGTERM', orphan!);
  });
});
