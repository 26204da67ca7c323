import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Organizations, memberships (R3) and the audit log (R8.2). */
export class Organizations1764600000000 implements MigrationInterface {
  name = 'Organizations1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE organizations (
        id uuid PRIMARY KEY,
        owner_account_id uuid NOT NULL UNIQUE REFERENCES accounts (id) ON DELETE RESTRICT,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        invite_code text NOT NULL UNIQUE CHECK (invite_code ~ '^I(-[0-9A-F]{3}){4}$'),
        allowed_email_domains text[] NOT NULL DEFAULT '{}',
        max_offline_days integer NOT NULL DEFAULT 30 CHECK (max_offline_days BETWEEN 1 AND 365),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    await q.query(`
      CREATE TABLE memberships (
        id uuid PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        status text NOT NULL CHECK (status IN ('ACTIVE', 'BLOCKED')),
        is_admin boolean NOT NULL DEFAULT false,
        joined_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        UNIQUE (organization_id, account_id)
      )`);
    await q.query('CREATE INDEX memberships_page ON memberships (organization_id, joined_at, id)');
    await q.query('CREATE INDEX memberships_by_account ON memberships (account_id, joined_at)');
    await q.query(`
      CREATE TABLE audit_log (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
        actor_account_id uuid REFERENCES accounts (id) ON DELETE SET NULL,
        action text NOT NULL,
        target_account_id uuid REFERENCES accounts (id) ON DELETE SET NULL,
        target_user_id text,
        details jsonb,
        created_at timestamptz NOT NULL
      )`);
    await q.query('CREATE INDEX audit_log_by_organization ON audit_log (organization_id, id DESC)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS audit_log');
    await q.query('DROP TABLE IF EXISTS memberships');
    await q.query('DROP TABLE IF EXISTS organizations');
  }
}
