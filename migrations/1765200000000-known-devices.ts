import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * R1.6 (amended): desktop apps that logged in to an account successfully, by the keyed hash of the
 * device ID they send, so that a known app is not stopped by the account-wide login block. Rows older
 * than 30 days prove nothing and are pruned by the login-throttle job.
 */
export class KnownDevices1765200000000 implements MigrationInterface {
  name = 'KnownDevices1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE login_known_devices (
      account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
      device_hash text NOT NULL,
      last_login_at timestamptz NOT NULL,
      PRIMARY KEY (account_id, device_hash)
    )`);
    await q.query('CREATE INDEX login_known_devices_last_login ON login_known_devices (last_login_at)');
    // Failures made through a proof are counted against it: a stolen proof allows 10 tries an hour.
    await q.query('ALTER TABLE login_failures ADD COLUMN proof_hash text');
    await q.query('CREATE INDEX login_failures_proof ON login_failures (account_id, proof_hash, failed_at) WHERE proof_hash IS NOT NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX login_failures_proof');
    await q.query('ALTER TABLE login_failures DROP COLUMN proof_hash');
    await q.query('DROP TABLE login_known_devices');
  }
}
