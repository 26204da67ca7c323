import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Seat leases (R4). A lease is live while `ended_at` is null and, for member leases, `lapses_at`
 * lies ahead; lapsed leases stop counting by themselves, the sweeper only records why they ended.
 */
export class SeatLeases1764700000000 implements MigrationInterface {
  name = 'SeatLeases1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE seat_leases (
        id uuid PRIMARY KEY,
        account_id uuid REFERENCES accounts (id) ON DELETE SET NULL,
        pool_account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        organization_id uuid REFERENCES organizations (id) ON DELETE SET NULL,
        license_id uuid NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
        device_hash text NOT NULL,
        platform text NOT NULL CHECK (platform IN ('WINDOWS', 'MAC', 'CLOUD')),
        kind text NOT NULL CHECK (kind IN ('OWNER', 'MEMBER', 'OFFLINE_BOUND')),
        acquired_at timestamptz NOT NULL,
        last_heartbeat_at timestamptz NOT NULL,
        reserved_until timestamptz,
        lapses_at timestamptz,
        ended_at timestamptz,
        end_reason text CHECK (end_reason IN ('CLOSED', 'LOGGED_OUT', 'TIMED_OUT', 'TAKEN_OVER', 'LICENSE_ENDED', 'MEMBERSHIP_ENDED', 'SUPPORT')),
        CHECK ((ended_at IS NULL) = (end_reason IS NULL)),
        CHECK ((kind = 'MEMBER') = (lapses_at IS NOT NULL))
      )`);
    // One unended lease per account and device (R4.2); lapsed ones are ended before a new one.
    await q.query('CREATE UNIQUE INDEX seat_leases_one_per_device ON seat_leases (account_id, device_hash) WHERE ended_at IS NULL');
    // Hot paths: the unended leases of a pool (acquire, usage) and of an account (idempotency, myLeases).
    await q.query('CREATE INDEX seat_leases_open_by_pool ON seat_leases (pool_account_id, license_id) WHERE ended_at IS NULL');
    await q.query('CREATE INDEX seat_leases_open_by_account ON seat_leases (account_id) WHERE ended_at IS NULL');
    // The lapse sweep.
    await q.query('CREATE INDEX seat_leases_lapsing ON seat_leases (lapses_at) WHERE ended_at IS NULL AND lapses_at IS NOT NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS seat_leases');
  }
}
