import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { Client } from 'pg';
import { loadConfig, type Config } from '../../src/config';
import { backupDatabase, readBackupSummary, restoreDatabase } from '../../src/platform/db/backup';
import { ensureEmbeddedPostgres } from '../../src/platform/db/embedded';
import { createLogger } from '../../src/platform/logger';
import { acquire, heartbeat, issueLicense, login, newAccount, redeem, type NewAccount } from '../helpers/factories';
import { createTestDatabase, dropTestDatabase, startTestServer, type TestServer } from '../helpers/server';

/**
 * `tessera backup` / `tessera restore` (issue 18): a backup taken while the API is under load holds
 * everything committed before it started, agrees with itself, and restores into a fresh database
 * that a server then serves; a non-empty target needs --force; a damaged file changes nothing.
 */

const APP_SECRET = 'test-secret-test-secret-test-secret-0123';

let t: TestServer;
let tmp: string;
let owner: NewAccount;
const extraDbs: string[] = [];

/** `appSecret` null: none set (DATA_DIR/app-secret, as a server without APP_SECRET). */
function configFor(databaseUrl: string | undefined, dataDir = tmp, appSecret: string | null = APP_SECRET): Config {
  return loadConfig({
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    DATA_DIR: dataDir,
    ...(appSecret ? { APP_SECRET: appSecret } : {}),
    LOG_LEVEL: 'silent',
  });
}

function capture(): { logger: ReturnType<typeof createLogger>; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  return { logger: createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l)) }), lines };
}

async function sql<T = Record<string, unknown>>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end();
  }
}

async function freshDb(): Promise<string> {
  const url = await createTestDatabase();
  extraDbs.push(url);
  return url;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-backup-'));
  t = await startTestServer();
  owner = await newAccount(t);
  await issueLicense(t, { seats: 200, redeemForUserId: owner.account.userId });
  for (let i = 0; i < 5; i++) expect((await acquire(t, owner.token, `before-${i}`)).errors).toEqual([]);
});

afterAll(async () => {
  await t?.stop();
  for (const url of extraDbs) await dropTestDatabase(url).catch(() => undefined);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Acquires, heartbeats and redeems in a loop until `stop` (bounded in count and time). */
function load(stop: { done: boolean }): Promise<number> {
  const deadline = Date.now() + 60_000;
  let ops = 0;
  const worker = async (w: number) => {
    const leases: string[] = [];
    for (let i = 0; !stop.done && Date.now() < deadline && i < 400; i++) {
      const a = await acquire(t, owner.token, `load-${w}-${i}`);
      if (a.lease) leases.push(a.lease.id);
      if (leases.length) await heartbeat(t, owner.token, leases[Math.floor(Math.random() * leases.length)]);
      if (i % 3 === 0) {
        const license = await issueLicense(t, { seats: 1 });
        await redeem(t, owner.token, license.key);
      }
      ops++;
    }
  };
  return Promise.all([0, 1, 2].map(worker)).then(() => ops);
}

describe('backup and restore (DATABASE_URL)', () => {
  let file: string;
  let restored: string;
  let committedLeases: string[];
  let committedLicenses: string[];

  it('backs up while acquires, heartbeats and redeems run, and restores everything committed before it started', async () => {
    const stop = { done: false };
    const running = load(stop);
    await new Promise((r) => setTimeout(r, 1500));
    // Committed before the backup starts: everything it must hold.
    committedLeases = (await sql<{ id: string }>(t.databaseUrl, 'SELECT id FROM seat_leases')).map((r) => r.id);
    committedLicenses = (await sql<{ id: string }>(t.databaseUrl, 'SELECT id FROM licenses')).map((r) => r.id);
    file = path.join(tmp, 'backup.tessera.gz');
    const { logger, lines } = capture();
    const result = await backupDatabase(configFor(t.databaseUrl), logger, file);
    await new Promise((r) => setTimeout(r, 500));
    stop.done = true;
    const ops = await running;
    expect(ops).toBeGreaterThan(5);
    expect(result.file).toBe(file);
    expect(result.bytes).toBe(fs.statSync(file).size);
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);
    expect(lines.some((l) => l.level === 40 && /APP_SECRET/.test(l.msg))).toBe(true);

    const summary = await readBackupSummary(file);
    expect(summary.header.format).toBe('tessera-backup');
    expect(summary.header.migrations.length).toBeGreaterThan(5);
    expect(result.tables).toBe(summary.header.tables.length);
    expect(summary.rows['public.seat_leases']).toBeGreaterThanOrEqual(committedLeases.length);

    restored = await freshDb();
    const r = await restoreDatabase(configFor(restored), createLogger('silent'), file, { force: false });
    expect(r.tables).toBe(summary.header.tables.length);
    expect(r.rows).toBe(Object.values(summary.rows).reduce((a, b) => a + b, 0));

    const leases = new Set((await sql<{ id: string }>(restored, 'SELECT id FROM seat_leases')).map((x) => x.id));
    const licenses = new Set((await sql<{ id: string }>(restored, 'SELECT id FROM licenses')).map((x) => x.id));
    for (const id of committedLeases) expect(leases.has(id)).toBe(true);
    for (const id of committedLicenses) expect(licenses.has(id)).toBe(true);
    // One snapshot: the counts are those seen in it, and every reference resolves.
    for (const [table, n] of Object.entries(summary.rows)) {
      const [{ c }] = await sql<{ c: string }>(restored, `SELECT count(*) AS c FROM ${table}`);
      expect([table, Number(c)]).toEqual([table, n]);
    }
    const [orphans] = await sql<{ n: string }>(
      restored,
      `SELECT count(*) AS n FROM seat_leases s
        WHERE NOT EXISTS (SELECT 1 FROM licenses l WHERE l.id = s.license_id)
           OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = s.pool_account_id)`,
    );
    expect(Number(orphans.n)).toBe(0);
    // The backed-up server's leases are still in it (load goes on afterwards: the source has more).
    const [{ n: sourceLeases }] = await sql<{ n: string }>(t.databaseUrl, 'SELECT count(*) AS n FROM seat_leases');
    expect(Number(sourceLeases)).toBeGreaterThanOrEqual(leases.size);
    // Identity columns continue after the restored rows.
    const [seq] = await sql<{ max: string | null; next: string }>(
      restored,
      `SELECT (SELECT max(id) FROM audit_log) AS max, nextval(pg_get_serial_sequence('audit_log', 'id')) AS next`,
    );
    expect(Number(seq.next)).toBe(Number(seq.max ?? 0) + 1);
    // The mail outbox's queue came along.
    const jobs = await sql<{ n: string }>(restored, 'SELECT count(*) AS n FROM tessera_outbox.job');
    expect(Number(jobs[0].n)).toBe(summary.rows['tessera_outbox.job']);
  });

  it('refuses a non-empty target without --force, and replaces it with --force', async () => {
    await expect(restoreDatabase(configFor(restored), createLogger('silent'), file, { force: false })).rejects.toThrow(/not empty.*--force/);
    await sql(restored, "UPDATE accounts SET name = 'changed after restore'");
    await sql(restored, 'DELETE FROM seat_leases WHERE id = $1', [committedLeases[0]]);
    const r = await restoreDatabase(configFor(restored), createLogger('silent'), file, { force: true });
    const summary = await readBackupSummary(file);
    expect(r.rows).toBe(Object.values(summary.rows).reduce((a, b) => a + b, 0));
    const [{ n }] = await sql<{ n: string }>(restored, "SELECT count(*) AS n FROM accounts WHERE name = 'changed after restore'");
    expect(Number(n)).toBe(0);
    const [{ c }] = await sql<{ c: string }>(restored, 'SELECT count(*) AS c FROM seat_leases WHERE id = $1', [committedLeases[0]]);
    expect(Number(c)).toBe(1);
  });

  it('refuses a truncated or altered file and changes nothing', async () => {
    const empty = await freshDb();
    const whole = fs.readFileSync(file);
    const truncated = path.join(tmp, 'truncated.gz');
    fs.writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    await expect(restoreDatabase(configFor(empty), createLogger('silent'), truncated, { force: false })).rejects.toThrow(/not a complete Tessera backup/);
    // Well-formed gzip, one row altered: the checksum catches it.
    const text = zlib.gunzipSync(whole).toString('utf8').split('\n');
    const i = text.findIndex((l, n) => n > 0 && l.startsWith('{"id"'));
    text[i] = text[i].replace(/"id":"([0-9a-f])/, (_m, c: string) => `"id":"${c === 'a' ? 'b' : 'a'}`);
    const altered = path.join(tmp, 'altered.gz');
    fs.writeFileSync(altered, zlib.gzipSync(text.join('\n')));
    await expect(restoreDatabase(configFor(empty), createLogger('silent'), altered, { force: false })).rejects.toThrow(/checksum/);
    const plain = path.join(tmp, 'plain.txt');
    fs.writeFileSync(plain, 'hello');
    await expect(restoreDatabase(configFor(empty), createLogger('silent'), plain, { force: false })).rejects.toThrow(/not a complete Tessera backup/);
    // Not even the migrations ran.
    const tables = await sql(empty, "SELECT 1 FROM pg_tables WHERE schemaname IN ('public', 'tessera_outbox')");
    expect(tables).toHaveLength(0);
    // And on a restored database: still the same rows after a refused forced restore.
    const before = await sql<{ c: string }>(restored, 'SELECT count(*) AS c FROM seat_leases');
    await expect(restoreDatabase(configFor(restored), createLogger('silent'), truncated, { force: true })).rejects.toThrow(/not a complete/);
    expect(await sql(restored, 'SELECT count(*) AS c FROM seat_leases')).toEqual(before);
  });

  it('leaves no file behind when the backup fails', async () => {
    const target = path.join(tmp, 'never.gz');
    await expect(backupDatabase(configFor(await freshDb()), createLogger('silent'), target)).rejects.toThrow(/no Tessera schema/);
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.existsSync(`${target}.tmp`)).toBe(false);
  });

  it('serves the restored database: a backed-up account logs in and finds its seats', async () => {
    const t2 = await startTestServer({}, { databaseUrl: restored });
    try {
      const session = await login(t2, owner.email, owner.password);
      expect(session.errors).toEqual([]);
      const a = await acquire(t2, session.token!, 'before-0');
      expect(a.errors).toEqual([]);
      // The same device gets its lease back (R4.2): the lease from before the backup.
      expect(committedLeases).toContain(a.lease!.id);
    } finally {
      await t2.stop();
    }
  });
});

describe('backup and restore (embedded database)', () => {
  it('restores into a fresh DATA_DIR with the embedded PostgreSQL and warns to keep DATA_DIR/app-secret', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-backup-embedded-'));
    try {
      const file = path.join(tmp, 'for-embedded.gz');
      await backupDatabase(configFor(t.databaseUrl), createLogger('silent'), file);
      const summary = await readBackupSummary(file);
      // A fresh data directory: no app secret yet (the restore says to bring the backed-up one).
      const { logger, lines } = capture();
      const r = await restoreDatabase(configFor(undefined, dataDir, null), logger, file, { force: false });
      expect(r.rows).toBe(Object.values(summary.rows).reduce((a, b) => a + b, 0));
      expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([expect.stringMatching(/no app secret here yet/)]);
      // The embedded server was started for the restore and stopped again; a backup of it works too.
      fs.writeFileSync(path.join(dataDir, 'app-secret'), `${APP_SECRET}\n`, { mode: 0o600 });
      const again = capture();
      const b = await backupDatabase(configFor(undefined, dataDir, null), again.logger, path.join(dataDir, 'again.gz'));
      expect(b.tables).toBe(summary.header.tables.length);
      expect((await readBackupSummary(b.file)).rows).toEqual(summary.rows);
      expect(again.lines.some((l) => l.level === 40 && l.msg.includes(path.join(dataDir, 'app-secret')))).toBe(true);
      const embedded = await ensureEmbeddedPostgres(dataDir, createLogger('silent'));
      try {
        const [{ n }] = await sql<{ n: string }>(embedded.url, 'SELECT count(*) AS n FROM seat_leases');
        expect(Number(n)).toBe(summary.rows['public.seat_leases']);
      } finally {
        await embedded.stop();
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
