import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Request rate limits (rate-limiter-flexible's PostgreSQL store, so that every instance shares
 * them). Keys hold limiter names and keyed hashes, never raw IP addresses or emails.
 */
export class RateLimits1764400000002 implements MigrationInterface {
  name = 'RateLimits1764400000002';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE rate_limits (
        key varchar(255) PRIMARY KEY,
        points integer NOT NULL DEFAULT 0,
        expire bigint
      )`);
    await q.query('CREATE INDEX rate_limits_expire ON rate_limits (expire)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS rate_limits');
  }
}
