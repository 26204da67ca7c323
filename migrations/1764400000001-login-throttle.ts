import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Brute-force protection (R1.6). IP addresses appear only as keyed hashes, and rows are deleted
 * once no block window needs them.
 */
export class LoginThrottle1764400000001 implements MigrationInterface {
  name = 'LoginThrottle1764400000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE login_ip_throttle (
        account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        ip_hash text NOT NULL,
        consecutive_failures integer NOT NULL,
        blocked_until timestamptz,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (account_id, ip_hash)
      )`);
    await q.query(`CREATE INDEX login_ip_throttle_updated ON login_ip_throttle (updated_at)`);
    // One row per failed password login of an account, from any IP, kept for one hour: the sliding
    // window of the 100-per-hour ceiling. It holds no IP address.
    await q.query(`
      CREATE TABLE login_failures (
        account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        failed_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX login_failures_by_account ON login_failures (account_id, failed_at DESC)`);
    await q.query(`CREATE INDEX login_failures_by_time ON login_failures (failed_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS login_failures');
    await q.query('DROP TABLE IF EXISTS login_ip_throttle');
  }
}
