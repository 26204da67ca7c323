import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { PlatformName } from '../licenses/entities';
import type { SeatKindName } from './allocation';
import { WaitlistEntryEntity } from './waitlist-entity';

export type LeaseEndReasonName = 'CLOSED' | 'LOGGED_OUT' | 'TIMED_OUT' | 'TAKEN_OVER' | 'LICENSE_ENDED' | 'MEMBERSHIP_ENDED' | 'ENDED_BY_ADMIN' | 'SUPPORT';

/** One account using one device under one pool (R4). Of the device only a keyed hash is kept (R1.10). */
@Entity({ name: 'seat_leases' })
export class SeatLeaseEntity {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'account_id', type: 'uuid', nullable: true })
  accountId!: string | null;

  @Column({ name: 'pool_account_id', type: 'uuid' })
  poolAccountId!: string;

  @Column({ name: 'organization_id', type: 'uuid', nullable: true })
  organizationId!: string | null;

  @Column({ name: 'license_id', type: 'uuid' })
  licenseId!: string;

  @Column({ name: 'device_hash', type: 'text' })
  deviceHash!: string;

  @Column({ type: 'text' })
  platform!: PlatformName;

  @Column({ type: 'text' })
  kind!: SeatKindName;

  @Column({ name: 'acquired_at', type: 'timestamptz' })
  acquiredAt!: Date;

  @Column({ name: 'last_heartbeat_at', type: 'timestamptz' })
  lastHeartbeatAt!: Date;

  @Column({ name: 'reserved_until', type: 'timestamptz', nullable: true })
  reservedUntil!: Date | null;

  /** When a member lease lapses without heartbeats (R4.3) or reservation (R4.9); null: until logout. */
  @Column({ name: 'lapses_at', type: 'timestamptz', nullable: true })
  lapsesAt!: Date | null;

  @Column({ name: 'ended_at', type: 'timestamptz', nullable: true })
  endedAt!: Date | null;

  @Column({ name: 'end_reason', type: 'text', nullable: true })
  endReason!: LeaseEndReasonName | null;

  /** For an offline-bound seat (R6): the request's nonce and when the response was issued. */
  @Column({ name: 'offline_nonce', type: 'text', nullable: true })
  offlineNonce!: string | null;

  @Column({ name: 'offline_issued_at', type: 'timestamptz', nullable: true })
  offlineIssuedAt!: Date | null;
}

export const seatEntities = [SeatLeaseEntity, WaitlistEntryEntity];

/** Live: not ended and, for a member lease, not lapsed. Lapsed leases stop counting by themselves. */
export function isLive(lease: Pick<SeatLeaseEntity, 'endedAt' | 'lapsesAt'>, now: Date): boolean {
  return lease.endedAt === null && (lease.lapsesAt === null || lease.lapsesAt.getTime() > now.getTime());
}
