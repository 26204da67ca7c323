/**
 * What the benchmarks share: a server in its own process (`node dist/src/cli.js serve`, as
 * `npm start` runs it) on a fresh embedded database, a direct connection to that database, and a
 * small GraphQL-over-HTTP helper.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { freePort, readEmbeddedState } from '../src/platform/db/embedded';
import { projectRoot } from '../src/platform/paths';

export const BENCH_SECRET = 'bench-secret-bench-secret-bench-secret-00';
export const BENCH_SHOP_TOKEN = 'bench-shop-token-0123456789';

export interface BenchServer {
  url: string;
  databaseUrl: string;
  /** Two connections straight to the server's database (setting up accounts, reading rows). */
  admin: Pool;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startBenchServer(name: string, env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<BenchServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `tessera-bench-${name}-`));
  fs.chmodSync(dataDir, 0o755); // the embedded database may run as another user (when we are root)
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    DATA_DIR: dataDir,
    APP_SECRET: BENCH_SECRET,
    SHOP_API_TOKEN: BENCH_SHOP_TOKEN,
    RATE_LIMIT_FACTOR: '100000',
    LOG_LEVEL: 'warn',
    ...env,
  };
  delete childEnv.DATABASE_URL;
  const child = spawn(process.execPath, [...nodeArgs, path.join(projectRoot(), 'dist', 'src', 'cli.js'), 'serve'], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /Tessera GraphQL API: (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const state = readEmbeddedState(dataDir)!;
  const databaseUrl = `postgres://${state.user}:${encodeURIComponent(state.password)}@127.0.0.1:${state.port}/tessera`;
  const admin = new Pool({ connectionString: databaseUrl, max: 2 });
  return {
    url,
    databaseUrl,
    admin,
    child,
    async stop() {
      await admin.end();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** One GraphQL request over HTTP; GraphQL errors are thrown. */
export async function gql(url: string, token: string | undefined, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: Record<string, any>; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!;
}
