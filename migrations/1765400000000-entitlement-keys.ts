import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Signed entitlements (R7.5): the Ed25519 keys that sign them, several at a time so that keys can
 * rotate (one current; the others still published until no token they signed can be valid), and
 * the device digest of each lease, sealed, so that a heartbeat's token can name its device.
 */
export class EntitlementKeys1765400000000 implements MigrationInterface {
  name = 'EntitlementKeys1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE entitlement_keys (
        kid text PRIMARY KEY,
        public_jwk jsonb NOT NULL,
        private_key_encrypted text NOT NULL,
        created_at timestamptz NOT NULL,
        superseded_at timestamptz,
        valid_until timestamptz,
        retired_at timestamptz,
        CHECK (retired_at IS NULL OR superseded_at IS NOT NULL)
      )`);
    // Exactly one current key (not superseded) at a time.
    await q.query('CREATE UNIQUE INDEX entitlement_keys_one_current ON entitlement_keys ((true)) WHERE superseded_at IS NULL');
    await q.query(`
      CREATE TABLE entitlement_devices (
        lease_id uuid PRIMARY KEY REFERENCES seat_leases (id) ON DELETE CASCADE,
        device_digest_sealed text NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS entitlement_devices');
    await q.query('DROP TABLE IF EXISTS entitlement_keys');
  }
}
