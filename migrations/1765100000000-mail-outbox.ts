import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Mail goes through the durable outbox (pg-boss, schema `tessera_outbox`, which pg-boss installs and
 * upgrades itself). An expiry reminder is recorded when it is queued (`sent_at`, which stops it being
 * queued twice) and, from now on, when the SMTP server accepted it (`delivered_at`).
 */
export class MailOutbox1765100000000 implements MigrationInterface {
  name = 'MailOutbox1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE license_reminders ADD COLUMN delivered_at timestamptz');
    // Reminders recorded before the outbox were sent straight away (or lost, which nobody can tell).
    await q.query('UPDATE license_reminders SET delivered_at = sent_at');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE license_reminders DROP COLUMN delivered_at');
  }
}
