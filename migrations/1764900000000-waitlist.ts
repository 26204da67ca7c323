import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The wait-list (R4.13): first come, first served per organization. A waiter given a freed seat
 * holds it for 10 minutes (`hold_until`); the hold counts against the pool's seats while it lasts.
 */
export class Waitlist1764900000000 implements MigrationInterface {
  name = 'Waitlist1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE waitlist_entries (
        id uuid PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        pool_account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        device_hash text NOT NULL,
        platform text NOT NULL CHECK (platform IN ('WINDOWS', 'MAC', 'CLOUD')),
        status text NOT NULL CHECK (status IN ('WAITING', 'HOLDING', 'FULFILLED', 'EXPIRED', 'CANCELLED')),
        license_id uuid REFERENCES licenses (id) ON DELETE SET NULL,
        hold_until timestamptz,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    // One open entry per account and organization.
    await q.query(`CREATE UNIQUE INDEX waitlist_one_open ON waitlist_entries (organization_id, account_id) WHERE status IN ('WAITING', 'HOLDING')`);
    await q.query(`CREATE INDEX waitlist_queue ON waitlist_entries (pool_account_id, created_at, id) WHERE status IN ('WAITING', 'HOLDING')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS waitlist_entries');
  }
}
