import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { In } from 'typeorm';
import type { Session } from '../../platform/auth/session';
import type { AdminRole } from '../../platform/auth/policy';
import type { ServiceDeps } from '../../platform/deps';
import { inTransaction, retryOnUniqueRandom } from '../../platform/db/transaction';
import { AccessError, DomainError } from '../../platform/errors';
import { checkName } from '../../platform/validation';
import type { Loaders } from '../../platform/context';
import { decodeCursor, encodeCursor, pageOf, pageSize, type Page } from '../../platform/pagination';
import { AccountEntity } from '../accounts/entities';
import { summaryOf, type AccountSummaryModel } from '../accounts/summary';
import { generateInviteCode, parseCode } from '../licenses/codes';
import { LicenseEntity, type LicenseTypeName } from '../licenses/entities';
import { isActive, isSharable } from '../licenses/rules';
import type { SeatLeaseEntity } from '../seats/entities';
import type { SeatLedger } from '../seats/ledger';
import { writeAudit } from './audit';
import { AuditEntryEntity, DEFAULT_MAX_OFFLINE_DAYS, MembershipEntity, OrganizationEntity, type AuditActionName, type MembershipStatusName } from './entities';

export type OrganizationServiceDeps = ServiceDeps & { ledger: SeatLedger };

/** A membership as the caller sees it: administrators and the member see the member's email. */
export interface MembershipModel {
  membership: MembershipEntity;
  showEmail: boolean;
}

export type { AdminRole };

declare const fullBrand: unique symbol;
declare const summaryBrand: unique symbol;
/**
 * An organization as its administrators and support see it (`Organization`): only this service
 * hands one out, after `organization:read`. A brand of the type only, so that a summary (or a bare
 * entity) cannot be answered where the full organization is expected.
 */
export type OrganizationView = OrganizationEntity & { readonly [fullBrand]: true };
/** What a member, a joiner or a seat holder sees of an organization (`OrganizationSummary`, R3.6). */
export type OrganizationSummaryView = OrganizationEntity & { readonly [summaryBrand]: true };

export function summaryView(org: OrganizationEntity): OrganizationSummaryView {
  return org as OrganizationSummaryView;
}
function fullViewOf(org: OrganizationEntity): OrganizationView {
  return org as OrganizationView;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** R1.11: an organization's name, like a person's. */
function checkOrgName(name: string): string {
  return checkName(name, ['input', 'name']);
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

  /** The invite URL `PUBLIC_URL/join/<code>` (R3.2). */
  async inviteUrl(session: Session, org: OrganizationView): Promise<string> {
    await session.assert('organization:read', org.id);
    return `${this.deps.publicUrl}/join/${org.inviteCode}`;
  }

  // ---------------------------------------------------------------- authorization

  /**
   * The membership to act on and the caller's right over it (`organization:admin` of its
   * organization); NOT_FOUND when the caller administers nothing there, the same answer as for a
   * membership that does not exist.
   */
  private async memberAccess(
    session: Session,
    tx: EntityManager,
    membershipId: string,
  ): Promise<{ org: OrganizationEntity; role: AdminRole; caller: AccountEntity; membership: MembershipEntity }> {
    if (!UUID.test(membershipId)) throw new AccessError('NOT_FOUND');
    const membership = await tx
      .getRepository(MembershipEntity)
      .createQueryBuilder('m')
      .setLock('pessimistic_write')
      .where('m.id = :id', { id: membershipId })
      .getOne();
    if (!membership) throw new AccessError('NOT_FOUND');
    const grant = await session.assert('organization:admin', membership.organizationId, tx);
    // Nobody acts on themselves here (leaveOrganization is for that), and co-administrators
    // leave other administrators to the owner.
    if (membership.accountId === grant.caller.id) throw new DomainError('ADMIN_PROTECTED', { reason: 'SELF', field: ['input', 'membershipId'] });
    if (grant.role === 'CO_ADMIN' && membership.isAdmin) {
      throw new DomainError('ADMIN_PROTECTED', { reason: 'OTHER_ADMIN', field: ['input', 'membershipId'] });
    }
    return { ...grant, membership };
  }

  private async audit(
    tx: EntityManager,
    org: OrganizationEntity,
    actorId: string,
    action: AuditActionName,
    target?: { accountId: string },
    details?: Record<string, unknown>,
  ): Promise<void> {
    const userId = target ? ((await tx.findOneBy(AccountEntity, { id: target.accountId }))?.userId ?? null) : null;
    await writeAudit(tx, { organizationId: org.id, actorId, action, target: target ? { id: target.accountId, userId } : null, details, at: this.now });
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
    const caller = await session.assert('account:use');
    if (!UUID.test(leaseId)) throw new AccessError('NOT_FOUND');
    return inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      let org: OrganizationEntity | undefined;
      const result = await this.deps.ledger.endOrganizationSeat({ tx, afterCommit }, leaseId, async (organizationId, holderId) => {
        const access = await session.assert('organization:admin', organizationId, tx);
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
  async create(session: Session, input: { name: string }): Promise<OrganizationView> {
    const caller = await session.assert('account:use');
    const name = checkOrgName(input.name);
    return fullViewOf(await retryOnUniqueRandom(['organizations_invite_code_key'], () => this.insertOrganization(caller.id, name)));
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
      const owner = await tx.findOneByOrFail(AccountEntity, { id: callerId });
      await this.deps.webhooks.emit(tx, {
        type: 'organization.created',
        key: `organization:${org.id}`,
        data: { id: org.id, ownerUserId: owner.userId, createdAt: now.toISOString() },
      });
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
  ): Promise<OrganizationView> {
    // Who may comes first: a stranger learns nothing from input checks.
    await session.assert('organization:admin', input.organizationId);
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
      const { org, caller } = await session.assert('organization:admin', input.organizationId, tx);
      const changed: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(changes) as Array<[keyof OrganizationEntity, unknown]>) {
        if (JSON.stringify(org[key]) !== JSON.stringify(value)) changed[key] = value;
      }
      if (Object.keys(changed).length === 0) return fullViewOf(org);
      Object.assign(org, changed, { updatedAt: this.now });
      await tx.update(OrganizationEntity, { id: org.id }, { ...changed, updatedAt: org.updatedAt });
      await this.audit(tx, org, caller.id, 'ORGANIZATION_UPDATED', undefined, changed);
      return fullViewOf(org);
    });
  }

  /** R3.2, R3.5(d): a new code; the old code and URL stop working. */
  async regenerateInviteCode(session: Session, organizationId: string): Promise<OrganizationView> {
    await session.assert('organization:admin', organizationId);
    return retryOnUniqueRandom(['organizations_invite_code_key'], () =>
      inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
        const { org, caller } = await session.assert('organization:admin', organizationId, tx);
        org.inviteCode = await this.freeInviteCode(tx);
        org.updatedAt = this.now;
        await tx.update(OrganizationEntity, { id: org.id }, { inviteCode: org.inviteCode, updatedAt: org.updatedAt });
        await this.audit(tx, org, caller.id, 'INVITE_CODE_REGENERATED');
        return fullViewOf(org);
      }),
    );
  }

  // ---------------------------------------------------------------- members

  /** R3.4: block or unblock. Blocking ends the member's seats of this organization at once. */
  async setMemberStatus(session: Session, membershipId: string, status: MembershipStatusName): Promise<MembershipModel> {
    await session.assert('account:use');
    return inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      const { org, membership, caller } = await this.memberAccess(session, tx, membershipId);
      if (membership.status !== status) {
        membership.status = status;
        membership.updatedAt = this.now;
        await tx.update(MembershipEntity, { id: membership.id }, { status, updatedAt: membership.updatedAt });
        if (status === 'BLOCKED') await this.deps.ledger.endMemberSeats({ tx, afterCommit }, org, membership.accountId);
        afterCommit(() => this.told(membership.accountId));
        await this.audit(tx, org, caller.id, status === 'BLOCKED' ? 'MEMBER_BLOCKED' : 'MEMBER_UNBLOCKED', { accountId: membership.accountId });
      }
      return { membership, showEmail: true };
    });
  }

  /** R3.5(a): the owner appoints co-administrators among active members, and revokes them. */
  async setMemberAdmin(session: Session, membershipId: string, admin: boolean): Promise<MembershipModel> {
    await session.assert('account:use');
    return inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      const { org, role, membership, caller } = await this.memberAccess(session, tx, membershipId);
      if (role !== 'OWNER') throw new DomainError('ADMIN_PROTECTED', { reason: 'OWNER_ONLY', field: ['input', 'membershipId'] });
      if (admin && membership.status !== 'ACTIVE') throw new DomainError('MEMBERSHIP_BLOCKED', { field: ['input', 'membershipId'] });
      if (membership.isAdmin !== admin) {
        membership.isAdmin = admin;
        membership.updatedAt = this.now;
        await tx.update(MembershipEntity, { id: membership.id }, { isAdmin: admin, updatedAt: membership.updatedAt });
        await this.audit(tx, org, caller.id, admin ? 'ADMIN_GRANTED' : 'ADMIN_REVOKED', { accountId: membership.accountId });
        afterCommit(() => this.told(membership.accountId));
      }
      return { membership, showEmail: true };
    });
  }

  /** R3.4: removes the membership; the person may rejoin with the code. */
  async removeMember(session: Session, membershipId: string): Promise<void> {
    await session.assert('account:use');
    await inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      const { org, membership, caller } = await this.memberAccess(session, tx, membershipId);
      await tx.delete(MembershipEntity, { id: membership.id });
      await this.deps.ledger.endMemberSeats({ tx, afterCommit }, org, membership.accountId);
      afterCommit(() => this.told(membership.accountId));
      await this.audit(tx, org, caller.id, 'MEMBER_REMOVED', { accountId: membership.accountId });
    });
  }

  /** R3.5: a member leaves. A blocked member cannot: leaving and rejoining would undo the block. */
  async leave(session: Session, organizationId: string): Promise<void> {
    await session.assert('organization:member', organizationId);
    await inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      const { org, membership, caller } = await session.assert('organization:member', organizationId, tx);
      if (membership.status === 'BLOCKED') throw new DomainError('MEMBERSHIP_BLOCKED');
      await tx.delete(MembershipEntity, { id: membership.id });
      await this.deps.ledger.endMemberSeats({ tx, afterCommit }, org, caller.id);
      await this.audit(tx, org, caller.id, 'MEMBER_LEFT', { accountId: caller.id });
      afterCommit(() => {
        session.forget(org.id);
        this.told(caller.id);
      });
    });
  }

  /**
   * R3.3: joins with an invite code (from `redeemCode`, or the join page). Idempotent; refused for
   * blocked members, for the owner, and for email domains the organization does not admit.
   */
  async join(session: Session, inviteCode: string): Promise<{ membership: MembershipModel; organization: OrganizationSummaryView; already: boolean }> {
    const caller = await session.assert('account:use');
    const field = ['code'];
    return inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      const org = await tx.findOneBy(OrganizationEntity, { inviteCode });
      if (!org) throw new DomainError('INVALID_INVITE_CODE', { field });
      if (org.ownerAccountId === caller.id) throw new DomainError('OWN_ORGANIZATION', { field });
      const existing = await tx.findOneBy(MembershipEntity, { organizationId: org.id, accountId: caller.id });
      if (existing?.status === 'BLOCKED') throw new DomainError('MEMBERSHIP_BLOCKED', { field });
      if (existing) return { membership: { membership: existing, showEmail: true }, organization: summaryView(org), already: true };
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
        return { membership: { membership: winner, showEmail: true }, organization: summaryView(org), already: true };
      }
      await this.audit(tx, org, caller.id, 'MEMBER_JOINED', { accountId: caller.id });
      session.forget(org.id);
      return { membership: { membership, showEmail: true }, organization: summaryView(org), already: false };
    });
  }

  /** What an invite code or URL leads to, for the join page (logged in; rate limited like redemption). */
  async invitation(session: Session, code: string, ipHash: string): Promise<OrganizationSummaryView | null> {
    const caller = await session.assert('account:use');
    await this.deps.rateLimits.consume('redeem:account', caller.id);
    await this.deps.rateLimits.consume('redeem:ip', ipHash);
    const parsed = parseCode(code);
    if (parsed.kind !== 'invite') return null;
    const org = await this.deps.ds.getRepository(OrganizationEntity).findOneBy({ inviteCode: parsed.code });
    return org ? summaryView(org) : null;
  }

  // ---------------------------------------------------------------- reading

  async organization(session: Session, id: string): Promise<OrganizationView> {
    const { org } = await session.assert('organization:read', id);
    return fullViewOf(org);
  }

  /** The organization an account owns: for the account itself and support. */
  async ownedBy(session: Session, accountId: string): Promise<OrganizationView | null> {
    await session.assert('account:read', accountId);
    const org = await this.deps.ds.getRepository(OrganizationEntity).findOneBy({ ownerAccountId: accountId });
    return org ? fullViewOf(org) : null;
  }

  /** R3.6 "My invitations": the account's memberships, oldest first (the account itself and support). */
  async membershipsOf(session: Session, accountId: string): Promise<MembershipModel[]> {
    await session.assert('account:read', accountId);
    const rows = await this.deps.ds.getRepository(MembershipEntity).find({ where: { accountId }, order: { joinedAt: 'ASC', id: 'ASC' } });
    return rows.map((membership) => ({ membership, showEmail: true }));
  }

  /** R3.4: members, oldest first, by keyset pages; administrators (and support) only. */
  async members(
    session: Session,
    organizationId: string,
    args: { first?: number | null; after?: string | null; status?: MembershipStatusName | null },
  ): Promise<Page<MembershipModel>> {
    const { org } = await session.assert('organization:read', organizationId);
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
    const { org } = await session.assert('organization:read', organizationId);
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
  async admins(session: Session, org: OrganizationView): Promise<AccountSummaryModel[]> {
    await session.assert('organization:read', org.id);
    const coAdmins = await this.deps.ds.getRepository(MembershipEntity).findBy({ organizationId: org.id, isAdmin: true, status: 'ACTIVE' });
    const accounts = await this.deps.ds.getRepository(AccountEntity).findBy({ id: In([org.ownerAccountId, ...coAdmins.map((m) => m.accountId)]) });
    const owner = accounts.find((a) => a.id === org.ownerAccountId);
    const others = accounts.filter((a) => a.id !== org.ownerAccountId).sort((a, b) => a.userId.localeCompare(b.userId));
    return [...(owner ? [owner] : []), ...others].map((a) => summaryOf(a, true));
  }

  /** The organization of a membership the caller was handed (its own, or one its administrator listed), as a summary. */
  async membershipOrganization(session: Session, m: MembershipModel, loaders: Pick<Loaders, 'organizationById'>): Promise<OrganizationSummaryView> {
    await session.assert('account:use');
    return summaryView((await loaders.organizationById.load(m.membership.organizationId))!);
  }

  /** The owner, as administrators see it (with the address). */
  async owner(session: Session, org: OrganizationView, loaders: Pick<Loaders, 'accountById'>): Promise<AccountSummaryModel> {
    await session.assert('organization:read', org.id);
    return summaryOf((await loaders.accountById.load(org.ownerAccountId))!, true);
  }

  /** R2.6: members use the owner's sharable licenses only. */
  async sharableLicenses(session: Session, org: OrganizationView, loaders: Pick<Loaders, 'licensesByOwner'>): Promise<LicenseEntity[]> {
    await session.assert('organization:read', org.id);
    return (await loaders.licensesByOwner.load(org.ownerAccountId)).filter((l) => isSharable(l.type));
  }

  /**
   * The family an organization shares now (its owner's active sharable licenses' type), as a summary
   * shows it to whoever was handed the summary: a member, a joiner, a seat holder.
   */
  async licenseType(session: Session, org: OrganizationSummaryView, loaders: Pick<Loaders, 'licensesByOwner'>): Promise<LicenseTypeName | null> {
    await session.assert('account:use');
    const now = this.now;
    return (await loaders.licensesByOwner.load(org.ownerAccountId)).find((l) => isSharable(l.type) && isActive(l, now))?.type ?? null;
  }

  /** Whom a member contacts (R3.6 "Contact Admin"): the owner's address, on a summary handed to the caller. */
  async adminContactEmail(session: Session, org: OrganizationSummaryView, loaders: Pick<Loaders, 'accountById'>): Promise<string | null> {
    await session.assert('account:use');
    return (await loaders.accountById.load(org.ownerAccountId))?.email ?? null;
  }

  async byIds(ids: readonly string[]): Promise<Array<OrganizationEntity | null>> {
    const rows = await this.deps.ds.getRepository(OrganizationEntity).findBy({ id: In([...ids]) });
    return ids.map((id) => rows.find((r) => r.id === id) ?? null);
  }
}
