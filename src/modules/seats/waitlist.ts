import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { Session } from '../../platform/auth/session';
import { addMs, MINUTE, type Clock } from '../../platform/clock';
import { inTransaction } from '../../platform/db/transaction';
import { AccessError, DomainError } from '../../platform/errors';
import type { EventBus, Events } from '../../platform/events';
import type { Logger } from '../../platform/logger';
import type { Mailer } from '../../platform/mail/mailer';
import { waitlistHoldMail } from '../../platform/mail/templates';
import { AccountEntity } from '../accounts/entities';
import { LicenseEntity, type PlatformName } from '../licenses/entities';
import { MembershipEntity, OrganizationEntity } from '../organizations/entities';
import { pickLicense, servingCandidates } from './allocation';
import type { SeatService } from './service';
import { isHolding, WaitlistEntryEntity } from './waitlist-entity';

export const HOLD_MS = 10 * MINUTE; // R4.13

export const waitlistChannel = (accountId: string) => `tessera:waitlist:${accountId}`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * R4.13: a member refused with SEATS_EXHAUSTED waits in line for the organization's seats. When
 * a seat frees, the first waiter gets a 10-minute hold (counted against the seats, so nobody else
 * takes it), is told by subscription and email, and takes it by starting the app; an untaken hold
 * passes on to the next waiter.
 */
export class WaitlistService {
  constructor(
    private readonly deps: { ds: DataSource; clock: Clock; logger: Logger; mailer: Mailer; events: Events; seats: SeatService },
  ) {}

  private get now(): Date {
    return this.deps.clock.now();
  }

  get bus(): EventBus {
    return this.deps.events.bus;
  }

  async join(session: Session, input: { organizationId: string; deviceId: string; platform: PlatformName }): Promise<{ entry: WaitlistEntryEntity; position: number }> {
    const account = session.requireVerified();
    if (!UUID.test(input.organizationId)) throw new AccessError('NOT_FOUND');
    const deviceHash = this.deps.seats.deviceHash(input.deviceId);
    if (input.deviceId.trim().length < 1 || input.deviceId.length > 256) {
      throw new DomainError('BAD_USER_INPUT', { reason: 'DEVICE_ID', field: ['input', 'deviceId'] });
    }
    const entry = await inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      const membership = await tx.findOneBy(MembershipEntity, { organizationId: input.organizationId, accountId: account.id, status: 'ACTIVE' });
      if (!membership) throw new AccessError('NOT_FOUND');
      const org = await tx.findOneByOrFail(OrganizationEntity, { id: input.organizationId });
      await tx.query('SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [org.ownerAccountId]);
      const now = this.now;
      const open = await tx.findOneBy(WaitlistEntryEntity, { organizationId: org.id, accountId: account.id, status: 'WAITING' });
      const holding = await tx.findOneBy(WaitlistEntryEntity, { organizationId: org.id, accountId: account.id, status: 'HOLDING' });
      if (open || (holding && isHolding(holding, now))) throw new DomainError('ALREADY_ON_WAITLIST');
      if (holding) await tx.update(WaitlistEntryEntity, { id: holding.id }, { status: 'EXPIRED', updatedAt: now });
      if (await this.seatFreeFor(tx, org.ownerAccountId, input.platform, now)) throw new DomainError('SEAT_AVAILABLE');
      const created = tx.create(WaitlistEntryEntity, {
        id: randomUUID(),
        organizationId: org.id,
        poolAccountId: org.ownerAccountId,
        accountId: account.id,
        deviceHash,
        platform: input.platform,
        status: 'WAITING',
        licenseId: null,
        holdUntil: null,
        createdAt: now,
        updatedAt: now,
      });
      await tx.insert(WaitlistEntryEntity, created);
      return created;
    });
    return { entry, position: await this.position(entry) };
  }

  /** Whether a member seat for this platform is free now, holds counted. Caller holds the pool lock. */
  private async seatFreeFor(tx: EntityManager, poolAccountId: string, platform: PlatformName, now: Date): Promise<boolean> {
    const licenses = await tx.findBy(LicenseEntity, { ownerAccountId: poolAccountId });
    const taken = await this.deps.seats.seatsTakenInPool(tx, poolAccountId, now);
    return pickLicense(servingCandidates(licenses, 'MEMBER', now), taken, 'MEMBER', platform) !== undefined;
  }

  async leave(session: Session, organizationId: string): Promise<void> {
    const account = session.requireVerified();
    if (!UUID.test(organizationId)) throw new AccessError('NOT_FOUND');
    const result = await this.deps.ds.query(
      `UPDATE waitlist_entries SET status = 'CANCELLED', updated_at = $3 WHERE organization_id = $1 AND account_id = $2 AND status IN ('WAITING', 'HOLDING') RETURNING pool_account_id`,
      [organizationId, account.id, this.now],
    );
    const rows = (Array.isArray(result[0]) ? result[0] : result) as Array<{ pool_account_id: string }>;
    if (rows.length === 0) throw new AccessError('NOT_FOUND');
    // A cancelled hold frees its seat for the next waiter.
    void this.promote(rows[0].pool_account_id);
  }

  /** 1-based place among those still waiting (0 while holding a seat; null when over). */
  async position(entry: WaitlistEntryEntity): Promise<number> {
    if (entry.status === 'HOLDING') return 0;
    const [row] = (await this.deps.ds.query(
      `SELECT count(*)::int AS n FROM waitlist_entries
        WHERE pool_account_id = $1 AND status = 'WAITING' AND (created_at, id) <= ($2, $3)`,
      [entry.poolAccountId, entry.createdAt, entry.id],
    )) as Array<{ n: number }>;
    return row.n;
  }

  async entriesOf(session: Session): Promise<WaitlistEntryEntity[]> {
    const account = session.requireVerified();
    return this.deps.ds.getRepository(WaitlistEntryEntity).find({ where: { accountId: account.id }, order: { createdAt: 'DESC' }, take: 20 });
  }

  async entryFor(accountId: string, organizationId: string): Promise<WaitlistEntryEntity | null> {
    return this.deps.ds.getRepository(WaitlistEntryEntity).findOne({ where: { accountId, organizationId }, order: { createdAt: 'DESC' } });
  }

  /**
   * Gives free seats of a pool to its first waiters, after expiring holds that were not taken.
   * Under the pool lock; mails and events go out after commit.
   */
  async promote(poolAccountId: string): Promise<number> {
    try {
      const [line] = (await this.deps.ds.query(
        `SELECT 1 FROM waitlist_entries WHERE pool_account_id = $1 AND status IN ('WAITING', 'HOLDING') LIMIT 1`,
        [poolAccountId],
      )) as unknown[];
      if (!line) return 0; // nobody waits: nothing to lock
      return await inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
        await tx.query('SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [poolAccountId]);
        const now = this.now;
        const expired = (await tx.query(
          `UPDATE waitlist_entries SET status = 'EXPIRED', updated_at = $2
            WHERE pool_account_id = $1 AND status = 'HOLDING' AND hold_until <= $2 RETURNING account_id`,
          [poolAccountId, now],
        )) as unknown;
        const expiredRows = (Array.isArray((expired as unknown[])[0]) ? (expired as unknown[][])[0] : expired) as Array<{ account_id: string }>;
        // Only waiters who are still active members get a turn (R3.4).
        const waiting = await tx
          .getRepository(WaitlistEntryEntity)
          .createQueryBuilder('w')
          .innerJoin(MembershipEntity, 'm', "m.organization_id = w.organization_id AND m.account_id = w.account_id AND m.status = 'ACTIVE'")
          .where("w.pool_account_id = :pool AND w.status = 'WAITING'", { pool: poolAccountId })
          .orderBy('w.created_at', 'ASC')
          .addOrderBy('w.id', 'ASC')
          .getMany();
        const licenses = await tx.findBy(LicenseEntity, { ownerAccountId: poolAccountId });
        const taken = await this.deps.seats.seatsTakenInPool(tx, poolAccountId, now);
        const promoted: WaitlistEntryEntity[] = [];
        for (const entry of waiting) {
          // First come, first served: the first waiter who cannot be served stops the line.
          const license = pickLicense(servingCandidates(licenses, 'MEMBER', now), taken, 'MEMBER', entry.platform);
          if (!license) break;
          entry.status = 'HOLDING';
          entry.licenseId = license.id;
          entry.holdUntil = addMs(now, HOLD_MS);
          entry.updatedAt = now;
          await tx.update(WaitlistEntryEntity, { id: entry.id }, { status: 'HOLDING', licenseId: license.id, holdUntil: entry.holdUntil, updatedAt: now });
          taken.set(license.id, [...(taken.get(license.id) ?? []), { kind: 'MEMBER' }]);
          promoted.push(entry);
        }
        afterCommit(() => {
          for (const r of expiredRows) this.deps.events.bus.publish(waitlistChannel(r.account_id), 'changed');
          for (const e of promoted) this.tellHolder(e);
          if (promoted.length > 0 || expiredRows.length > 0) this.deps.events.poolChanged(poolAccountId);
        });
        return promoted.length;
      });
    } catch (err) {
      this.deps.logger.error({ err }, 'wait-list promotion failed');
      return 0;
    }
  }

  /** The periodic round: pools whose line may move (holds ran out, seats freed by time). */
  async promoteAll(): Promise<number> {
    const pools = (await this.deps.ds.query(`SELECT DISTINCT pool_account_id FROM waitlist_entries WHERE status IN ('WAITING', 'HOLDING')`)) as Array<{
      pool_account_id: string;
    }>;
    let n = 0;
    for (const p of pools) n += await this.promote(p.pool_account_id);
    return n;
  }

  /** Marks the holder's entry fulfilled once it took a seat (inside the acquire's transaction). */
  async fulfil(tx: EntityManager, accountId: string, organizationId: string, now: Date): Promise<void> {
    await tx.query(
      `UPDATE waitlist_entries SET status = 'FULFILLED', updated_at = $3 WHERE organization_id = $1 AND account_id = $2 AND status IN ('WAITING', 'HOLDING')`,
      [organizationId, accountId, now],
    );
  }

  private tellHolder(entry: WaitlistEntryEntity): void {
    this.deps.events.bus.publish(waitlistChannel(entry.accountId), 'changed');
    void (async () => {
      const account = await this.deps.ds.getRepository(AccountEntity).findOneBy({ id: entry.accountId });
      const org = await this.deps.ds.getRepository(OrganizationEntity).findOneBy({ id: entry.organizationId });
      if (!account?.email || !org || !entry.holdUntil) return;
      const mail = waitlistHoldMail(account.language, account.name ?? '', { organization: org.name, until: entry.holdUntil });
      this.deps.mailer.send({ to: account.email, ...mail, kind: 'waitlist-hold' });
    })().catch((err: unknown) => this.deps.logger.error({ err }, 'wait-list mail failed'));
  }
}
