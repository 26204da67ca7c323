import { Column, Entity, PrimaryColumn } from 'typeorm';

export type MembershipStatusName = 'ACTIVE' | 'BLOCKED';
export type AuditActionName =
  | 'ORGANIZATION_CREATED'
  | 'ORGANIZATION_UPDATED'
  | 'INVITE_CODE_REGENERATED'
  | 'MEMBER_JOINED'
  | 'MEMBER_LEFT'
  | 'MEMBER_BLOCKED'
  | 'MEMBER_UNBLOCKED'
  | 'MEMBER_REMOVED'
  | 'ADMIN_GRANTED'
  | 'ADMIN_REVOKED'
  | 'SEAT_ENDED'
  | 'SUPPORT_ACCOUNT_VIEWED'
  | 'SUPPORT_SEATS_RELEASED'
  | 'SUPPORT_EMAIL_VERIFIED'
  | 'SUPPORT_LOGIN_BLOCK_CLEARED'
  | 'SUPPORT_LICENSE_TRANSFERRED'
  | 'SUPPORT_LICENSE_KEY_RESENT'
  | 'SUPPORT_ACCOUNT_DELETED'
  | 'LICENSE_RENEWED'
  | 'LICENSE_REVOKED';

export const DEFAULT_MAX_OFFLINE_DAYS = 30;

/** An organization shares its owner's sharable seats with its members (R3.1). One per owner. */
@Entity({ name: 'organizations' })
export class OrganizationEntity {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'owner_account_id', type: 'uuid' })
  ownerAccountId!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ name: 'invite_code', type: 'text' })
  inviteCode!: string;

  @Column({ name: 'allowed_email_domains', type: 'text', array: true })
  allowedEmailDomains!: string[];

  @Column({ name: 'max_offline_days', type: 'integer' })
  maxOfflineDays!: number;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/** An account's membership (R3.3, R3.4). Removing a member deletes the row. */
@Entity({ name: 'memberships' })
export class MembershipEntity {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'organization_id', type: 'uuid' })
  organizationId!: string;

  @Column({ name: 'account_id', type: 'uuid' })
  accountId!: string;

  @Column({ type: 'text' })
  status!: MembershipStatusName;

  @Column({ name: 'is_admin', type: 'boolean' })
  isAdmin!: boolean;

  @Column({ name: 'joined_at', type: 'timestamptz' })
  joinedAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/** Who did what, when, to whom (R8.2). Kept when accounts go (actor and target become null). */
@Entity({ name: 'audit_log' })
export class AuditEntryEntity {
  @PrimaryColumn({ type: 'bigint' })
  id!: string;

  @Column({ name: 'organization_id', type: 'uuid', nullable: true })
  organizationId!: string | null;

  @Column({ name: 'actor_account_id', type: 'uuid', nullable: true })
  actorAccountId!: string | null;

  @Column({ type: 'text' })
  action!: AuditActionName;

  @Column({ name: 'target_account_id', type: 'uuid', nullable: true })
  targetAccountId!: string | null;

  @Column({ name: 'target_user_id', type: 'text', nullable: true })
  targetUserId!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  details!: Record<string, unknown> | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

export const organizationEntities = [OrganizationEntity, MembershipEntity, AuditEntryEntity];
