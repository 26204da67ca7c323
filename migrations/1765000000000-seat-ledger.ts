import type { MigrationInterface, QueryRunner } from 'typeorm';

/** R3.4: an administrator can end one member's live seat; the lease records `ENDED_BY_ADMIN` (R4.12). */
export class SeatLedger1765000000000 implements MigrationInterface {
  name = 'SeatLedger1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE seat_leases DROP CONSTRAINT seat_leases_end_reason_check');
    await q.query(
      `ALTER TABLE seat_leases ADD CONSTRAINT seat_leases_end_reason_check
         CHECK (end_reason IN ('CLOSED', 'LOGGED_OUT', 'TIMED_OUT', 'TAKEN_OVER', 'LICENSE_ENDED', 'MEMBERSHIP_ENDED', 'ENDED_BY_ADMIN', 'SUPPORT'))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    // Leases ended by an administrator read as support endings in the older schema, and their audit
    // entries as organization changes that keep what they were in their details.
    await q.query(`UPDATE seat_leases SET end_reason = 'SUPPORT' WHERE end_reason = 'ENDED_BY_ADMIN'`);
    await q.query(
      `UPDATE audit_log SET action = 'ORGANIZATION_UPDATED', details = coalesce(details, '{}'::jsonb) || '{"was": "SEAT_ENDED"}'::jsonb WHERE action = 'SEAT_ENDED'`,
    );
    await q.query('ALTER TABLE seat_leases DROP CONSTRAINT seat_leases_end_reason_check');
    await q.query(
      `ALTER TABLE seat_leases ADD CONSTRAINT seat_leases_end_reason_check
         CHECK (end_reason IN ('CLOSED', 'LOGGED_OUT', 'TIMED_OUT', 'TAKEN_OVER', 'LICENSE_ENDED', 'MEMBERSHIP_ENDED', 'SUPPORT'))`,
    );
  }
}
