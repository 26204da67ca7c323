import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { PlatformName } from '../licenses/entities';

export type WaitlistStatusName = 'WAITING' | 'HOLDING' | 'FULFILLED' | 'EXPIRED' | 'CANCELLED';

/** A place on an organization's wait-list (R4.13). */
@Entity({ name: 'waitlist_entries' })
export class WaitlistEntryEntity {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'organization_id', type: 'uuid' })
  organizationId!: string;

  @Column({ name: 'pool_account_id', type: 'uuid' })
  poolAccountId!: string;

  @Column({ name: 'account_id', type: 'uuid' })
  accountId!: string;

  @Column({ name: 'device_hash', type: 'text' })
  deviceHash!: string;

  @Column({ type: 'text' })
  platform!: PlatformName;

  @Column({ type: 'text' })
  status!: WaitlistStatusName;

  @Column({ name: 'license_id', type: 'uuid', nullable: true })
  licenseId!: string | null;

  @Column({ name: 'hold_until', type: 'timestamptz', nullable: true })
  holdUntil!: Date | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/** A hold counts while it lasts; a lapsed hold is over by itself (it passes on at the next round). */
export function isHolding(entry: Pick<WaitlistEntryEntity, 'status' | 'holdUntil'>, now: Date): boolean {
  return entry.status === 'HOLDING' && entry.holdUntil !== null && entry.holdUntil.getTime() > now.getTime();
}
