import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A trial (R5): its license, the active days used, the open 24-hour window, the 90-day end. */
@Entity({ name: 'trials' })
export class TrialEntity {
  @PrimaryColumn({ name: 'license_id', type: 'uuid' })
  licenseId!: string;

  @Column({ name: 'account_id', type: 'uuid', nullable: true })
  accountId!: string | null;

  @Column({ name: 'active_days_used', type: 'integer' })
  activeDaysUsed!: number;

  @Column({ name: 'window_ends_at', type: 'timestamptz', nullable: true })
  windowEndsAt!: Date | null;

  @Column({ name: 'ends_at', type: 'timestamptz' })
  endsAt!: Date;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

export const trialEntities = [TrialEntity];
