import type { DataSource, EntityManager } from 'typeorm';
import type { Session } from '../../platform/auth/session';
import type { Clock } from '../../platform/clock';
import { inTransaction } from '../../platform/db/transaction';
import { AccessError, DomainError } from '../../platform/errors';
import type { Logger } from '../../platform/logger';
import { AccountEntity } from '../accounts/entities';
import type { AccountService } from '../accounts/service';
import { normalizeEmail } from '../accounts/service';
import { parseCode } from '../licenses/codes';
import { LicenseEntity } from '../licenses/entities';
import type { AuditActionName } from '../organizations/entities';
import { writeAudit } from '../organizations/audit';
import type { SeatLedger } from '../seats/ledger';
import type { Events } from '../../platform/events';
import type { Mailer } from '../../platform/mail/mailer';
import { licenseKeyMail } from '../licenses/key-mail';
import type { Webhooks } from '../../platform/webhooks/events';
import { familyConflict } from '../licenses/rules';
import { licenseEvent } from '../licenses/webhook-events';
import { OrganizationEntity, MembershipEntity } from '../organizations/entities';
import { SeatLeaseEntity } from '../seats/entities';

export interface SupportServiceDeps {
  ds: DataSource;
  clock: Clock;
  logger: Logger;
  ledger: SeatLedger;
  accounts: AccountService;
  mailer: Mailer;
  publicUrl: string;
  events: Events;
  webhooks: Webhooks;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const USER_ID = /^A-[0-9A-F]{3}-[0-9A-F]{3}$/i;
const LICENSE_ID = /^L-[0-9A-F]{3}-[0-9A-F]{3}$/i;

/** How support found an account (recorded in the audit, never the query itself: it may be an email address). */
type FoundBy = 'EMAIL' | 'USER_ID' | 'LICENSE_ID' | 'LICENSE_KEY' | 'NOTHING';

/**
 * The support desk (R8): every method asks for `support` first and writes what it did to the audit
 * log with the support account as actor (organization null: it concerns an account, not an
 * organization), in the same transaction as the change.
 */
export class SupportService {
  constructor(private readonly deps: SupportServiceDeps) {}

  private async audit(
    tx: EntityManager,
    actorId: string,
    action: AuditActionName,
    target: AccountEntity | null,
    details?: Record<string, unknown>,
  ): Promise<void> {
    await writeAudit(tx, { organizationId: null, actorId, action, target, details, at: this.deps.clock.now() });
  }

  /** The account `accountId` names, by `id` or user ID (deleted ones are gone for support too): NOT_FOUND otherwise. */
  private async target(tx: EntityManager, accountId: string): Promise<AccountEntity> {
    const account = await this.accountByRef(tx, accountId);
    if (!account) throw new AccessError('NOT_FOUND');
    return account;
  }

  /** An account by its `id` or its user ID (what customers tell support, R8.4); null when none or deleted. */
  private async accountByRef(tx: EntityManager, ref: string): Promise<AccountEntity | null> {
    const q = ref.trim();
    const where = UUID.test(q) ? { id: q } : USER_ID.test(q) ? { userId: q.toUpperCase() } : null;
    const account = where ? await tx.findOneBy(AccountEntity, where) : null;
    return account && !account.deletedAt ? account : null;
  }

  /** A license by its `id` or its license ID (`L-XXX-XXX`), locked for a change when `lock` (seat inserts hold key-share locks: FOR NO KEY UPDATE). */
  private async licenseByRef(tx: EntityManager, ref: string, lock: boolean): Promise<LicenseEntity> {
    const q = ref.trim();
    const qb = tx.getRepository(LicenseEntity).createQueryBuilder('l');
    if (lock) qb.setLock('for_no_key_update');
    const license = UUID.test(q)
      ? await qb.where('l.id = :q', { q }).getOne()
      : LICENSE_ID.test(q)
        ? await qb.where('l.license_id = :q', { q: q.toUpperCase() }).getOne()
        : null;
    if (!license) throw new DomainError('BAD_USER_INPUT', { reason: 'UNKNOWN_LICENSE', field: ['licenseId'] });
    return license;
  }

  private async find(manager: EntityManager, query: string): Promise<{ account: AccountEntity | null; by: FoundBy }> {
    const q = query.trim();
    if (q.length === 0 || q.length > 320) return { account: null, by: 'NOTHING' };
    const live = (a: AccountEntity | null) => (a && !a.deletedAt ? a : null);
    if (q.includes('@')) return { account: live(await manager.findOneBy(AccountEntity, { emailNormalized: normalizeEmail(q) })), by: 'EMAIL' };
    if (USER_ID.test(q)) return { account: live(await manager.findOneBy(AccountEntity, { userId: q.toUpperCase() })), by: 'USER_ID' };
    const byLicense = async (license: LicenseEntity | null) =>
      license?.ownerAccountId ? live(await manager.findOneBy(AccountEntity, { id: license.ownerAccountId })) : null;
    if (LICENSE_ID.test(q)) return { account: await byLicense(await manager.findOneBy(LicenseEntity, { licenseId: q.toUpperCase() })), by: 'LICENSE_ID' };
    const parsed = parseCode(q);
    if (parsed.kind === 'license') return { account: await byLicense(await manager.findOneBy(LicenseEntity, { key: parsed.key })), by: 'LICENSE_KEY' };
    return { account: null, by: 'NOTHING' };
  }

  /** R8.4: find an account by email, user ID, license ID or license key; the lookup is audited. */
  async account(session: Session, query: string): Promise<AccountEntity | null> {
    const support = await session.assert('support');
    return inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      const { account, by } = await this.find(tx, query);
      await this.audit(tx, support.id, 'SUPPORT_ACCOUNT_VIEWED', account, { by, found: account !== null });
      return account;
    });
  }

  /**
   * R8.1, R8.4: frees one lease of the account, or every seat it holds on a license, offline-bound
   * ones too (the broken computer); their apps hear `LEASE_ENDED`, reason `SUPPORT`.
   */
  async releaseSeats(session: Session, input: { accountId: string; licenseId?: string | null; leaseId?: string | null }): Promise<number> {
    const support = await session.assert('support');
    if (!input.licenseId && !input.leaseId) {
      throw new DomainError('BAD_USER_INPUT', { reason: 'RELEASE_TARGET', field: ['input', 'licenseId'] });
    }
    if ((input.licenseId && !UUID.test(input.licenseId)) || (input.leaseId && !UUID.test(input.leaseId))) throw new AccessError('NOT_FOUND');
    const ledger = this.deps.ledger;
    return ledger.transaction(async (work) => {
      const account = await this.target(work.tx, input.accountId);
      if (input.leaseId) {
        const lease = await work.tx.findOneBy(SeatLeaseEntity, { id: input.leaseId });
        // A lease of another account is no seat of this one: the same answer as a missing one.
        if (!lease || lease.accountId !== account.id) throw new AccessError('NOT_FOUND');
      }
      const ended = await ledger.endAccountSeats(work, account.id, 'SUPPORT', {
        includeOfflineBound: true,
        licenseId: input.licenseId ?? undefined,
        leaseId: input.leaseId ?? undefined,
      });
      await this.audit(work.tx, support.id, 'SUPPORT_SEATS_RELEASED', account, {
        licenseId: input.licenseId ?? null,
        leaseId: input.leaseId ?? null,
        ended: ended.length,
      });
      return ended.length;
    });
  }

  /** R8.1: the account's email address counts as verified (its mail never arrived). */
  async verifyEmail(session: Session, accountId: string): Promise<AccountEntity> {
    const support = await session.assert('support');
    return inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      const account = await this.target(tx, accountId);
      if (!account.emailVerifiedAt) {
        const now = this.deps.clock.now();
        await tx.update(AccountEntity, { id: account.id }, { emailVerifiedAt: now, updatedAt: now });
        Object.assign(account, { emailVerifiedAt: now, updatedAt: now });
        await this.audit(tx, support.id, 'SUPPORT_EMAIL_VERIFIED', account);
      }
      return account;
    });
  }

  /** R8.1, R1.6: every login block of the account ends now (per address and account-wide). */
  async clearLoginBlock(session: Session, accountId: string): Promise<void> {
    const support = await session.assert('support');
    await inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      const account = await this.target(tx, accountId);
      await this.deps.accounts.clearLoginBlocks(tx, account.id);
      await this.audit(tx, support.id, 'SUPPORT_LOGIN_BLOCK_CLEARED', account);
    });
  }

  /**
   * R8.1 (the FAQ's "activated under the wrong account"): moves a license to another account. The
   * pool rules apply: the family rule (R2.8) in the new pool, under that account's lock as for a
   * redemption; both pools are reconciled under their locks, so that the old pool's seats the license
   * carried end with `LICENSE_ENDED` unless its other licenses carry them (R4.10).
   */
  async transferLicense(session: Session, input: { licenseId: string; toAccountId: string }): Promise<LicenseEntity> {
    const support = await session.assert('support');
    const ledger = this.deps.ledger;
    return ledger.transaction(async (work) => {
      const { tx } = work;
      // The receiving account's row first, then the license's (a redemption's order).
      const to = await this.accountByRef(tx, input.toAccountId);
      if (!to) throw new DomainError('BAD_USER_INPUT', { reason: 'UNKNOWN_ACCOUNT', field: ['input', 'toAccountId'] });
      await tx.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [to.id]);
      const license = await this.licenseByRef(tx, input.licenseId, true).catch((err: unknown) => {
        throw err instanceof DomainError ? new DomainError('BAD_USER_INPUT', { reason: 'UNKNOWN_LICENSE', field: ['input', 'licenseId'] }) : err;
      });
      if (license.ownerAccountId === to.id) return license;
      if (license.type === 'TRIAL') throw new DomainError('BAD_USER_INPUT', { reason: 'TRIAL_NOT_TRANSFERABLE', field: ['input', 'licenseId'] });
      const now = this.deps.clock.now();
      const pool = await tx.findBy(LicenseEntity, { ownerAccountId: to.id });
      if (familyConflict(pool, license, now)) throw new DomainError('LICENSE_TYPE_MISMATCH', { field: ['input', 'toAccountId'] });
      const from = license.ownerAccountId ? await tx.findOneBy(AccountEntity, { id: license.ownerAccountId }) : null;
      const pools = [to.id, ...(from ? [from.id] : [])];
      const { ended } = await ledger.changeLicenses(work, pools, async () => {
        const redeemedAt = license.redeemedAt ?? now;
        await tx.update(LicenseEntity, { id: license.id }, { ownerAccountId: to.id, redeemedAt });
        Object.assign(license, { ownerAccountId: to.id, redeemedAt });
      });
      await this.audit(tx, support.id, 'SUPPORT_LICENSE_TRANSFERRED', to, {
        licenseId: license.licenseId,
        fromUserId: from?.userId ?? null,
        toUserId: to.userId,
        endedSeats: ended.length,
      });
      // A receiver that followed the license's owner learns of the move as a redemption into the new account.
      await this.deps.webhooks.emit(tx, licenseEvent('license.redeemed', license, to.userId, now, { transferredFromUserId: from?.userId ?? null }));
      work.afterCommit(() => {
        this.deps.events.accountChanged(to.id);
        if (from) this.deps.events.accountChanged(from.id);
      });
      return license;
    });
  }

  /** R8.4: the license key emailed again: to its owner in their language, or to the purchaser while nobody has redeemed it. */
  async resendLicenseKey(session: Session, licenseId: string): Promise<void> {
    const support = await session.assert('support');
    await inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      const license = await this.licenseByRef(tx, licenseId, false);
      const owner = license.ownerAccountId ? await tx.findOneBy(AccountEntity, { id: license.ownerAccountId }) : null;
      const to = owner ? owner.email : license.purchaserEmail;
      // An erased owner has no address left; nobody else may receive the key.
      if (!to) throw new DomainError('BAD_USER_INPUT', { reason: 'NO_RECIPIENT', field: ['licenseId'] });
      const mail = licenseKeyMail(owner?.language ?? license.language, license, owner !== null, this.deps.publicUrl);
      await this.deps.mailer.send(tx, { to, ...mail, kind: 'license-key-resent' });
      await this.audit(tx, support.id, 'SUPPORT_LICENSE_KEY_RESENT', owner, { licenseId: license.licenseId, to: owner ? 'OWNER' : 'PURCHASER' });
    });
  }

  /**
   * R1.9, R8.5: deletes an account. Refused with `ACCOUNT_OWNS_LICENSES` while it owns licenses a
   * customer paid for (not revoked; trials do not count), naming them and the organization they are
   * shared through. Otherwise, in one transaction: every seat ends (offline-bound ones too, reason
   * `SUPPORT`), its memberships and wait-list places go, an organization it owns (with no licenses left)
   * is dissolved, its tokens are revoked, and its email, name and password hash are erased. The row
   * stays with its user ID: seat history and audit entries say which account without saying who.
   */
  async deleteAccount(session: Session, accountId: string): Promise<void> {
    const support = await session.assert('support');
    // Support's own account is not support's to delete (an operator would lock the desk out); another support account may.
    if ((await this.accountByRef(this.deps.ds.manager, accountId))?.id === support.id) {
      throw new DomainError('BAD_USER_INPUT', { reason: 'DELETE_SELF', field: ['accountId'] });
    }
    const ledger = this.deps.ledger;
    await ledger.transaction(async (work) => {
      const { tx } = work;
      const found = await this.target(tx, accountId);
      // The account's row: no redemption, transfer or organization can begin for it meanwhile.
      await tx.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [found.id]);
      const account = (await tx.findOneBy(AccountEntity, { id: found.id }))!;
      if (account.deletedAt) throw new AccessError('NOT_FOUND');
      const owned = await tx.query<Array<{ license_id: string }>>(
        `SELECT license_id FROM licenses WHERE owner_account_id = $1 AND type <> 'TRIAL' AND revoked_at IS NULL ORDER BY license_id`,
        [account.id],
      );
      const org = await tx.findOneBy(OrganizationEntity, { ownerAccountId: account.id });
      if (owned.length > 0) {
        const licenses = owned.map((r) => r.license_id).join(', ');
        throw new DomainError('ACCOUNT_OWNS_LICENSES', {
          reason: org ? 'ORGANIZATION' : undefined,
          field: ['accountId'],
          params: org ? { licenses, organization: org.name } : { licenses },
        });
      }
      const ended = await ledger.endAccount(work, account.id);
      const memberships = await tx.findBy(MembershipEntity, { accountId: account.id });
      await tx.delete(MembershipEntity, { accountId: account.id });
      let dissolvedMembers = 0;
      if (org) {
        const members = await tx.findBy(MembershipEntity, { organizationId: org.id });
        dissolvedMembers = members.length;
        await tx.delete(MembershipEntity, { organizationId: org.id });
        work.afterCommit(() => members.forEach((m) => this.deps.events.accountChanged(m.accountId)));
      }
      await this.deps.accounts.erase(tx, account.id);
      await this.audit(tx, support.id, 'SUPPORT_ACCOUNT_DELETED', account, {
        endedSeats: ended.length,
        memberships: memberships.length,
        dissolvedOrganization: org?.id ?? null,
        dissolvedMembers,
      });
      await this.deps.webhooks.emit(tx, {
        type: 'account.deleted',
        key: `account:${account.id}`,
        data: { userId: account.userId, deletedAt: this.deps.clock.now().toISOString() },
      });
      work.afterCommit(() => this.deps.events.accountChanged(account.id));
    });
  }
}
