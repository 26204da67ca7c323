import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * R2.11, R2.12: the shop's renewals (each under the shop's own reference, so that a late retry of an
 * older renewal is recognized instead of setting the expiry back), why a license was revoked, and the
 * single-use hand-off tokens a logged-in user takes to the shop (kept as hashes, like every token),
 * and when a pool last sent `seats.exhausted` (R7.4).
 */
export class LicenseLifecycle1765300000000 implements MigrationInterface {
  name = 'LicenseLifecycle1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE licenses ADD COLUMN revocation_reason text
      CHECK (revocation_reason IN ('REFUND', 'CHARGEBACK', 'CANCELLATION', 'OTHER'))`);
    await q.query(`CREATE TABLE license_renewals (
      license_id uuid NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
      renewal_reference text NOT NULL,
      expires_at timestamptz,
      seats integer NOT NULL,
      renewed_at timestamptz NOT NULL,
      PRIMARY KEY (license_id, renewal_reference)
    )`);
    await q.query(`CREATE TABLE shop_handoffs (
      token_hash bytea PRIMARY KEY,
      account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      license_id uuid REFERENCES licenses(id) ON DELETE SET NULL
    )`);
    await q.query('CREATE INDEX shop_handoffs_expires ON shop_handoffs (expires_at)');
    // R7.4: when each pool last told the webhook that it refused someone for want of seats (at most hourly).
    await q.query(`CREATE TABLE seat_exhaustion_notices (
      pool_account_id uuid PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
      notified_at timestamptz NOT NULL
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE seat_exhaustion_notices');
    await q.query('DROP TABLE shop_handoffs');
    await q.query('DROP TABLE license_renewals');
    await q.query('ALTER TABLE licenses DROP COLUMN revocation_reason');
  }
}
