import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { migrations as codeMigrations } from '../../../migrations';
import type { Config } from '../../config';
import type { Logger } from '../logger';
import { OUTBOX_SCHEMA, startOutboxBoss } from '../outbox-boss';
import { createDataSource, migrate } from './data-source';
import { ensureEmbeddedPostgres, type EmbeddedPostgres } from './embedded';

/**
 * `tessera backup <file>` and `tessera restore <file>` (issue 18): the embedded database or the one
 * at DATABASE_URL, consistent while the server runs.
 *
 * Plain SQL over the `pg` driver, no client binaries: the embedded PostgreSQL 17 ships no `pg_dump`,
 * and a DATABASE_URL server may be any version from 15 on, which a machine's `pg_dump` need not match.
 *
 * Backup: one connection, one `REPEATABLE READ READ ONLY` transaction, so every table is read from
 * the same snapshot (what had committed when it was taken, nothing after): leases, licenses, accounts
 * and queued mail agree with each other however many instances write meanwhile. Writers are not
 * blocked (ACCESS SHARE locks only keep DDL, e.g. a migration, out until the backup ends).
 *
 * The file (gzip'd, one JSON value a line, written to `<file>.tmp` and renamed when complete):
 *   1. a header: format, version, createdAt, serverVersion, the applied migrations, the outbox's
 *      pg-boss schema version, a fingerprint of APP_SECRET, and the tables with their columns;
 *   2. for each table, in foreign-key order: `{"table": "schema.name", "rows": N}`, then N lines,
 *      each PostgreSQL's own `row_to_json` of one row (never parsed here: numbers, bytea and
 *      timestamps come back exactly as PostgreSQL wrote them);
 *   3. a trailer `{"end": true, "tables", "rows", "sha256"}`: the digest of every line before it.
 * A truncated or altered file fails its gzip check, its counts or its digest, and is refused before
 * restore changes anything.
 *
 * Restore: the file is checked whole first; then the target (empty, or with `force`) is brought to
 * the backup's migrations, and every row is loaded with `json_populate_recordset` in ONE
 * transaction (with `force`, the tables are emptied in the same one): it all lands, or nothing does.
 */
export interface BackupResult {
  file: string;
  bytes: number;
  tables: number;
}

export interface RestoreResult {
  tables: number;
  rows: number;
}

export const BACKUP_FORMAT = 'tessera-backup';
export const BACKUP_VERSION = 1;

export interface BackupTable {
  schema: string;
  name: string;
  columns: string[];
}

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  version: number;
  createdAt: string;
  serverVersion: string;
  /** Names of the applied migrations (TypeORM's `migrations` table), oldest first. */
  migrations: string[];
  /** pg-boss's schema version of `tessera_outbox` (null: the outbox was never started there). */
  outboxVersion: number | null;
  /** HMAC of a constant under the app secret: tells a restore whether it runs with the same secret. */
  appSecretCheck: string | null;
  tables: BackupTable[];
}

export interface BackupSummary {
  header: BackupHeader;
  /** Rows per table (`schema.name`), as counted in the backup's snapshot. */
  rows: Record<string, number>;
}

/** The outbox's tables that are kept: the queues' definitions and their jobs (queued mail and webhooks). */
const OUTBOX_TABLES = ['queue', 'job'];
/** Read and written in chunks of this many rows. */
const BATCH_ROWS = 500;
const BATCH_BYTES = 4 * 1024 * 1024;

function qualified(t: { schema: string; name: string }): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function secretCheck(secret: string): string {
  return createHmac('sha256', secret).update('tessera-backup app secret check').digest('base64url').slice(0, 22);
}

/** The app secret as the server would use it, without generating one (undefined: none yet). */
function currentAppSecret(config: Config): { secret: string | undefined; fromFile: string | undefined } {
  if (config.appSecret) return { secret: config.appSecret, fromFile: undefined };
  const file = path.join(config.dataDir, 'app-secret');
  try {
    const existing = fs.readFileSync(file, 'utf8').trim();
    if (existing.length >= 32) return { secret: existing, fromFile: file };
  } catch {
    /* none */
  }
  return { secret: undefined, fromFile: file };
}

/** A plain connection with no statement, lock or idle limits: a backup of a large database takes its time. */
async function connect(config: Config, logger: Logger): Promise<{ client: Client; url: string; close: () => Promise<void> }> {
  let embedded: EmbeddedPostgres | undefined;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await ensureEmbeddedPostgres(config.dataDir, logger);
    url = embedded.url;
  }
  const client = new Client({ connectionString: url, application_name: 'tessera-backup', connectionTimeoutMillis: config.dbTimeouts.connectMs });
  try {
    await client.connect();
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  return {
    client,
    url,
    async close() {
      await client.end().catch(() => undefined);
      await embedded?.stop();
    },
  };
}

/** The application's tables present in the database: every base table of `public`, and the outbox's kept ones. */
async function listTables(client: Client): Promise<BackupTable[]> {
  const { rows } = await client.query<{ schema: string; name: string; columns: string[] }>(
    `SELECT n.nspname AS schema, c.relname AS name,
            array_agg(a.attname::text ORDER BY a.attnum) AS columns
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND (n.nspname = 'public' OR (n.nspname = $1 AND c.relname = ANY($2)))
      GROUP BY n.nspname, c.relname`,
    [OUTBOX_SCHEMA, OUTBOX_TABLES],
  );
  // Partitions count as their partitioned table (pg-boss's job_common is part of job, which needs queue).
  const { rows: fks } = await client.query<{ child: string; parent: string }>(
    `SELECT cn.nspname || '.' || c.relname AS child, pn.nspname || '.' || p.relname AS parent
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = COALESCE(pg_partition_root(k.conrelid), k.conrelid) JOIN pg_namespace cn ON cn.oid = c.relnamespace
       JOIN pg_class p ON p.oid = COALESCE(pg_partition_root(k.confrelid), k.confrelid) JOIN pg_namespace pn ON pn.oid = p.relnamespace
      WHERE k.contype = 'f' AND c.oid <> p.oid`,
  );
  // Parents before children (a table referencing itself is loaded in one statement, checked at its end).
  const byKey = new Map(rows.map((t) => [`${t.schema}.${t.name}`, t]));
  const parents = new Map<string, Set<string>>();
  for (const { child, parent } of fks) {
    if (!byKey.has(child) || !byKey.has(parent)) continue;
    if (!parents.has(child)) parents.set(child, new Set());
    parents.get(child)!.add(parent);
  }
  const ordered: BackupTable[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (key: string) => {
    if (state.get(key) === 'done') return;
    if (state.get(key) === 'visiting') throw new Error(`foreign keys form a cycle through ${key}: cannot order the tables`);
    state.set(key, 'visiting');
    for (const p of [...(parents.get(key) ?? [])].sort()) visit(p);
    state.set(key, 'done');
    const t = byKey.get(key)!;
    ordered.push({ schema: t.schema, name: t.name, columns: t.columns });
  };
  for (const key of [...byKey.keys()].sort()) visit(key);
  return ordered;
}

async function appliedMigrations(client: Client): Promise<string[] | undefined> {
  const exists = await client.query<{ ok: boolean }>(`SELECT to_regclass('public.migrations') IS NOT NULL AS ok`);
  if (!exists.rows[0].ok) return undefined;
  const { rows } = await client.query<{ name: string }>('SELECT name FROM public.migrations ORDER BY id');
  return rows.map((r) => r.name);
}

async function outboxVersion(client: Client): Promise<number | null> {
  const exists = await client.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`${OUTBOX_SCHEMA}.version`]);
  if (!exists.rows[0].ok) return null;
  const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${quoteIdent(OUTBOX_SCHEMA)}.version`);
  return rows.length ? Number(rows[0].version) : null;
}

/** Lines of the backup file, with the running digest the trailer records. */
async function* backupLines(client: Client, header: BackupHeader, counts: number[]): AsyncGenerator<string> {
  const digest = createHash('sha256');
  const emit = (line: string) => {
    const text = `${line}\n`;
    digest.update(text);
    return text;
  };
  yield emit(JSON.stringify(header));
  let total = 0;
  for (const [i, table] of header.tables.entries()) {
    yield emit(JSON.stringify({ table: `${table.schema}.${table.name}`, rows: counts[i] }));
    const cols = table.columns.map(quoteIdent).join(', ');
    // Only the columns recorded in the header (not generated ones), as one JSON object per row.
    await client.query(`DECLARE tessera_backup NO SCROLL CURSOR FOR SELECT row_to_json(t)::text AS r FROM (SELECT ${cols} FROM ${qualified(table)}) t`);
    let seen = 0;
    for (;;) {
      const { rows } = await client.query<{ r: string }>(`FETCH ${BATCH_ROWS} FROM tessera_backup`);
      if (rows.length === 0) break;
      let chunk = '';
      for (const { r } of rows) {
        // A raw `json` value may hold line breaks between its tokens (JSON whitespace): a space says the same.
        chunk += emit(r.replace(/[\r\n]/g, ' '));
      }
      seen += rows.length;
      yield chunk;
    }
    await client.query('CLOSE tessera_backup');
    if (seen !== counts[i]) throw new Error(`${table.schema}.${table.name}: read ${seen} rows, counted ${counts[i]} in the same snapshot`);
    total += seen;
  }
  yield `${JSON.stringify({ end: true, tables: header.tables.length, rows: total, sha256: digest.digest('hex') })}\n`;
}

export async function backupDatabase(config: Config, logger: Logger, file: string): Promise<BackupResult> {
  const target = path.resolve(file);
  const tmp = `${target}.tmp`;
  const { secret, fromFile } = currentAppSecret(config);
  const { client, close } = await connect(config, logger);
  try {
    await client.query("SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0; SET TIME ZONE 'UTC'");
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const tables = await listTables(client);
    if (tables.length) await client.query(`LOCK TABLE ${tables.map(qualified).join(', ')} IN ACCESS SHARE MODE`);
    const migrationNames = await appliedMigrations(client);
    if (!migrationNames?.length) throw new Error('the database holds no Tessera schema (no migrations applied): nothing to back up');
    const header: BackupHeader = {
      format: BACKUP_FORMAT,
      version: BACKUP_VERSION,
      createdAt: new Date().toISOString(),
      serverVersion: (await client.query<{ v: string }>('SHOW server_version')).rows[0].v,
      migrations: migrationNames,
      outboxVersion: await outboxVersion(client),
      appSecretCheck: secret ? secretCheck(secret) : null,
      // TypeORM's own `migrations` table is carried by the header's list: restore runs those migrations.
      tables: tables.filter((t) => !(t.schema === 'public' && t.name === 'migrations')),
    };
    const counts: number[] = [];
    for (const t of header.tables) counts.push(Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualified(t)}`)).rows[0].n));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    try {
      await pipeline(Readable.from(backupLines(client, header, counts)), zlib.createGzip(), fs.createWriteStream(tmp, { mode: 0o600 }));
      await client.query('COMMIT');
      fs.renameSync(tmp, target);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    const bytes = fs.statSync(target).size;
    const rows = counts.reduce((a, b) => a + b, 0);
    logger.info({ file: target, bytes, tables: header.tables.length, rows }, 'backup written');
    if (fromFile) {
      logger.warn(
        { file: fromFile },
        `keep ${fromFile} together with the backup: APP_SECRET came from that file, and it wraps the signing keys and seals the queued mail; ` +
          'a restore without it cannot use them (copy it into the new DATA_DIR, or set APP_SECRET to its content)',
      );
    } else if (secret) {
      logger.warn('keep the APP_SECRET value together with the backup: it wraps the signing keys and seals the queued mail; a restore needs the same one');
    } else {
      logger.warn('no APP_SECRET and no DATA_DIR/app-secret here: keep the app secret of the servers that use this database with the backup');
    }
    return { file: target, bytes, tables: header.tables.length };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    await close();
  }
}

class CorruptBackup extends Error {
  constructor(file: string, why: string) {
    super(`${file} is not a complete Tessera backup (${why}); nothing was changed`);
  }
}

/** The file's lines, split on "\n" only (a line never holds one: JSON escapes it). */
async function* fileLines(file: string): AsyncGenerator<string> {
  const input = fs.createReadStream(file).pipe(zlib.createGunzip());
  let rest = '';
  for await (const chunk of input as AsyncIterable<Buffer>) {
    rest += chunk.toString('utf8');
    let at: number;
    while ((at = rest.indexOf('\n')) >= 0) {
      yield rest.slice(0, at);
      rest = rest.slice(at + 1);
    }
  }
  if (rest.length) yield rest;
}

type Visitor = (table: BackupTable, rows: string[]) => Promise<void>;

/**
 * Reads the whole file, checking its structure, counts and digest; `visit` gets each table's rows in
 * batches (rows as JSON text). Throws CorruptBackup on any deviation.
 */
async function readBackup(file: string, visit?: Visitor): Promise<BackupSummary> {
  const digest = createHash('sha256');
  const lines = fileLines(file);
  const next = async (): Promise<string | undefined> => {
    const r = await lines.next();
    return r.done ? undefined : r.value;
  };
  const parse = (line: string | undefined, what: string): Record<string, unknown> => {
    if (line === undefined) throw new CorruptBackup(file, `ends before ${what}`);
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new CorruptBackup(file, `${what} is not JSON`);
    }
  };
  try {
    const first = await next();
    const header = parse(first, 'the header') as unknown as BackupHeader;
    if (header.format !== BACKUP_FORMAT) throw new CorruptBackup(file, 'not a tessera-backup file');
    if (header.version !== BACKUP_VERSION) throw new CorruptBackup(file, `format version ${header.version}, this version reads ${BACKUP_VERSION}`);
    if (!Array.isArray(header.tables) || !Array.isArray(header.migrations)) throw new CorruptBackup(file, 'header without tables or migrations');
    digest.update(`${first}\n`);
    const rows: Record<string, number> = {};
    let total = 0;
    for (const table of header.tables) {
      const key = `${table.schema}.${table.name}`;
      const line = await next();
      const start = parse(line, `the table ${key}`);
      if (start.table !== key || typeof start.rows !== 'number') throw new CorruptBackup(file, `expected the table ${key}`);
      digest.update(`${line}\n`);
      let batch: string[] = [];
      let bytes = 0;
      for (let i = 0; i < start.rows; i++) {
        const row = await next();
        if (row === undefined) throw new CorruptBackup(file, `ends inside ${key}`);
        if (!row.startsWith('{') || !row.endsWith('}')) throw new CorruptBackup(file, `a row of ${key} is damaged`);
        digest.update(`${row}\n`);
        batch.push(row);
        bytes += row.length;
        if (batch.length >= BATCH_ROWS || bytes >= BATCH_BYTES) {
          if (visit) await visit(table, batch);
          batch = [];
          bytes = 0;
        }
      }
      if (batch.length && visit) await visit(table, batch);
      rows[key] = start.rows;
      total += start.rows;
    }
    const trailer = parse(await next(), 'the end marker');
    if (trailer.end !== true) throw new CorruptBackup(file, 'no end marker');
    if (trailer.rows !== total || trailer.tables !== header.tables.length) throw new CorruptBackup(file, 'the counts do not match');
    if (trailer.sha256 !== digest.digest('hex')) throw new CorruptBackup(file, 'the checksum does not match');
    if ((await next()) !== undefined) throw new CorruptBackup(file, 'data after the end marker');
    return { header, rows };
  } catch (err) {
    if (err instanceof CorruptBackup) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${file} does not exist`);
    if (code?.startsWith('Z_') || code === 'ERR_INVALID_ARG_TYPE' || /unexpected end|incorrect header|invalid/i.test((err as Error).message)) {
      throw new CorruptBackup(file, `${(err as Error).message}`);
    }
    throw err;
  }
}

/** Reads and checks a backup file without touching any database (its header and per-table row counts). */
export async function readBackupSummary(file: string): Promise<BackupSummary> {
  return readBackup(path.resolve(file));
}

/** pg-boss's queue definitions: a server that started on a database has made them; they are not "data". */
function isQueueTable(t: { schema: string; name: string }): boolean {
  return t.schema === OUTBOX_SCHEMA && t.name === 'queue';
}

/** The tables (other than TypeORM's `migrations`) that hold at least one row. */
async function tablesWithRows(client: Client, tables: BackupTable[]): Promise<string[]> {
  const full: string[] = [];
  for (const t of tables) {
    const exists = await client.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [qualified(t)]);
    if (!exists.rows[0].ok) continue;
    const { rows } = await client.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${qualified(t)}) AS any`);
    if (rows[0].any) full.push(`${t.schema}.${t.name}`);
  }
  return full;
}

export async function restoreDatabase(config: Config, logger: Logger, file: string, options: { force: boolean }): Promise<RestoreResult> {
  const source = path.resolve(file);
  // 1. The whole file is checked before anything else happens.
  const summary = await readBackup(source);
  const { header } = summary;
  const known = codeMigrations.map((M) => new M().name);
  const unknown = header.migrations.filter((m) => !known.includes(m));
  if (unknown.length)
    throw new Error(`the backup was made by a newer version of Tessera (migrations unknown here: ${unknown.join(', ')}); restore it with that version`);
  if (header.migrations.some((m, i) => known[i] !== m))
    throw new Error("the backup's migrations are not a prefix of this version's: it cannot be restored by this version");

  const { client, url, close } = await connect(config, logger);
  try {
    await client.query("SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0; SET TIME ZONE 'UTC'");
    // 2. The target: empty (or `force`), at the backup's migrations.
    const applied = (await appliedMigrations(client)) ?? [];
    const full = await tablesWithRows(
      client,
      header.tables.filter((t) => !isQueueTable(t)),
    );
    if (full.length && !options.force) {
      throw new Error(
        `the target database is not empty (${full.length} tables hold rows: ${full.slice(0, 5).join(', ')}${full.length > 5 ? ', …' : ''}); ` +
          'restore replaces everything in it only with --force',
      );
    }
    if (applied.length > header.migrations.length || applied.some((m, i) => header.migrations[i] !== m)) {
      throw new Error(
        `the target database's schema (${applied.length} migrations, last ${applied.at(-1)}) is newer than the backup's ` +
          `(${header.migrations.length}, last ${header.migrations.at(-1)}): restore into an empty database`,
      );
    }
    if (applied.length < header.migrations.length) {
      const base = createDataSource(url, 2, config.dbTimeouts);
      const subset = codeMigrations.filter((M) => header.migrations.includes(new M().name));
      await migrate(new DataSource({ ...base.options, migrations: subset }), logger);
    }
    const after = (await appliedMigrations(client)) ?? [];
    if (after.join('\n') !== header.migrations.join('\n')) throw new Error("the target database did not reach the backup's migrations");
    const hasOutbox = header.tables.some((t) => t.schema === OUTBOX_SCHEMA);
    if (hasOutbox) {
      if ((await outboxVersion(client)) === null) {
        // pg-boss creates its schema itself (as the server does at start).
        const boss = await startOutboxBoss({
          databaseUrl: url,
          name: 'tessera-restore',
          logger,
          work: false,
          connectTimeoutMs: config.dbTimeouts.connectMs,
          statementTimeoutMs: 0,
          lockTimeoutMs: 0,
        });
        await boss.stop({ graceful: false }).catch(() => undefined);
      }
      const version = await outboxVersion(client);
      if (version !== header.outboxVersion) {
        throw new Error(
          `the outbox's schema here (pg-boss ${version}) differs from the backup's (${header.outboxVersion}): restore with the version that made it`,
        );
      }
    }
    // The columns must be those the backup recorded (the same migrations make the same tables).
    const present = new Map((await listTables(client)).map((t) => [`${t.schema}.${t.name}`, t.columns.join(',')]));
    for (const t of header.tables) {
      const cols = present.get(`${t.schema}.${t.name}`);
      if (cols === undefined) throw new Error(`the target has no table ${t.schema}.${t.name}`);
      if (cols !== t.columns.join(',')) throw new Error(`the table ${t.schema}.${t.name} has other columns here than in the backup`);
    }

    // 3. One transaction: empty (force), load, set the sequences.
    await client.query('BEGIN');
    const list = header.tables.map(qualified).join(', ');
    if (options.force) {
      await client.query(
        `TRUNCATE ${header.tables
          .filter((t) => !isQueueTable(t))
          .map(qualified)
          .join(', ')}`,
      );
    } else {
      // Nobody writes while we check and load; a server on this database waits (reads go on).
      await client.query(`LOCK TABLE ${list} IN EXCLUSIVE MODE`);
      const nowFull = await tablesWithRows(
        client,
        header.tables.filter((t) => !isQueueTable(t)),
      );
      if (nowFull.length) throw new Error(`the target database is not empty any more (${nowFull.join(', ')}); restore replaces it only with --force`);
    }
    let rows = 0;
    await readBackup(source, async (table, batch) => {
      const cols = table.columns.map(quoteIdent).join(', ');
      // The outbox's queues may exist already (a server started there): the backup's definition is kept only for missing ones.
      const conflict = isQueueTable(table) ? ' ON CONFLICT DO NOTHING' : '';
      await client.query(
        `INSERT INTO ${qualified(table)} (${cols}) OVERRIDING SYSTEM VALUE SELECT ${cols} FROM json_populate_recordset(null::${qualified(table)}, $1::json)${conflict}`,
        [`[${batch.join(',')}]`],
      );
      rows += batch.length;
    });
    // Identity and serial columns continue after the restored rows (audit_log.id).
    for (const t of header.tables) {
      for (const c of t.columns) {
        const { rows: seq } = await client.query<{ s: string | null }>('SELECT pg_get_serial_sequence($1, $2) AS s', [qualified(t), c]);
        if (!seq[0].s) continue;
        await client.query(`SELECT setval($1, COALESCE((SELECT max(${quoteIdent(c)}) FROM ${qualified(t)}), 0) + 1, false)`, [seq[0].s]);
      }
    }
    await client.query('COMMIT');
    logger.info({ file: source, tables: header.tables.length, rows }, 'backup restored');
    const { secret, fromFile } = currentAppSecret(config);
    if (header.appSecretCheck && (!secret || secretCheck(secret) !== header.appSecretCheck)) {
      logger.warn(
        secret
          ? 'the app secret here differs from the one of the backed-up server: signing keys and queued mail cannot be used until APP_SECRET (or DATA_DIR/app-secret) is the backed-up one'
          : `no app secret here yet: put the backed-up one into ${fromFile} (or set APP_SECRET) before starting the server, or the signing keys and queued mail cannot be used`,
      );
    }
    return { tables: header.tables.length, rows };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await close();
  }
}
