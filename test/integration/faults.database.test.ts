import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { ensureEmbeddedPostgres, type EmbeddedPostgres } from '../../src/platform/db/embedded';
import { createLogger } from '../../src/platform/logger';
import { ACCOUNT_LOCK_NAMESPACE, lockKey } from '../../src/modules/seats/ledger';
import { acquire, issueLicense, login, newAccount, redeem, release } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * A frozen database (every PostgreSQL process stopped with SIGSTOP, as a hung host or a paused VM
 * looks from outside): the server answers within its bounds and recovers by itself on SIGCONT.
 * The test runs its own embedded PostgreSQL, so that freezing it stops no other test file.
 */

const STATEMENT_MS = 1_000;
const CONNECT_MS = 1_000;
/** The most a request may wait: the client's read timeout (statement + 2 s grace) plus a connect. */
const REQUEST_BOUND_MS = STATEMENT_MS + 2_000 + CONNECT_MS + 2_000;

let dataDir: string;
let db: EmbeddedPostgres;
let t: TestServer;
let frozen: number[] = [];

function postgresPids(): number[] {
  const pidFile = path.join(dataDir, 'postgres', 'postmaster.pid');
  const postmaster = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  let children: number[] = [];
  try {
    children = execFileSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    // pgrep exits 1 when there are no children
  }
  return [postmaster, ...children];
}

function freeze(): void {
  frozen = postgresPids();
  for (const pid of frozen) process.kill(pid, 'SIGSTOP');
}

function thaw(): void {
  for (const pid of frozen) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone already
    }
  }
  frozen = [];
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = Date.now();
  const value = await work();
  return { ms: Date.now() - started, value };
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-frozen-db-'));
  db = await ensureEmbeddedPostgres(dataDir, createLogger('warn'));
  t = await startTestServer(
    { DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_MS), DB_CONNECT_TIMEOUT_MS: String(CONNECT_MS), DB_LOCK_TIMEOUT_MS: '1000' },
    { adminUrl: db.url },
  );
});

afterAll(async () => {
  thaw();
  await t?.stop();
  await db?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

afterEach(() => thaw());

test('a frozen database: /readyz says 503 within 3 s, requests fail within the bound with a generic localized error, and all recovers on SIGCONT', async () => {
  const user = await newAccount(t);
  const license = await issueLicense(t, { seats: 2 });
  expect((await redeem(t, user.token, license.key)).errors).toEqual([]);
  const before = await acquire(t, user.token, 'device-before');
  expect(before.errors).toEqual([]);
  expect((await fetch(`${t.base}/readyz`)).status).toBe(200);

  freeze();

  const ready = await timed(() => fetch(`${t.base}/readyz`, { signal: AbortSignal.timeout(10_000) }));
  expect(ready.value.status).toBe(503);
  expect(ready.ms).toBeLessThan(3_000);

  // Several at once, more than the pool's idle connections: each fails on its own within the bound.
  const attempts = await timed(() =>
    Promise.all([
      t.gql('{ me { id } }', {}, { token: user.token, lang: 'de' }),
      t.gql(
        'mutation($input: AcquireSeatInput!) { acquireSeat(input: $input) { lease { id } errors { code } } }',
        { input: { deviceId: 'device-frozen', platform: 'WINDOWS' } },
        { token: user.token },
      ),
      ...Array.from({ length: 12 }, () => t.gql('{ me { id } }', {}, { token: user.token })),
    ]),
  );
  expect(attempts.ms).toBeLessThan(REQUEST_BOUND_MS * 2); // the second wave waits for a connection first
  for (const r of attempts.value) {
    const error = r.errors?.[0];
    expect(error?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(error?.extensions?.reason).toBe('DATABASE_UNAVAILABLE');
    expect(error?.message).not.toMatch(/ECONN|timeout|127\.0\.0\.1|postgres|pg_|connect/i);
    expect(r.data?.acquireSeat?.lease ?? r.data?.me ?? null).toBeNull();
  }
  expect(attempts.value[0].errors?.[0].message).toBe('Bei uns ist ein Fehler aufgetreten. Bitte versuchen Sie es erneut.');
  // A request that needs no database still answers, and so do the metrics (without the figures read from it).
  expect((await fetch(`${t.base}/healthz`)).status).toBe(200);
  const metrics = await timed(() => fetch(`${t.base}/metrics`, { signal: AbortSignal.timeout(10_000) }));
  expect(metrics.value.status).toBe(200);
  const text = await metrics.value.text();
  expect(text).toMatch(/tessera_db_pool_connections\{state="total"\}/);
  expect(text).toMatch(/^tessera_licenses_over_capacity nan$/im); // unknown, not 0
  expect(metrics.ms).toBeLessThan(3_000);

  thaw();

  // Without a restart: ready again, and every kind of request works (the abandoned connections were dropped).
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    status = (await fetch(`${t.base}/readyz`)).status;
    if (status !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  expect(status).toBe(200);
  const results = await Promise.all(Array.from({ length: 12 }, () => t.gql('{ me { id } }', {}, { token: user.token })));
  for (const r of results) expect(r.data?.me?.id).toBe(user.account.id);
  const relogin = await login(t, user.email, user.password);
  expect(relogin.errors).toEqual([]);
  const after = await acquire(t, user.token, 'device-after');
  expect(after.errors).toEqual([]);
  expect((await release(t, user.token, before.lease!.id)).errors).toEqual([]);
  // The frozen acquire left nothing behind: the leases are the one made before and the one after.
  const leases = await t.server.ds.query<Array<{ id: string }>>('SELECT id FROM seat_leases ORDER BY acquired_at');
  expect(leases.map((l) => l.id)).toEqual([before.lease!.id, after.lease!.id]);
});

test('a lock held past DB_LOCK_TIMEOUT_MS fails the waiting request with the generic error and leaves nothing half done', async () => {
  const user = await newAccount(t);
  const license = await issueLicense(t, { seats: 1 });
  expect((await redeem(t, user.token, license.key)).errors).toEqual([]);
  // Another session holds the account's seat lock (as a stuck transaction would).
  const holder = new Client({ connectionString: t.databaseUrl });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock($1::int, $2::int)', [ACCOUNT_LOCK_NAMESPACE, lockKey(user.account.id)]);
    const r = await t.gql(
      'mutation($input: AcquireSeatInput!) { acquireSeat(input: $input) { lease { id } errors { code } } }',
      { input: { deviceId: 'device-locked', platform: 'WINDOWS' } },
      { token: user.token },
    );
    expect(r.data?.acquireSeat ?? null).toBeNull();
    expect(r.errors?.[0].extensions).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', reason: 'DATABASE_UNAVAILABLE' });
    expect(r.errors?.[0].message).toBe('Something went wrong on our side. Please try again.');
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    await holder.end();
  }
  const [{ n }] = await t.server.ds.query<Array<{ n: number }>>('SELECT count(*)::int AS n FROM seat_leases WHERE account_id = $1', [user.account.id]);
  expect(n).toBe(0);
  expect((await acquire(t, user.token, 'device-locked')).errors).toEqual([]);
});
