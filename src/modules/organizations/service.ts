import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { In } from 'typeorm';
import type { Session } from '../../platform/auth/session';
import type { ServiceDeps } from '../../platform/deps';
import { inTransaction, retryOnUniqueRandom } from '../../platform/db/transaction';
import { AccessError, DomainError } from '../../platform/errors';
import { checkText } from '../../platform/validation';
import { decodeCursor, encodeCursor, pageOf, pageSize, type Page } from '../../platform/pagination';
import { AccountEntity } from '../accounts/entities';
import { summaryOf, type AccountSummaryModel } from '../accounts/summary';
import { generateInviteCode, parseCode } from '../licenses/codes';
import { LicenseEntity, type LicenseTypeName } from '../licenses/entities';
import { isActive, isSharable } from '../licenses/rules';
import type { SeatLeaseEntity } from '../seats/entities';
import type { SeatLedger } from '../seats/ledger';
import { AuditEntryEntity, DEFAULT_MAX_OFFLINE_DAYS, MembershipEntity, OrganizationEntity, type AuditActionName, type MembershipStatusName } from './entities';

export type OrganizationServiceDeps = ServiceDeps & { ledger: SeatLedger };

/** A membership as the caller sees it: administrators and the member see the member's email. */
export interface MembershipModel {
  membership: MembershipEntity;
  showEmail: boolean;
}

export type AdminRole = 'OWNER' | 'CO_ADMIN';
type Access = { org: OrganizationEntity; role: AdminRole | 'SUPPORT' };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

function checkOrgName(name: string): string {
  return checkText(name, ['input', 'name'], 'NAME_LENGTH', 1, 200);
}

/** R3.5(b): joining restricted to these domains and their subdomains. */
export function emailDomainAllowed(email: string, allowed: string[]): boolean {
  if (allowed.length === 0) return true;
  const domain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
  return allowed.some((d) => domain === d || domain.endsWith(`.${d}`));
}

export class OrganizationService {
  constructor(private readonly deps: OrganizationServiceDeps) {}

  private get now(): Date {
    return this.deps.clock.now();
  }

  inviteUrl(org: OrganizationEntity): string {
    return `${this.deps.publicUrl}/join/${org.inviteCode}`;
  }

  // ---------------------------------------------------------------- authorization

  /**
   * Who may administer: the owner and active co-administrators; support may read. Everyone else
   * (members, blocked members, strangers) gets NOT_FOUND, the same answer as for a missing one.
   */
  private async access(session: Session, organizationId: string, purpose: 'read' | 'change', tx?: EntityManager): Promise<Access> {
    const caller = session.requireVerified();
    const manager = tx ?? this.deps.ds.manager;
    if (!UUID.test(organizationId)) throw new AccessError('NOT_FOUND');
    const org = await manager.findOneBy(OrganizationEntity, { id: organizationId });
    if (!org) throw new AccessError('NOT_FOUND');
    const role = await this.roleIn(manager, org, caller.id);
    if (role) return { org, role };
    if (purpose === 'read' && session.hasRole('SUPPORT')) return { org, role: 'SUPPORT' };
    throw new AccessError('NOT_FOUND');
  }

  private async roleIn(manager: EntityManager, org: OrganizationEntity, accountId: string): Promise<AdminRole | undefined> {
    if (org.ownerAccountId === accountId) return 'OWNER';
    const m = await manager.findOneBy(MembershipEntity, { organizationId: org.id, accountId, status: 'ACTIVE', isAdmin: true });
    return m ? 'CO_ADMIN' : undefined;
  }

  /** The membership to act on and the caller's right over it; NOT_FOUND when the caller administers nothing there. */
  private async memberAccess(session: Session, tx: EntityManager, membershipId: string): Promise<Access & { membership: MembershipEntity }> {
    session.requireVerified();
    if (!UUID.test(membershipId)) throw new AccessError('NOT_FOUND');
    const membership = await tx
      .getRepository(MembershipEntity)
      .createQueryBuilder('m')
      .setLock('pessimistic_write')
      .where('m.id = :id', { id: membershipId })
      .getOne();
    if (!membership) throw new AccessError('NOT_FOUND');
    const access = await this.access(session, membership.organizationId, 'change', tx);
    if (access.role === 'SUPPORT') throw new AccessError('NOT_FOUND');
    // Nobody acts on themselves here (leaveOrganization is for that), and co-administrators
    // leave other administrators to the owner.
    if (membership.accountId === session.account!.id) throw new DomainError('ADMIN_PROTECTED', { reason: 'SELF', field: ['input', 'membershipId'] });
    if (access.role === 'CO_ADMIN' && membership.isAdmin) {
      throw new DomainError('ADMIN_PROTECTED', { reason: 'OTHER_ADMIN', field: ['input', 'membershipId'] });
    }
    return { ...access, membership };
  }

  private async audit(
    tx: EntityManager,
    org: OrganizationEntity,
    actorId: string,
    action: AuditActionName,
    target?: { accountId: string },
    details?: Record<string, unknown>,
  ): Promise<void> {
    let targetUserId: string | null = null;
    if (target) targetUserId = (await tx.findOneBy(AccountEntity, { id: target.accountId }))?.userId ?? null;
    await tx.query(
      `INSERT INTO audit_log (organization_id, actor_account_id, action, target_account_id, target_user_id, details, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [org.id, actorId, action, target?.accountId ?? null, targetUserId, details ? JSON.stringify(details) : null, this.now],
    );
  }

  /** After commit: the member's rights changed (the ledger tells of the seats and the pool). */
  private told(accountId: string): void {
    this.deps.events.accountChanged(accountId);
  }

  /**
   * R3.4: an administrator ends one member's live seat without blocking them (the FAQ's "free a
   * license seat that an invited user is occupying"). Audited; the app hears of it through its
   * lease subscription and its next heartbeat (`LEASE_ENDED`, reason `ENDED_BY_ADMIN`).
   */
  async endSeat(session: Session, leaseId: string): Promise<SeatLeaseEntity> {
    const caller = session.requireVerified();
    if (!UUID.test(leaseId)) throw new AccessError('NOT_FOUND');
    return inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      let org: OrganizationEntity | undefined;
      const result = await this.deps.ledger.endOrganizationSeat({ tx, afterCommit }, leaseId, async (organizationId, holderId) => {
        const access = await this.access(session, organizationId, 'change', tx);
        if (access.role === 'SUPPORT') throw new AccessError('NOT_FOUND');
        if (access.role === 'CO_ADMIN' && holderId !== caller.id) {
          const holder = await tx.findOneBy(MembershipEntity, { organizationId, accountId: holderId });
          if (holder?.isAdmin) throw new DomainError('ADMIN_PROTECTED', { reason: 'OTHER_ADMIN', field: ['leaseId'] });
        }
        org = access.org;
        return access.org;
      });
      if (!result || !org) throw new AccessError('NOT_FOUND');
      if (result.endedNow) {
        await this.audit(
          tx,
          org,
          caller.id,
          'SEAT_ENDED',
          { accountId: result.lease.accountId! },
          { leaseId: result.lease.id, platform: result.lease.platform },
        );
      }
      return result.lease;
    });
  }

  // ---------------------------------------------------------------- creating and changing

  /** R3.1: an account holding a sharable license creates its one organization. */
  async create(session: Session, input: { name: string }): Promise<OrganizationEntity> {
    const caller = session.requireVerified();
    const name = checkOrgName(input.name);
    return retryOnUniqueRandom(['organizations_invite_code_key'], () => this.insertOrganization(caller.id, name));
  }

  private insertOrganization(callerId: string, name: string): Promise<OrganizationEntity> {
    return inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      // The account row serializes the owner's licensing changes (as for redemption and trials).
      // FOR NO KEY UPDATE, not FOR UPDATE: the latter would conflict with the key-share lock of
      // every insert that references the account (seat leases, memberships, audit entries).
      await tx.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [callerId]);
      if (await tx.existsBy(OrganizationEntity, { ownerAccountId: callerId })) throw new DomainError('ORGANIZATION_EXISTS');
      const licenses = await tx.findBy(LicenseEntity, { ownerAccountId: callerId });
      if (!licenses.some((l) => isSharable(l.type) && isActive(l, this.now))) throw new DomainError('NOT_SHARABLE');
      const now = this.now;
      const org = tx.create(OrganizationEntity, {
        id: randomUUID(),
        ownerAccountId: callerId,
        name,
        inviteCode: await this.freeInviteCode(tx),
        allowedEmailDomains: [],
        maxOfflineDays: DEFAULT_MAX_OFFLINE_DAYS,
        createdAt: now,
        updatedAt: now,
      });
      await tx.insert(OrganizationEntity, org);
      await this.audit(tx, org, callerId, 'ORGANIZATION_CREATED', undefined, { name });
      return org;
    });
  }

  private async freeInviteCode(tx: EntityManager): Promise<string> {
    for (;;) {
      const code = generateInviteCode();
      if (!(await tx.existsBy(OrganizationEntity, { inviteCode: code }))) return code;
    }
  }

  /** R3.5: name, allowed email domains, longest offline reservation; owner and co-administrators. */
  async update(
    session: Session,
    input: { organizationId: string; name?: string | null; allowedEmailDomains?: string[] | null; maxOfflineDays?: number | null },
  ): Promise<OrganizationEntity> {
    // Who may comes first: a stranger learns nothing from input checks.
    const { role } = await this.access(session, input.organizationId, 'change');
    if (role === 'SUPPORT') throw new AccessError('NOT_FOUND');
    const changes: Partial<OrganizationEntity> = {};
    if (input.name !== undefined && input.name !== null) changes.name = checkOrgName(input.name);
    if (input.allowedEmailDomains !== undefined && input.allowedEmailDomains !== null) {
      const domains = [...new Set(input.allowedEmailDomains.map((d) => d.trim().toLowerCase().replace(/^@/, '')))];
      if (domains.length > 50 || domains.some((d) => !DOMAIN.test(d))) {
        throw new DomainError('BAD_USER_INPUT', { reason: 'EMAIL_DOMAIN', field: ['input', 'allowedEmailDomains'] });
      }
      changes.allowedEmailDomains = domains.sort();
    }
    if (input.maxOfflineDays !== undefined && input.maxOfflineDays !== null) {
      if (!Number.isInteger(input.maxOfflineDays) || input.maxOfflineDays < 1 || input.maxOfflineDays > 365) {
        throw new DomainError('BAD_USER_INPUT', { reason: 'OFFLINE_DAYS', field: ['input', 'maxOfflineDays'] });
      }
      changes.maxOfflineDays = input.maxOfflineDays;
    }
    return inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      const { org, role } = await this.access(session, input.organizationId, 'change', tx);
      if (role === 'SUPPORT') throw new AccessError('NOT_FOUND');
      const changed: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(changes) as Array<[keyof OrganizationEntity, unknown]>) {
        if (JSON.stringify(org[key]) !== JSON.stringify(value)) changed[key] = value;
      }
      if (Object.keys(changed).length === 0) return org;
      Object.assign(org, changed, { updatedAt: this.now });
      await tx.update(OrganizationEntity, { id: org.id }, { ...changed, updatedAt: org.updatedAt });
      await this.audit(tx, org, session.account!.id, 'ORGANIZATION_UPDATED', undefined, changed);
      return org;
    });
  }

  /** R3.2, R3.5(d): a new code; the old code and URL stop working. */
  async regenerateInviteCode(session: Session, organizationId: string): Promise<OrganizationEntity> {
    return retryOnUniqueRandom(['organizations_invite_code_key'], () =>
      inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
        const { org, role } = await this.access(session, organizationId, 'change', tx);
        if (role === 'SUPPORT') throw new AccessError('NOT_FOUND');
        org.inviteCode = await this.freeInviteCode(tx);
        org.updatedAt = this.now;
        await tx.update(OrganizationEntity, { id: org.id }, { inviteCode: org.inviteCode, updatedAt: org.updatedAt });
        await this.audit(tx, org, session.account!.id, 'INVITE_CODE_REGENERATED');
        return org;
      }),
    );
  }

  // ---------------------------------------------------------------- members

  /** R3.4: block or unblock. Blocking ends the member's seats of this organization at once. */
  async setMemberStatus(session: Session, membershipId: string, status: MembershipStatusName): Promise<MembershipModel> {
    return inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      const { org, membership } = await this.memberAccess(session, tx, membershipId);
      if (membership.status !== status) {
        membership.status = status;
        membership.updatedAt = this.now;
        await tx.update(MembershipEntity, { id: membership.id }, { status, updatedAt: membership.updatedAt });
        if (status === 'BLOCKED') await this.deps.ledger.endMemberSeats({ tx, afterCommit }, org, membership.accountId);
        afterCommit(() => this.told(membership.accountId));
        await this.audit(tx, org, session.account!.id, status === 'BLOCKED' ? 'MEMBER_BLOCKED' : 'MEMBER_UNBLOCKED', { accountId: membership.accountId });
      }
      return { membership, showEmail: true };
    });
  }

  /** R3.5(a): the owner appoints co-administrators among active members, and revokes them. */
  async setMemberAdmin(session: Session, membershipId: string, admin: boolean): Promise<MembershipModel> {
    return inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      const { org, role, membership } = await this.memberAccess(session, tx, membershipId);
      if (role !== 'OWNER') throw new DomainError('ADMIN_PROTECTED', { reason: 'OWNER_ONLY', field: ['input', 'membershipId'] });
      if (admin && membership.status !== 'ACTIVE') throw new DomainError('MEMBERSHIP_BLOCKED', { field: ['input', 'membershipId'] });
      if (membership.isAdmin !== admin) {
        membership.isAdmin = admin;
        membership.updatedAt = this.now;
        await tx.update(MembershipEntity, { id: membership.id }, { isAdmin: admin, updatedAt: membership.updatedAt });
        await this.audit(tx, org, session.account!.id, admin ? 'ADMIN_GRANTED' : 'ADMIN_REVOKED', { accountId: membership.accountId });
        afterCommit(() => this.told(membership.accountId));
      }
      return { membership, showEmail: true };
    });
  }

  /** R3.4: removes the membership; the person may rejoin with the code. */
  async removeMember(session: Session, membershipId: string): Promise<void> {
    await inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      const { org, membership } = await this.memberAccess(session, tx, membershipId);
      await tx.delete(MembershipEntity, { id: membership.id });
      await this.deps.ledger.endMemberSeats({ tx, afterCommit }, org, membership.accountId);
      afterCommit(() => this.told(membership.accountId));
      await this.audit(tx, org, session.account!.id, 'MEMBER_REMOVED', { accountId: membership.accountId });
    });
  }

  /** R3.5: a member leaves. A blocked member cannot: leaving and rejoining would undo the block. */
  async leave(session: Session, organizationId: string): Promise<void> {
    const caller = session.requireVerified();
    if (!UUID.test(organizationId)) throw new AccessError('NOT_FOUND');
    await inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      const membership = await tx.findOneBy(MembershipEntity, { organizationId, accountId: caller.id });
      if (!membership) throw new AccessError('NOT_FOUND');
      if (membership.status === 'BLOCKED') throw new DomainError('MEMBERSHIP_BLOCKED');
      const org = await tx.findOneByOrFail(OrganizationEntity, { id: organizationId });
      await tx.delete(MembershipEntity, { id: membership.id });
      await this.deps.ledger.endMemberSeats({ tx, afterCommit }, org, caller.id);
      await this.audit(tx, org, caller.id, 'MEMBER_LEFT', { accountId: caller.id });
      afterCommit(() => this.told(caller.id));
    });
  }

  /**
   * R3.3: joins with an invite code (from `redeemCode`, or the join page). Idempotent; refused for
   * blocked members, for the owner, and for email domains the organization does not admit.
   */
  async join(session: Session, inviteCode: string): Promise<{ membership: MembershipModel; already: boolean }> {
    const caller = session.requireVerified();
    const field = ['code'];
    return inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      const org = await tx.findOneBy(OrganizationEntity, { inviteCode });
      if (!org) throw new DomainError('INVALID_INVITE_CODE', { field });
      if (org.ownerAccountId === caller.id) throw new DomainError('OWN_ORGANIZATION', { field });
      const existing = await tx.findOneBy(MembershipEntity, { organizationId: org.id, accountId: caller.id });
      if (existing?.status === 'BLOCKED') throw new DomainError('MEMBERSHIP_BLOCKED', { field });
      if (existing) return { membership: { membership: existing, showEmail: true }, already: true };
      if (!emailDomainAllowed(caller.email ?? '', org.allowedEmailDomains)) throw new DomainError('EMAIL_DOMAIN_NOT_ALLOWED', { field });
      const now = this.now;
      const membership = tx.create(MembershipEntity, {
        id: randomUUID(),
        organizationId: org.id,
        accountId: caller.id,
        status: 'ACTIVE',
        isAdmin: false,
        joinedAt: now,
        updatedAt: now,
      });
      const inserted = await tx.query<Array<{ id: string }>>(
        `INSERT INTO memberships (id, organization_id, account_id, status, is_admin, joined_at, updated_at)
         VALUES ($1, $2, $3, 'ACTIVE', false, $4, $4) ON CONFLICT (organization_id, account_id) DO NOTHING RETURNING id`,
        [membership.id, org.id, caller.id, now],
      );
      if (inserted.length === 0) {
        // Joined a moment ago by a concurrent request of the same account.
        const winner = await tx.findOneByOrFail(MembershipEntity, { organizationId: org.id, accountId: caller.id });
        return { membership: { membership: winner, showEmail: true }, already: true };
      }
      await this.audit(tx, org, caller.id, 'MEMBER_JOINED', { accountId: caller.id });
      return { membership: { membership, showEmail: true }, already: false };
    });
  }

  /** What an invite code or URL leads to, for the join page (logged in; rate limited like redemption). */
  async invitation(session: Session, code: string, ipHash: string): Promise<OrganizationEntity | null> {
    const caller = session.requireVerified();
    await this.deps.rateLimits.consume('redeem:account', caller.id);
    await this.deps.rateLimits.consume('redeem:ip', ipHash);
    const parsed = parseCode(code);
    if (parsed.kind !== 'invite') return null;
    return this.deps.ds.getRepository(OrganizationEntity).findOneBy({ inviteCode: parsed.code });
  }

  // ---------------------------------------------------------------- reading

  async organization(session: Session, id: string): Promise<OrganizationEntity> {
    return (await this.access(session, id, 'read')).org;
  }

  /** The organization an account owns: for the account itself and support. */
  async ownedBy(session: Session, accountId: string): Promise<OrganizationEntity | null> {
    if (session.account?.id !== accountId && !session.hasRole('SUPPORT')) return null;
    return this.deps.ds.getRepository(OrganizationEntity).findOneBy({ ownerAccountId: accountId });
  }

  /** R3.6 "My invitations": the account's memberships, oldest first (the account itself and support). */
  async membershipsOf(session: Session, accountId: string): Promise<MembershipModel[]> {
    if (session.account?.id !== accountId && !session.hasRole('SUPPORT')) return [];
    const rows = await this.deps.ds.getRepository(MembershipEntity).find({ where: { accountId }, order: { joinedAt: 'ASC', id: 'ASC' } });
    return rows.map((membership) => ({ membership, showEmail: true }));
  }

  /** R3.4: members, oldest first, by keyset pages; administrators (and support) only. */
  async members(
    session: Session,
    organizationId: string,
    args: { first?: number | null; after?: string | null; status?: MembershipStatusName | null },
  ): Promise<Page<MembershipModel>> {
    const { org } = await this.access(session, organizationId, 'read');
    const size = pageSize(args.first);
    const after = decodeCursor(args.after, ['date', 'uuid']);
    const qb = this.deps.ds.getRepository(MembershipEntity).createQueryBuilder('m').where('m.organization_id = :org', { org: org.id });
    if (args.status) qb.andWhere('m.status = :status', { status: args.status });
    const totalCount = await qb.clone().getCount();
    if (after) qb.andWhere('(m.joined_at, m.id) > (:at, :id)', { at: new Date(after[0]), id: after[1] });
    const rows = await qb
      .orderBy('m.joined_at', 'ASC')
      .addOrderBy('m.id', 'ASC')
      .take(size + 1)
      .getMany();
    return pageOf(
      rows,
      size,
      totalCount,
      (m) => encodeCursor([m.joinedAt.toISOString(), m.id]),
      (membership) => ({ membership, showEmail: true }),
    );
  }

  /** R8.2: the organization's audit log, newest first; administrators (and support) only. */
  async auditLog(session: Session, organizationId: string, args: { first?: number | null; after?: string | null }): Promise<Page<AuditEntryEntity>> {
    const { org } = await this.access(session, organizationId, 'read');
    const size = pageSize(args.first);
    const after = decodeCursor(args.after, ['bigint']);
    const qb = this.deps.ds.getRepository(AuditEntryEntity).createQueryBuilder('e').where('e.organization_id = :org', { org: org.id });
    const totalCount = await qb.clone().getCount();
    if (after) qb.andWhere('e.id < :id', { id: after[0] });
    const rows = await qb
      .orderBy('e.id', 'DESC')
      .take(size + 1)
      .getMany();
    return pageOf(
      rows,
      size,
      totalCount,
      (e) => encodeCursor([String(e.id)]),
      (e) => e,
    );
  }

  /** The owner and the active co-administrators, as administrators see them. */
  async admins(org: OrganizationEntity): Promise<AccountSummaryModel[]> {
    const coAdmins = await this.deps.ds.getRepository(MembershipEntity).findBy({ organizationId: org.id, isAdmin: true, status: 'ACTIVE' });
    const accounts = await this.deps.ds.getRepository(AccountEntity).findBy({ id: In([org.ownerAccountId, ...coAdmins.map((m) => m.accountId)]) });
    const owner = accounts.find((a) => a.id === org.ownerAccountId);
    const others = accounts.filter((a) => a.id !== org.ownerAccountId).sort((a, b) => a.userId.localeCompare(b.userId));
    return [...(owner ? [owner] : []), ...others].map((a) => summaryOf(a, true));
  }

  /** R2.6: members use the owner's sharable licenses only. */
  sharableLicenses(ownerLicenses: LicenseEntity[]): LicenseEntity[] {
    return ownerLicenses.filter((l) => isSharable(l.type));
  }

  /** The family an organization shares now: its owner's active sharable licenses' type. */
  licenseType(ownerLicenses: LicenseEntity[]): LicenseTypeName | null {
    const now = this.now;
    return ownerLicenses.find((l) => isSharable(l.type) && isActive(l, now))?.type ?? null;
  }

  /** The name a joiner may see of the organization it joined. */
  async summaryOf(organizationId: string): Promise<OrganizationEntity | null> {
    return this.deps.ds.getRepository(OrganizationEntity).findOneBy({ id: organizationId });
  }

  async byIds(ids: readonly string[]): Promise<Array<OrganizationEntity | null>> {
    const rows = await this.deps.ds.getRepository(OrganizationEntity).findBy({ id: In([...ids]) });
    return ids.map((id) => rows.find((r) => r.id === id) ?? null);
  }
}
