import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { In, IsNull } from 'typeorm';
import type { Session } from '../../platform/auth/session';
import type { ServiceDeps } from '../../platform/deps';
import { DAY } from '../../platform/clock';
import { newPublicId } from '../../platform/crypto';
import { inTransaction, isUniqueViolation, retryOnUniqueRandom } from '../../platform/db/transaction';
import { AccessError, DomainError } from '../../platform/errors';
import { checkEmail, checkText } from '../../platform/validation';
import { licenseExpiryMail, licenseRenewedMail, licenseRevokedMail } from '../../platform/mail/templates';
import { licenseKeyMail } from './key-mail';
import { AccountEntity, type LanguageCode } from '../accounts/entities';
import type { MembershipModel } from '../organizations/service';
import { normalizeEmail } from '../accounts/service';
import { summaryOf, type AccountSummaryModel } from '../accounts/summary';
import type { Loaders } from '../../platform/context';
import { generateLicenseKey, parseCode } from './codes';
import { licenseEvent } from './webhook-events';
import type { SeatLedger } from '../seats/ledger';
import type { EntitlementSubject } from '../entitlements/claims';
import { writeAudit } from '../organizations/audit';
import { newSecretToken, sha256 } from '../../platform/crypto';
import { LicenseEntity, type LicenseStatusName, type LicenseTypeName, type PlatformName, type RevocationReasonName } from './entities';
import {
  dueReminder,
  expiresSoon,
  familyConflict,
  isOfflineCapable,
  isSharable,
  poolSchedule,
  REMINDER_DAYS,
  servingLicense,
  statusOf,
  type PoolPeriod,
} from './rules';

export type LicenseServiceDeps = ServiceDeps & { ledger: SeatLedger };

export interface IssueLicenseInput {
  type: LicenseTypeName;
  seats: number;
  platforms: PlatformName[];
  expiresAt?: Date | null;
  purchaserEmail: string;
  orderReference: string;
  language?: LanguageCode | null;
  redeemForUserId?: string | null;
  /** R2.12: a `createShopHandoff` token. */
  redeemForHandoff?: string | null;
}

export interface RenewLicenseInput {
  orderReference: string;
  /** Absent: unchanged; null: no longer expires. */
  expiresAt?: Date | null;
  seats?: number | null;
  renewalReference?: string | null;
}

/** R2.12: how long a hand-off token works. */
export const HANDOFF_MS = 30 * 60_000;

export interface EntitlementView {
  canUse: boolean;
  canSave: boolean;
  license: LicenseEntity | null;
  owner: AccountEntity | null;
  expiresAt: Date | null;
  expiresSoon: boolean;
  trialDaysRemaining: number | null;
  /** Whom it speaks of, for its signed token (R7.5): set by the seat module; none, no token. */
  subject?: EntitlementSubject;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_SEATS = 1_000_000;

/** Joins an organization by invite code; the organizations module provides it (R3.3). */
export type InviteJoiner = (session: Session, code: string) => Promise<{ membership: MembershipModel; already: boolean }>;

export class LicenseService {
  private joinByInvite?: InviteJoiner;

  constructor(private readonly deps: LicenseServiceDeps) {}

  /** The redemption box also takes invite codes; organizations hand in how to join. */
  acceptInvitesWith(joiner: InviteJoiner): void {
    this.joinByInvite = joiner;
  }

  private get now(): Date {
    return this.deps.clock.now();
  }

  status(license: LicenseEntity): LicenseStatusName {
    return statusOf(license, this.now);
  }

  sharable(license: LicenseEntity): boolean {
    return isSharable(license.type);
  }

  offlineCapable(license: LicenseEntity): boolean {
    return isOfflineCapable(license);
  }

  /**
   * The key is the owner's and support's to see (R2.1), and the shop's in the answer to
   * `issueLicense` (it shows the key to a buyer it cannot match to an account); everyone else gets null.
   */
  async keyOf(session: Session, license: LicenseEntity): Promise<string | null> {
    const visible = await session.can('license:key', license);
    return visible ? license.key : null;
  }

  /** The owner, with the address for the owner and support only. */
  async ownerOf(session: Session, license: LicenseEntity, loaders: Pick<Loaders, 'accountById'>): Promise<AccountSummaryModel | null> {
    const showEmail = await session.can('license:owner-email', license);
    const owner = license.ownerAccountId ? await loaders.accountById.load(license.ownerAccountId) : null;
    return owner ? summaryOf(owner, showEmail) : null;
  }

  /** Who an entitlement is from, with the address for that account itself and support. */
  async entitlementOwner(session: Session, entitlement: EntitlementView): Promise<AccountSummaryModel | null> {
    const showEmail = await session.can('account:read', entitlement.owner?.id ?? '');
    return entitlement.owner ? summaryOf(entitlement.owner, showEmail) : null;
  }

  // ---------------------------------------------------------------- the shop

  /** R2.4: the shop's token only; once per order reference; the key is emailed after commit. */
  async issueLicense(session: Session, input: IssueLicenseInput): Promise<LicenseEntity> {
    await session.assert('license:issue');
    const clean = this.validateIssue(input);
    const existing = await this.deps.ds.getRepository(LicenseEntity).findOneBy({ orderReference: clean.orderReference });
    if (existing) return this.sameOrder(existing, clean);
    try {
      return await retryOnUniqueRandom(['licenses_license_id_key', 'licenses_license_key_key'], () => this.insertIssued(clean));
    } catch (err) {
      // The same order issued twice at the same moment: the unique index picks one; both answer it.
      if (isUniqueViolation(err, 'licenses_order_reference_key')) {
        const winner = await this.deps.ds.getRepository(LicenseEntity).findOneByOrFail({ orderReference: clean.orderReference });
        return this.sameOrder(winner, clean);
      }
      throw err;
    }
  }

  private insertIssued(clean: ReturnType<LicenseService['validateIssue']>): Promise<LicenseEntity> {
    return inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      const now = this.now;
      let owner: AccountEntity | null = null;
      if (clean.redeemForUserId) {
        owner = await this.lockAccount(tx, { userId: clean.redeemForUserId });
        if (!owner) throw new DomainError('BAD_USER_INPUT', { reason: 'UNKNOWN_ACCOUNT', field: ['input', 'redeemForUserId'] });
      }
      const handoff = clean.redeemForHandoff ? await this.takeHandoff(tx, clean.redeemForHandoff, now) : null;
      if (handoff) owner = handoff;
      const license = tx.create(LicenseEntity, {
        id: randomUUID(),
        licenseId: await this.freeLicenseId(tx),
        key: generateLicenseKey(),
        type: clean.type,
        seats: clean.seats,
        platforms: clean.platforms,
        expiresAt: clean.expiresAt,
        orderReference: clean.orderReference,
        purchaserEmail: clean.purchaserEmail,
        language: clean.language ?? owner?.language ?? 'EN',
        ownerAccountId: null,
        redeemedAt: null,
        revokedAt: null,
        revocationReason: null,
        createdAt: now,
      });
      await tx.insert(LicenseEntity, license);
      if (owner) await this.bind(tx, license, owner, ['input', handoff ? 'redeemForHandoff' : 'redeemForUserId']);
      if (handoff) {
        await tx.query('UPDATE shop_handoffs SET used_at = $2, license_id = $3 WHERE token_hash = $1', [sha256(clean.redeemForHandoff!), now, license.id]);
      }
      if (owner) afterCommit(() => this.deps.events.poolChanged(owner.id));
      // In the same transaction: the license email (the key's only carrier for a buyer without
      // an account) exists exactly when the license does.
      const mail = licenseKeyMail(license.language, license, owner !== null, this.deps.publicUrl);
      await this.deps.mailer.send(tx, { to: license.purchaserEmail!, ...mail, kind: 'license-issued' });
      await this.deps.webhooks.emit(tx, licenseEvent('license.issued', license, owner?.userId ?? null, now));
      if (owner) await this.deps.webhooks.emit(tx, licenseEvent('license.redeemed', license, owner.userId, now));
      return license;
    });
  }

  private validateIssue(input: IssueLicenseInput): Required<IssueLicenseInput> & { expiresAt: Date | null } {
    const field = (name: string) => ['input', name];
    if (input.type === 'TRIAL') throw new DomainError('BAD_USER_INPUT', { reason: 'TRIAL_NOT_ISSUABLE', field: field('type') });
    if (!Number.isInteger(input.seats) || input.seats < 1 || input.seats > MAX_SEATS) {
      throw new DomainError('BAD_USER_INPUT', { reason: 'SEATS', field: field('seats') });
    }
    const platforms = [...new Set(input.platforms)].sort();
    if (platforms.length === 0) throw new DomainError('BAD_USER_INPUT', { reason: 'PLATFORMS', field: field('platforms') });
    const expiresAt = input.expiresAt ?? null;
    if (expiresAt && expiresAt.getTime() <= this.now.getTime()) {
      throw new DomainError('BAD_USER_INPUT', { reason: 'EXPIRY_IN_PAST', field: field('expiresAt') });
    }
    const purchaserEmail = checkEmail(input.purchaserEmail, field('purchaserEmail'));
    const orderReference = checkText(input.orderReference, field('orderReference'), 'ORDER_REFERENCE', 1, 200);
    const redeemForUserId = input.redeemForUserId ? input.redeemForUserId.trim().toUpperCase() : null;
    if (redeemForUserId && !/^A-[0-9A-F]{3}-[0-9A-F]{3}$/.test(redeemForUserId)) {
      throw new DomainError('BAD_USER_INPUT', { reason: 'UNKNOWN_ACCOUNT', field: field('redeemForUserId') });
    }
    const redeemForHandoff = input.redeemForHandoff ? input.redeemForHandoff.trim() : null;
    if (redeemForHandoff && redeemForUserId) throw new DomainError('BAD_USER_INPUT', { reason: 'REDEEM_TARGETS', field: field('redeemForHandoff') });
    if (redeemForHandoff !== null && (redeemForHandoff.length < 16 || redeemForHandoff.length > 200)) {
      throw new DomainError('BAD_USER_INPUT', { reason: 'HANDOFF_UNKNOWN', field: field('redeemForHandoff') });
    }
    return {
      type: input.type,
      seats: input.seats,
      platforms,
      expiresAt,
      purchaserEmail,
      orderReference,
      language: input.language ?? null,
      redeemForUserId,
      redeemForHandoff,
    };
  }

  /**
   * R2.12: the account a hand-off token names, locked for the redemption; the token is refused
   * clearly when unknown, used or expired. Marked used by the caller in the same transaction.
   */
  private async takeHandoff(tx: EntityManager, token: string, now: Date): Promise<AccountEntity> {
    const field = ['input', 'redeemForHandoff'];
    const [row] = await tx.query<Array<{ account_id: string; expires_at: Date; used_at: Date | null }>>(
      'SELECT account_id, expires_at, used_at FROM shop_handoffs WHERE token_hash = $1 FOR UPDATE',
      [sha256(token)],
    );
    if (!row) throw new DomainError('BAD_USER_INPUT', { reason: 'HANDOFF_UNKNOWN', field });
    if (row.used_at) throw new DomainError('BAD_USER_INPUT', { reason: 'HANDOFF_USED', field });
    if (row.expires_at.getTime() <= now.getTime()) throw new DomainError('BAD_USER_INPUT', { reason: 'HANDOFF_EXPIRED', field });
    const owner = await this.lockAccount(tx, { id: row.account_id });
    if (!owner) throw new DomainError('BAD_USER_INPUT', { reason: 'HANDOFF_UNKNOWN', field });
    return owner;
  }

  /** R2.12: a single-use token for the logged-in caller to take to the shop, valid 30 minutes; only its hash is kept. */
  async createShopHandoff(session: Session): Promise<{ token: string; expiresAt: Date }> {
    const caller = await session.assert('account:use');
    await this.deps.rateLimits.consume('handoff:account', caller.id);
    const token = `hnd_${newSecretToken()}`;
    const now = this.now;
    const expiresAt = new Date(now.getTime() + HANDOFF_MS);
    await inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      // Tokens of the account that can no longer be used are tidied up here: nothing else needs them.
      await tx.query('DELETE FROM shop_handoffs WHERE account_id = $1 AND (expires_at <= $2 OR used_at IS NOT NULL)', [caller.id, now]);
      await tx.query('INSERT INTO shop_handoffs (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)', [
        sha256(token),
        caller.id,
        now,
        expiresAt,
      ]);
    });
    return { token, expiresAt };
  }

  // ---------------------------------------------------------------- the lifecycle (R2.11)

  /**
   * A license of the shop's, by its order reference, locked for a change (FOR NO KEY UPDATE: seat
   * inserts hold key-share locks on it). Trials are the server's own, not the shop's orders.
   */
  private async lockOrder(tx: EntityManager, orderReference: string): Promise<LicenseEntity> {
    const reference = checkText(orderReference, ['input', 'orderReference'], 'ORDER_REFERENCE', 1, 200);
    const license = await tx
      .getRepository(LicenseEntity)
      .createQueryBuilder('l')
      .setLock('for_no_key_update')
      .where('l.order_reference = :reference', { reference })
      .getOne();
    if (!license || license.type === 'TRIAL') throw new DomainError('BAD_USER_INPUT', { reason: 'UNKNOWN_ORDER', field: ['input', 'orderReference'] });
    return license;
  }

  /**
   * R2.11: a subscription renewed: a new end and perhaps a new seat count. Idempotent: a repeated
   * renewal reference, or (without one) terms the license already has, change nothing and send
   * nothing. Seats beyond a smaller count end at once (R4.10, `LICENSE_ENDED`). The expiry reminders
   * start afresh for the new end. Audited; the owner (or, before redemption, the purchaser) is emailed
   * in their language; `license.renewed` goes to the webhook.
   */
  async renewLicense(session: Session, input: RenewLicenseInput): Promise<LicenseEntity> {
    await session.assert('license:issue');
    const field = (name: string) => ['input', name];
    if (input.seats !== undefined && input.seats !== null && (!Number.isInteger(input.seats) || input.seats < 1 || input.seats > MAX_SEATS)) {
      throw new DomainError('BAD_USER_INPUT', { reason: 'SEATS', field: field('seats') });
    }
    if (input.expiresAt && input.expiresAt.getTime() <= this.now.getTime()) {
      throw new DomainError('BAD_USER_INPUT', { reason: 'EXPIRY_IN_PAST', field: field('expiresAt') });
    }
    const renewalReference =
      input.renewalReference === undefined || input.renewalReference === null
        ? null
        : checkText(input.renewalReference, field('renewalReference'), 'ORDER_REFERENCE', 1, 200);
    return this.deps.ledger.transaction(async (work) => {
      const { tx } = work;
      const license = await this.lockOrder(tx, input.orderReference);
      if (license.revokedAt) throw new DomainError('BAD_USER_INPUT', { reason: 'LICENSE_REVOKED', field: field('orderReference') });
      const seats = input.seats ?? license.seats;
      const expiresAt = input.expiresAt === undefined ? license.expiresAt : input.expiresAt;
      const sameTerms = (s: number, e: Date | null) => s === seats && (e?.getTime() ?? null) === (expiresAt?.getTime() ?? null);
      if (renewalReference) {
        const [done] = await tx.query<Array<{ seats: number; expires_at: Date | null }>>(
          'SELECT seats, expires_at FROM license_renewals WHERE license_id = $1 AND renewal_reference = $2',
          [license.id, renewalReference],
        );
        if (done && sameTerms(done.seats, done.expires_at)) return license;
        if (done) throw new DomainError('BAD_USER_INPUT', { reason: 'RENEWAL_REFERENCE_REUSED', field: field('renewalReference') });
      } else if (sameTerms(license.seats, license.expiresAt)) return license;
      const now = this.now;
      const before = { seats: license.seats, expiresAt: license.expiresAt?.toISOString() ?? null };
      const apply = async () => {
        await tx.update(LicenseEntity, { id: license.id }, { seats, expiresAt });
        Object.assign(license, { seats, expiresAt });
      };
      const ended = license.ownerAccountId ? (await this.deps.ledger.changeLicenses(work, [license.ownerAccountId], apply)).ended : (await apply(), []);
      if (renewalReference) {
        await tx.query('INSERT INTO license_renewals (license_id, renewal_reference, expires_at, seats, renewed_at) VALUES ($1, $2, $3, $4, $5)', [
          license.id,
          renewalReference,
          expiresAt,
          seats,
          now,
        ]);
      }
      // The 30-, 7- and 1-day reminders are owed again for the new end.
      await tx.query('DELETE FROM license_reminders WHERE license_id = $1', [license.id]);
      const owner = await this.lifecycleRecipient(tx, license);
      await writeAudit(tx, {
        organizationId: null,
        actorId: null,
        action: 'LICENSE_RENEWED',
        target: owner.account,
        details: {
          by: 'SHOP',
          licenseId: license.licenseId,
          renewalReference,
          before,
          after: { seats, expiresAt: expiresAt?.toISOString() ?? null },
          endedSeats: ended.length,
        },
        at: now,
      });
      if (owner.email) {
        const mail = licenseRenewedMail(owner.language, owner.name, { licenseId: license.licenseId, expiresAt, seats, portalUrl: this.deps.publicUrl });
        await this.deps.mailer.send(tx, { to: owner.email, ...mail, kind: 'license-renewed' });
      }
      await this.deps.webhooks.emit(
        tx,
        licenseEvent('license.renewed', license, owner.account?.userId ?? null, now, { renewalReference, endedSeats: ended.length }),
      );
      return license;
    });
  }

  /**
   * R2.11: a refund, chargeback or cancellation: `REVOKED` at once; its seats end now with
   * `LICENSE_ENDED` unless the pool's other licenses carry them (R4.10). Idempotent: a revoked
   * license stays as it is (its first reason kept). Audited, emailed, `license.revoked` sent.
   */
  async revokeLicense(session: Session, input: { orderReference: string; reason: RevocationReasonName }): Promise<LicenseEntity> {
    await session.assert('license:issue');
    return this.deps.ledger.transaction(async (work) => {
      const { tx } = work;
      const license = await this.lockOrder(tx, input.orderReference);
      if (license.revokedAt) return license;
      const now = this.now;
      const apply = async () => {
        await tx.update(LicenseEntity, { id: license.id }, { revokedAt: now, revocationReason: input.reason });
        Object.assign(license, { revokedAt: now, revocationReason: input.reason });
      };
      const ended = license.ownerAccountId ? (await this.deps.ledger.changeLicenses(work, [license.ownerAccountId], apply)).ended : (await apply(), []);
      const owner = await this.lifecycleRecipient(tx, license);
      await writeAudit(tx, {
        organizationId: null,
        actorId: null,
        action: 'LICENSE_REVOKED',
        target: owner.account,
        details: { by: 'SHOP', licenseId: license.licenseId, reason: input.reason, endedSeats: ended.length },
        at: now,
      });
      if (owner.email) {
        const mail = licenseRevokedMail(owner.language, owner.name, { licenseId: license.licenseId, portalUrl: this.deps.publicUrl });
        await this.deps.mailer.send(tx, { to: owner.email, ...mail, kind: 'license-revoked' });
      }
      await this.deps.webhooks.emit(
        tx,
        licenseEvent('license.revoked', license, owner.account?.userId ?? null, now, { reason: input.reason, endedSeats: ended.length }),
      );
      return license;
    });
  }

  /** Who hears of a license's renewal or revocation: its owner, in their language; before redemption, the purchaser. */
  private async lifecycleRecipient(
    tx: EntityManager,
    license: LicenseEntity,
  ): Promise<{ account: AccountEntity | null; email: string | null; name: string; language: LanguageCode }> {
    const account = license.ownerAccountId ? await tx.findOneBy(AccountEntity, { id: license.ownerAccountId }) : null;
    if (account) return { account, email: account.email, name: account.name ?? '', language: account.language };
    return { account: null, email: license.purchaserEmail, name: '', language: license.language };
  }

  /** A repeated order must be the same order; a different one under a used reference is a shop bug. */
  private async sameOrder(existing: LicenseEntity, input: ReturnType<LicenseService['validateIssue']>): Promise<LicenseEntity> {
    const same =
      existing.type === input.type &&
      existing.seats === input.seats &&
      [...existing.platforms].sort().join() === input.platforms.join() &&
      (existing.expiresAt?.getTime() ?? null) === (input.expiresAt?.getTime() ?? null) &&
      normalizeEmail(existing.purchaserEmail ?? '') === normalizeEmail(input.purchaserEmail);
    if (!same) throw new DomainError('BAD_USER_INPUT', { reason: 'ORDER_REFERENCE_REUSED', field: ['input', 'orderReference'] });
    return existing;
  }

  /** A license created straight into an account (trials, R5.1), inside the caller's transaction. */
  async createOwned(
    tx: EntityManager,
    owner: AccountEntity,
    facts: { type: LicenseTypeName; seats: number; platforms: PlatformName[]; expiresAt: Date | null; orderReference: string },
  ): Promise<LicenseEntity> {
    const now = this.now;
    const license = tx.create(LicenseEntity, {
      id: randomUUID(),
      licenseId: await this.freeLicenseId(tx),
      key: generateLicenseKey(),
      ...facts,
      purchaserEmail: owner.email,
      language: owner.language,
      ownerAccountId: owner.id,
      redeemedAt: now,
      revokedAt: null,
      revocationReason: null,
      createdAt: now,
    });
    await tx.insert(LicenseEntity, license);
    return license;
  }

  private async freeLicenseId(tx: EntityManager): Promise<string> {
    for (;;) {
      const candidate = newPublicId('L');
      if (!(await tx.getRepository(LicenseEntity).existsBy({ licenseId: candidate }))) return candidate;
    }
  }

  // ---------------------------------------------------------------- redemption

  /**
   * R2.3–R2.8: redeems a typed or pasted key into the caller's account. Rate limited per account
   * and per IP so that keys cannot be found by trying. The account row is locked first: it is the
   * pool, and the family rule must hold against concurrent redemptions into the same pool.
   */
  async redeemCode(
    session: Session,
    code: string,
    ipHash: string,
  ): Promise<{ license?: LicenseEntity; membership?: MembershipModel; alreadyRedeemedByYou: boolean }> {
    const caller = await session.assert('account:use');
    await this.deps.rateLimits.consume('redeem:account', caller.id);
    await this.deps.rateLimits.consume('redeem:ip', ipHash);
    const parsed = parseCode(code);
    const field = ['code'];
    switch (parsed.kind) {
      case 'legacy':
        throw new DomainError('LEGACY_LICENSE_KEY', { field });
      case 'typo':
        throw new DomainError('INVALID_LICENSE_KEY', { reason: 'TYPO', field });
      case 'unknown':
        throw new DomainError('INVALID_LICENSE_KEY', { reason: 'UNKNOWN', field });
      case 'invite': {
        if (!this.joinByInvite) throw new DomainError('INVALID_INVITE_CODE', { field });
        const joined = await this.joinByInvite(session, parsed.code);
        return { membership: joined.membership, alreadyRedeemedByYou: joined.already };
      }
      case 'license':
        break;
    }
    return inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      const account = await this.lockAccount(tx, { id: caller.id });
      if (!account) throw new AccessError('UNAUTHENTICATED');
      const license = await tx
        .getRepository(LicenseEntity)
        .createQueryBuilder('l')
        .setLock('for_no_key_update')
        .where('l.license_key = :key', { key: parsed.key })
        .getOne();
      if (!license) throw new DomainError('INVALID_LICENSE_KEY', { reason: 'UNKNOWN', field });
      if (license.ownerAccountId === account.id) return { license, alreadyRedeemedByYou: true };
      if (license.ownerAccountId) throw new DomainError('LICENSE_ALREADY_REDEEMED', { field });
      if (license.revokedAt) throw new DomainError('INVALID_LICENSE_KEY', { reason: 'REVOKED', field });
      await this.bind(tx, license, account, field);
      await this.deps.webhooks.emit(tx, licenseEvent('license.redeemed', license, account.userId, this.now));
      afterCommit(() => this.deps.events.poolChanged(account.id));
      return { license, alreadyRedeemedByYou: false };
    });
  }

  /**
   * The account row serializes its licensing changes (redemption, family checks). FOR NO KEY
   * UPDATE, not FOR UPDATE: it must not conflict with the key-share lock of every insert that
   * references the account (seat leases, memberships, audit entries), which deadlocked.
   */
  private async lockAccount(tx: EntityManager, where: { id: string } | { userId: string }): Promise<AccountEntity | null> {
    return tx
      .getRepository(AccountEntity)
      .createQueryBuilder('a')
      .setLock('for_no_key_update')
      .where('id' in where ? 'a.id = :v' : 'a.user_id = :v', { v: 'id' in where ? where.id : where.userId })
      .andWhere('a.deleted_at IS NULL')
      .getOne();
  }

  /** Binds a license to an account for good (R2.5), after the family check (R2.8). Caller holds the account lock. */
  private async bind(tx: EntityManager, license: LicenseEntity, account: AccountEntity, field: string[]): Promise<void> {
    const pool = await tx.getRepository(LicenseEntity).findBy({ ownerAccountId: account.id });
    if (familyConflict(pool, license, this.now)) throw new DomainError('LICENSE_TYPE_MISMATCH', { field });
    license.ownerAccountId = account.id;
    license.redeemedAt = this.now;
    await tx.update(LicenseEntity, { id: license.id, ownerAccountId: IsNull() }, { ownerAccountId: account.id, redeemedAt: license.redeemedAt });
  }

  // ---------------------------------------------------------------- reading

  /** A license the caller may see (owner, support); null otherwise, never a different answer (NOT_FOUND semantics). */
  async license(session: Session, id: string): Promise<LicenseEntity | null> {
    await session.assert('account:use');
    if (!UUID.test(id)) return null;
    const license = await this.deps.ds.getRepository(LicenseEntity).findOneBy({ id });
    if (!license) return null;
    // Someone else's license is answered as a missing one: IDs cannot be probed.
    return (await session.can('license:read', license)) ? license : null;
  }

  /** Licenses held by `accountId`, for the account itself and support; newest first. */
  async licensesOf(session: Session, accountId: string): Promise<LicenseEntity[]> {
    await session.assert('account:read', accountId);
    return this.deps.ds.getRepository(LicenseEntity).find({ where: { ownerAccountId: accountId }, order: { redeemedAt: 'DESC', id: 'ASC' } });
  }

  async byOwners(ownerIds: readonly string[]): Promise<LicenseEntity[][]> {
    const rows = await this.deps.ds
      .getRepository(LicenseEntity)
      .find({ where: { ownerAccountId: In([...ownerIds]) }, order: { redeemedAt: 'DESC', id: 'ASC' } });
    return ownerIds.map((id) => rows.filter((r) => r.ownerAccountId === id));
  }

  async byIds(ids: readonly string[]): Promise<Array<LicenseEntity | null>> {
    const rows = await this.deps.ds.getRepository(LicenseEntity).findBy({ id: In([...ids]) });
    return ids.map((id) => rows.find((r) => r.id === id) ?? null);
  }

  /** R2.7: the pool's total now and how it changes as licenses expire. */
  async seatPool(session: Session, accountId: string): Promise<{ total: number; schedule: PoolPeriod[] }> {
    await session.assert('account:read', accountId);
    const licenses = await this.licensesOf(session, accountId);
    const schedule = poolSchedule(licenses, this.now);
    return { total: schedule[0].seats, schedule };
  }

  /**
   * R2.9, R2.10, R7.1 for the account's own licenses: what the app may do. Without a usable
   * license the app may still open and view work: `canSave: false`. (Seats, organizations and
   * trials refine this when their modules land.)
   */
  async entitlement(session: Session, deviceId: string): Promise<EntitlementView> {
    const account = await session.assert('account:use');
    if (deviceId.trim().length < 1 || deviceId.length > 256) throw new DomainError('BAD_USER_INPUT', { reason: 'DEVICE_ID', field: ['deviceId'] });
    const now = this.now;
    const own = await this.deps.ds.getRepository(LicenseEntity).findBy({ ownerAccountId: account.id });
    const serving = servingLicense(own, now) ?? null;
    return {
      canUse: serving !== null,
      canSave: serving !== null,
      license: serving,
      owner: serving ? account : null,
      expiresAt: serving?.expiresAt ?? null,
      expiresSoon: expiresSoon(serving?.expiresAt, now),
      trialDaysRemaining: null,
    };
  }

  // ---------------------------------------------------------------- reminders (R2.10)

  /**
   * Emails owners 30, 7 and 1 days before a license ends, once each, in their language. Each
   * reminder is recorded (primary key license + days) in the same transaction that decides to send
   * it and queues the mail in the outbox; `delivered_at` records when the SMTP server took it. The
   * jobs runner holds an advisory lock per round.
   */
  async sendExpiryReminders(): Promise<number> {
    const now = this.now;
    const rows = await this.deps.ds.query<Array<{ id: string; license_id: string; expires_at: Date; owner_account_id: string; sent: number[] }>>(
      `SELECT l.id, l.license_id, l.expires_at, l.owner_account_id,
              COALESCE(array_agg(r.days_before) FILTER (WHERE r.days_before IS NOT NULL), '{}') AS sent
         FROM licenses l
         LEFT JOIN license_reminders r ON r.license_id = l.id
        WHERE l.owner_account_id IS NOT NULL AND l.revoked_at IS NULL
          AND l.expires_at > $1 AND l.expires_at <= $2
        GROUP BY l.id`,
      [now, new Date(now.getTime() + Math.max(...REMINDER_DAYS) * DAY)],
    );
    let sent = 0;
    for (const row of rows) {
      const days = dueReminder(row.expires_at, now, row.sent);
      if (days === undefined) continue;
      const did = await inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
        const inserted = await tx.query<Array<{ days_before: number }>>(
          `INSERT INTO license_reminders (license_id, days_before, sent_at)
           SELECT $1, d, $3 FROM unnest($2::int[]) AS d
           ON CONFLICT DO NOTHING RETURNING days_before`,
          // Thresholds passed over (issued with 5 days left) are recorded as done with the nearest.
          [row.id, REMINDER_DAYS.filter((d) => d >= days), now],
        );
        if (!inserted.some((r) => r.days_before === days)) return false;
        const owner = await tx.findOneBy(AccountEntity, { id: row.owner_account_id });
        if (!owner?.email) return false;
        const mail = licenseExpiryMail(owner.language, owner.name ?? '', {
          licenseId: row.license_id,
          expiresAt: row.expires_at,
          daysBefore: days,
          portalUrl: this.deps.publicUrl,
        });
        // Queued with the record that decides it; `delivered_at` is set once the SMTP server took it.
        await this.deps.mailer.send(tx, { to: owner.email, ...mail, kind: `license-expiry-${days}d` }, { reminder: { licenseId: row.id, daysBefore: days } });
        const license = await tx.findOneByOrFail(LicenseEntity, { id: row.id });
        await this.deps.webhooks.emit(tx, licenseEvent('license.expiring', license, owner.userId, now, { daysBefore: days }));
        return true;
      });
      if (did) sent++;
    }
    return sent;
  }
}
