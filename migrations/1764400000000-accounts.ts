import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Accounts, login tokens, emailed single-use tokens and the login throttle (R1). */
export class Accounts1764400000000 implements MigrationInterface {
  name = 'Accounts1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE accounts (
        id uuid PRIMARY KEY,
        user_id text NOT NULL UNIQUE CHECK (user_id ~ '^A-[0-9A-F]{3}-[0-9A-F]{3}$'),
        email text,
        email_normalized text,
        name text,
        language text NOT NULL CHECK (language IN ('EN', 'DE', 'ES')),
        password_hash text,
        email_verified_at timestamptz,
        roles text[] NOT NULL DEFAULT '{USER}',
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        deleted_at timestamptz
      )`);
    await q.query(`CREATE UNIQUE INDEX accounts_email_normalized_key ON accounts (email_normalized) WHERE email_normalized IS NOT NULL`);

    await q.query(`
      CREATE TABLE auth_tokens (
        id uuid PRIMARY KEY,
        account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        token_hash bytea NOT NULL UNIQUE,
        client text NOT NULL CHECK (client IN ('WEB', 'DESKTOP')),
        created_at timestamptz NOT NULL,
        last_used_at timestamptz NOT NULL,
        revoked_at timestamptz
      )`);
    await q.query(`CREATE INDEX auth_tokens_live_by_account ON auth_tokens (account_id) WHERE revoked_at IS NULL`);

    await q.query(`
      CREATE TABLE email_tokens (
        id uuid PRIMARY KEY,
        account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        purpose text NOT NULL CHECK (purpose IN ('VERIFY_EMAIL', 'RESET_PASSWORD')),
        token_hash bytea NOT NULL UNIQUE,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        consumed_at timestamptz
      )`);
    await q.query(`CREATE INDEX email_tokens_open_by_account ON email_tokens (account_id, purpose) WHERE consumed_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS email_tokens');
    await q.query('DROP TABLE IF EXISTS auth_tokens');
    await q.query('DROP TABLE IF EXISTS accounts');
  }
}
