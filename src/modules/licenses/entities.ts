import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { LanguageCode } from '../accounts/entities';

export type LicenseTypeName = 'COMMERCIAL' | 'EDUCATIONAL' | 'GOVERNMENT' | 'STUDENT' | 'SEMESTER' | 'TRIAL';
export type PlatformName = 'WINDOWS' | 'MAC' | 'CLOUD';
export type LicenseStatusName = 'ACTIVE' | 'EXPIRED' | 'REVOKED';

export type RevocationReasonName = 'REFUND' | 'CHARGEBACK' | 'CANCELLATION' | 'OTHER';

export const SHARABLE_TYPES: readonly LicenseTypeName[] = ['COMMERCIAL', 'EDUCATIONAL', 'GOVERNMENT'];
export const PERSONAL_TYPES: readonly LicenseTypeName[] = ['STUDENT', 'SEMESTER', 'TRIAL'];

/** A license (R2.1). Its status is derived from the clock, except `REVOKED`. */
@Entity({ name: 'licenses' })
export class LicenseEntity {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'license_id', type: 'text' })
  licenseId!: string;

  @Column({ name: 'license_key', type: 'text' })
  key!: string;

  @Column({ type: 'text' })
  type!: LicenseTypeName;

  @Column({ type: 'integer' })
  seats!: number;

  @Column({ type: 'text', array: true })
  platforms!: PlatformName[];

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;

  @Column({ name: 'order_reference', type: 'text' })
  orderReference!: string;

  @Column({ name: 'purchaser_email', type: 'text', nullable: true })
  purchaserEmail!: string | null;

  @Column({ type: 'text' })
  language!: LanguageCode;

  @Column({ name: 'owner_account_id', type: 'uuid', nullable: true })
  ownerAccountId!: string | null;

  @Column({ name: 'redeemed_at', type: 'timestamptz', nullable: true })
  redeemedAt!: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  /** Why the shop revoked it (R2.11). */
  @Column({ name: 'revocation_reason', type: 'text', nullable: true })
  revocationReason!: RevocationReasonName | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

export const licenseEntities = [LicenseEntity];
