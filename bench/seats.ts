/**
 * `npm run bench:seats`: desktop clients running acquire → heartbeat → release cycles over HTTP
 * against one server (its own process, as `npm start` runs it) on the embedded database, and, in
 * the same run, a baseline performing the same SQL transactions directly through `pg` (no HTTP,
 * no GraphQL, no authentication) with the same concurrency from this process. Prints and writes
 * (bench/results/) cycles per second, p50/p99 latency per operation, and the ratio of the two.
 * Settings: BENCH_CLIENTS (64), BENCH_SECONDS (20).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
// The direct-SQL baseline runs the server's own heartbeat statement.
import { ACCOUNT_LOCK_NAMESPACE, HEARTBEAT_FAST_SQL, lockKey, POOL_LOCK_NAMESPACE } from '../src/modules/seats/ledger';
import { keyedHash } from '../src/platform/crypto';
import { projectRoot } from '../src/platform/paths';
import { BENCH_SECRET, BENCH_SHOP_TOKEN, gql, startBenchServer } from './server';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const PASSWORD = 'bench passphrase for seats';
const SEAT_TIMEOUT_MS = 28800 * 1000;

type Op = 'acquire' | 'heartbeat' | 'release';

class Recorder {
  readonly samples: Record<Op, number[]> = { acquire: [], heartbeat: [], release: [] };
  cycles = 0;
  errors = 0;
  async time<T>(op: Op, fn: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    const result = await fn();
    this.samples[op].push(Number(process.hrtime.bigint() - start) / 1e6);
    return result;
  }
  summary(seconds: number) {
    const pct = (xs: number[], p: number) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 100) / 100 : null;
    };
    const ops = Object.fromEntries(
      (Object.keys(this.samples) as Op[]).map((op) => [
        op,
        { count: this.samples[op].length, p50ms: pct(this.samples[op], 50), p99ms: pct(this.samples[op], 99) },
      ]),
    );
    return { cycles: this.cycles, cyclesPerSecond: Math.round((this.cycles / seconds) * 10) / 10, errors: this.errors, ops };
  }
}

async function main(): Promise<void> {
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const bench = await startBenchServer('seats', { DB_POOL_SIZE: '20' }, nodeArgs);
  const { url, databaseUrl, admin } = bench;
  const server = { ds: { query: (sql: string, params?: unknown[]) => admin.query(sql, params).then((r) => r.rows) } };
  console.log(`server on ${url}; ${CLIENTS} clients, ${SECONDS} s per phase`);
  try {
    // An owner with enough seats for everyone, an organization, CLIENTS verified members.
    const register = async (i: number) => {
      const email = `bench-${i}-${randomUUID().slice(0, 8)}@example.com`;
      const d = await gql(url, undefined, `mutation($i: RegisterInput!) { register(input: $i) { token account { id userId } errors { code } } }`, {
        i: { email, password: PASSWORD, name: `Bench ${i}`, language: 'EN' },
      });
      await server.ds.query('UPDATE accounts SET email_verified_at = now() WHERE id = $1', [d.register.account.id]);
      return d.register as { token: string; account: { id: string; userId: string } };
    };
    const owner = await register(-1);
    await gql(url, BENCH_SHOP_TOKEN, `mutation($i: IssueLicenseInput!) { issueLicense(input: $i) { errors { code } } }`, {
      i: {
        type: 'COMMERCIAL',
        seats: CLIENTS + 10,
        platforms: ['WINDOWS', 'MAC'],
        purchaserEmail: 'shop@example.com',
        orderReference: `bench-${randomUUID()}`,
        redeemForUserId: owner.account.userId,
      },
    });
    const org = await gql(url, owner.token, 'mutation { createOrganization(input: {name: "Bench"}) { organization { id inviteCode } } }');
    const code = org.createOrganization.organization.inviteCode as string;
    const members: Array<{ token: string; account: { id: string } }> = [];
    for (let i = 0; i < CLIENTS; i += 16) {
      const batch = await Promise.all(Array.from({ length: Math.min(16, CLIENTS - i) }, (_, j) => register(i + j)));
      await Promise.all(batch.map((m) => gql(url, m.token, 'mutation($c: String!) { redeemCode(code: $c) { errors { code } } }', { c: code })));
      members.push(...batch);
    }

    // Phase 1: GraphQL over HTTP.
    const http = new Recorder();
    const httpDeadline = Date.now() + SECONDS * 1000;
    await Promise.all(
      members.map(async (m, i) => {
        while (Date.now() < httpDeadline) {
          try {
            const a = await http.time('acquire', () =>
              gql(url, m.token, 'mutation($i: AcquireSeatInput!) { acquireSeat(input: $i) { lease { id } errors { code } } }', {
                i: { deviceId: `dev-${i}`, platform: 'WINDOWS' },
              }),
            );
            const leaseId = a.acquireSeat.lease.id as string;
            await http.time('heartbeat', () =>
              gql(url, m.token, 'mutation($id: ID!) { heartbeatSeat(leaseId: $id) { lease { id } errors { code } } }', { id: leaseId }),
            );
            await http.time('release', () =>
              gql(url, m.token, 'mutation($i: ReleaseSeatInput!) { releaseSeat(input: $i) { lease { endReason } errors { code } } }', { i: { leaseId } }),
            );
            http.cycles++;
          } catch {
            http.errors++;
          }
        }
      }),
    );

    // Phase 2: the same transactions directly through pg, same concurrency, same database.
    const pool = new Pool({ connectionString: databaseUrl, max: 20 });
    const direct = new Recorder();
    const tx = async <T>(work: (q: (sql: string, params?: unknown[]) => Promise<any[]>) => Promise<T>): Promise<T> => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(async (sql, params) => (await client.query(sql, params)).rows);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      } finally {
        client.release();
      }
    };
    const live = `l.ended_at IS NULL AND (l.lapses_at IS NULL OR l.lapses_at > $2)`;
    const directDeadline = Date.now() + SECONDS * 1000;
    await Promise.all(
      members.map(async (m, i) => {
        const deviceHash = keyedHash(BENCH_SECRET, 'device', `direct-${i}`);
        while (Date.now() < directDeadline) {
          try {
            const leaseId = await direct.time('acquire', () =>
              tx(async (q) => {
                const now = new Date();
                await q('SELECT pg_advisory_xact_lock($1::int, k) FROM unnest($2::int[]) WITH ORDINALITY AS t(k, n) ORDER BY n', [
                  ACCOUNT_LOCK_NAMESPACE,
                  [lockKey(m.account.id)],
                ]);
                await q('SELECT * FROM seat_leases l WHERE l.account_id = $1 AND l.device_hash = $2 AND l.ended_at IS NULL', [m.account.id, deviceHash]);
                const ms = await q(
                  `SELECT m.organization_id, o.owner_account_id FROM memberships m JOIN organizations o ON o.id = m.organization_id
                    WHERE m.account_id = $1 AND m.status = 'ACTIVE' ORDER BY m.joined_at, m.id`,
                  [m.account.id],
                );
                const poolId = ms[0].owner_account_id as string;
                // The seat ledger's order: the pool's lock first, then everything the decision reads.
                await q('SELECT pg_advisory_xact_lock($1::int, k) FROM unnest($2::int[]) WITH ORDINALITY AS t(k, n) ORDER BY n', [
                  POOL_LOCK_NAMESPACE,
                  [lockKey(poolId), lockKey(m.account.id)].sort((a, b) => a - b),
                ]);
                await q('SELECT * FROM licenses WHERE owner_account_id = $1', [m.account.id]);
                const licenses = await q('SELECT * FROM licenses WHERE owner_account_id = $1', [poolId]);
                await q(`SELECT * FROM seat_leases l WHERE l.pool_account_id = $1 AND ${live}`, [poolId, now]);
                await q(
                  `SELECT account_id, license_id, status, hold_until FROM waitlist_entries WHERE pool_account_id = $1 AND status IN ('WAITING', 'HOLDING')`,
                  [poolId],
                );
                const id = randomUUID();
                await q(
                  `INSERT INTO seat_leases (id, account_id, pool_account_id, organization_id, license_id, device_hash, platform, kind, acquired_at, last_heartbeat_at, lapses_at)
                   VALUES ($1, $2, $3, $4, $5, $6, 'WINDOWS', 'MEMBER', $7, $7, $8)`,
                  [id, m.account.id, poolId, ms[0].organization_id, licenses[0].id, deviceHash, now, new Date(now.getTime() + SEAT_TIMEOUT_MS)],
                );
                return id;
              }),
            );
            await direct.time('heartbeat', async () => {
              const now = new Date();
              const rows = (
                await pool.query(HEARTBEAT_FAST_SQL, [leaseId, m.account.id, now, new Date(now.getTime() + SEAT_TIMEOUT_MS), new Date(now.getTime() + 300_000)])
              ).rows;
              if (rows.length !== 1) throw new Error('fast heartbeat missed');
            });
            await direct.time('release', () =>
              tx(async (q) => {
                const now = new Date();
                // As the server does: the lease, the account's seat lock, the lease again, the ending.
                await q('SELECT * FROM seat_leases WHERE id = $1', [leaseId]);
                await q('SELECT pg_advisory_xact_lock($1::int, k) FROM unnest($2::int[]) WITH ORDINALITY AS t(k, n) ORDER BY n', [
                  ACCOUNT_LOCK_NAMESPACE,
                  [lockKey(m.account.id)],
                ]);
                await q('SELECT * FROM seat_leases WHERE id = $1', [leaseId]);
                await q(`UPDATE seat_leases SET ended_at = $1, end_reason = 'CLOSED' WHERE id = $2 AND ended_at IS NULL RETURNING *`, [now, leaseId]);
              }),
            );
            direct.cycles++;
          } catch {
            direct.errors++;
          }
        }
      }),
    );
    await pool.end();

    const graphql = http.summary(SECONDS);
    const baseline = direct.summary(SECONDS);
    const result = {
      benchmark: 'seats',
      when: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model,
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
        platform: `${os.platform()} ${os.release()}`,
      },
      settings: {
        clients: CLIENTS,
        secondsPerPhase: SECONDS,
        database: 'embedded PostgreSQL',
        dbPoolSize: 20,
        server: 'separate process (node dist/src/cli.js serve)',
      },
      graphql,
      directSql: baseline,
      ratio: Math.round((graphql.cyclesPerSecond / baseline.cyclesPerSecond) * 1000) / 1000,
    };
    const file = path.join(projectRoot(), 'bench', 'results', `seats-${result.when.replace(/[:.]/g, '-')}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result, null, 2));
    console.log(`GraphQL path: ${graphql.cyclesPerSecond} cycles/s; direct SQL: ${baseline.cyclesPerSecond} cycles/s; ratio ${result.ratio}`);
    console.log(`written to ${path.relative(projectRoot(), file)}`);
  } finally {
    await bench.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
