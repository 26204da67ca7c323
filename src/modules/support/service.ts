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
import { SeatLeaseEntity } from '../seats/entities';

export interface SupportServiceDeps {
  ds: DataSource;
  clock: Clock;
  logger: Logger;
  ledger: SeatLedger;
  accounts: AccountService;
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

  /** The account `accountId` names (deleted ones are gone for support too): NOT_FOUND otherwise. */
  private async target(tx: EntityManager, accountId: string): Promise<AccountEntity> {
    if (!UUID.test(accountId)) throw new AccessError('NOT_FOUND');
    const account = await tx.findOneBy(AccountEntity, { id: accountId });
    if (!account || account.deletedAt) throw new AccessError('NOT_FOUND');
    return account;
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
}
