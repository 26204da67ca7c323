import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Trials and their active days (R5); offline-bound seats and the key that signs them (R6). */
export class TrialsOffline1764800000000 implements MigrationInterface {
  name = 'TrialsOffline1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE trials (
        license_id uuid PRIMARY KEY REFERENCES licenses (id) ON DELETE CASCADE,
        account_id uuid REFERENCES accounts (id) ON DELETE SET NULL,
        active_days_used integer NOT NULL DEFAULT 0 CHECK (active_days_used BETWEEN 0 AND 5),
        window_ends_at timestamptz,
        ends_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL
      )`);
    await q.query('CREATE INDEX trials_by_account ON trials (account_id, created_at DESC)');
    await q.query('ALTER TABLE seat_leases ADD COLUMN offline_nonce text, ADD COLUMN offline_issued_at timestamptz');
    await q.query(`
      CREATE TABLE signing_keys (
        purpose text PRIMARY KEY,
        public_key_pem text NOT NULL,
        private_key_encrypted text NOT NULL,
        created_at timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS signing_keys');
    await q.query('ALTER TABLE seat_leases DROP COLUMN IF EXISTS offline_issued_at, DROP COLUMN IF EXISTS offline_nonce');
    await q.query('DROP TABLE IF EXISTS trials');
  }
}
