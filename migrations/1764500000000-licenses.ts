import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Licenses and their keys (R2), and the expiry reminders already sent (R2.10). */
export class Licenses1764500000000 implements MigrationInterface {
  name = 'Licenses1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE licenses (
        id uuid PRIMARY KEY,
        license_id text NOT NULL UNIQUE CHECK (license_id ~ '^L-[0-9A-F]{3}-[0-9A-F]{3}$'),
        license_key text NOT NULL UNIQUE CHECK (license_key ~ '^R(-[0-9A-F]{3}){6}$'),
        type text NOT NULL CHECK (type IN ('COMMERCIAL', 'EDUCATIONAL', 'GOVERNMENT', 'STUDENT', 'SEMESTER', 'TRIAL')),
        seats integer NOT NULL CHECK (seats >= 1),
        platforms text[] NOT NULL CHECK (cardinality(platforms) >= 1 AND platforms <@ ARRAY['WINDOWS', 'MAC', 'CLOUD']),
        expires_at timestamptz,
        order_reference text NOT NULL,
        purchaser_email text,
        language text NOT NULL CHECK (language IN ('EN', 'DE', 'ES')),
        owner_account_id uuid REFERENCES accounts (id) ON DELETE RESTRICT,
        redeemed_at timestamptz,
        revoked_at timestamptz,
        created_at timestamptz NOT NULL,
        CHECK ((owner_account_id IS NULL) = (redeemed_at IS NULL))
      )`);
    await q.query('CREATE UNIQUE INDEX licenses_order_reference_key ON licenses (order_reference)');
    await q.query('CREATE INDEX licenses_by_owner ON licenses (owner_account_id) WHERE owner_account_id IS NOT NULL');
    await q.query('CREATE INDEX licenses_expiring ON licenses (expires_at) WHERE expires_at IS NOT NULL AND revoked_at IS NULL');
    await q.query(`
      CREATE TABLE license_reminders (
        license_id uuid NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
        days_before integer NOT NULL,
        sent_at timestamptz NOT NULL,
        PRIMARY KEY (license_id, days_before)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS license_reminders');
    await q.query('DROP TABLE IF EXISTS licenses');
  }
}
