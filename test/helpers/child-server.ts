import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const APP_SECRET = 'test-secret-test-secret-test-secret-0123';

export interface Child {
  proc: ChildProcess;
  url: string;
  dataDir: string;
  output: string[];
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * `node dist/src/cli.js serve` in a process of its own, with the test servers' APP_SECRET and a test
 * clock; `env` sets the rest (DATABASE_URL at least; SMTP_URL too, since every instance delivers
 * the shared outbox's mail).
 */
export async function startChild(env: Record<string, string> & { DATABASE_URL: string }): Promise<Child> {
  const cli = path.resolve(__dirname, '../../dist/src/cli.js');
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-second-instance-'));
  const port = await freePort();
  // Nothing of this process's own configuration leaks into the child.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) =>
        !/^(DATABASE_URL|PORT|HOST|DATA_DIR|PUBLIC_URL|SMTP_URL|MAIL_FROM|SHOP_API_TOKEN|REDIS_URL|APP_SECRET|TEST_CLOCK|TRUST_PROXY|LOG_LEVEL|RATE_LIMIT_FACTOR|SEAT_TIMEOUT_SECONDS|HEARTBEAT_INTERVAL_SECONDS|NODE_ENV|DB_POOL_SIZE|BODY_LIMIT_BYTES|DB_[A-Z_]+_MS|TESSERA_.*)$/.test(
          k,
        ),
    ),
  );
  const proc = spawn(process.execPath, [cli, 'serve'], {
    env: { ...inherited, PORT: String(port), DATA_DIR: dataDir, APP_SECRET, RATE_LIMIT_FACTOR: '1000', TEST_CLOCK: '1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`second server did not start within 60 s:\n${output.join('')}`)), 60_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output.push(text);
      buffered += text;
      const m = /Tessera GraphQL API: (\S+)/.exec(buffered);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`second server exited (${code ?? signal}) before it was ready:\n${output.join('')}`));
    });
  });
  return { proc, url, dataDir, output };
}

export async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode === null && c.proc.signalCode === null) {
    const exited = new Promise<void>((resolve) => c.proc.once('exit', () => resolve()));
    c.proc.kill('SIGTERM');
    const timer = setTimeout(() => c.proc.kill('SIGKILL'), 35_000);
    await exited;
    clearTimeout(timer);
  }
  fs.rmSync(c.dataDir, { recursive: true, force: true });
}

/** Kills the process at once (SIGKILL: no shutdown, no drain), as a crash or an OOM kill would. */
export async function killChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => c.proc.once('exit', () => resolve()));
  c.proc.kill('SIGKILL');
  await exited;
}
