import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Tx } from '../../platform/db/data-source';
import type { Session } from '../../platform/auth/session';
import { addMs, MINUTE, type Clock } from '../../platform/clock';
import { AccessError, DomainError } from '../../platform/errors';
import type { EventBus, Events } from '../../platform/events';
import type { Logger } from '../../platform/logger';
import type { Mailer } from '../../platform/mail/mailer';
import { waitlistHoldMail } from '../../platform/mail/templates';
import { AccountEntity } from '../accounts/entities';
import type { PlatformName } from '../licenses/entities';
import { OrganizationEntity } from '../organizations/entities';
import { summaryView, type OrganizationSummaryView } from '../organizations/service';
import type { Loaders } from '../../platform/context';
import { pickLicense, servingCandidates } from './allocation';
import type { SeatCore } from './core';
import type { SeatLedger } from './ledger';
import { lockAccounts, lockPools, type PoolLocks } from './ledger/locks';
import * as store from './ledger/store';
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
    private readonly deps: { ds: DataSource; clock: Clock; logger: Logger; mailer: Mailer; events: Events; seats: { core: SeatCore }; ledger: SeatLedger },
  ) {}

  private get now(): Date {
    return this.deps.clock.now();
  }

  private get core(): SeatCore {
    return this.deps.seats.core;
  }

  get bus(): EventBus {
    return this.deps.events.bus;
  }

  async join(
    session: Session,
    input: { organizationId: string; deviceId: string; platform: PlatformName },
  ): Promise<{ entry: WaitlistEntryEntity; position: number }> {
    const { caller: account } = await session.assert('organization:member', input.organizationId);
    const deviceHash = this.core.deviceHash(input.deviceId);
    if (input.deviceId.trim().length < 1 || input.deviceId.length > 256) {
      throw new DomainError('BAD_USER_INPUT', { reason: 'DEVICE_ID', field: ['input', 'deviceId'] });
    }
    const entry = await this.deps.ledger.run(async (tx) => {
      const mine = await lockAccounts(tx, this.deps.clock, [account.id]);
      // Read again under the account's lock: a block or a removal may have come meanwhile.
      const { membership } = await session.assert('organization:member', input.organizationId, tx);
      if (membership.status !== 'ACTIVE') throw new DomainError('MEMBERSHIP_BLOCKED', { field: ['input', 'organizationId'] });
      const org = await tx.findOneByOrFail(OrganizationEntity, { id: input.organizationId });
      const locks = await lockPools(mine, this.deps.clock, [org.ownerAccountId]);
      const now = locks.now;
      const open = await store.openEntryOf(tx, org.id, account.id);
      if (open && (open.status === 'WAITING' || isHolding(open, now))) throw new DomainError('ALREADY_ON_WAITLIST');
      if (open) await store.closeWaitlistEntries(locks, { organizationId: org.id, accountId: account.id }, 'EXPIRED');
      if (await this.seatFreeFor(locks, org.ownerAccountId, input.platform)) throw new DomainError('SEAT_AVAILABLE');
      return store.insertWaitlistEntry(locks, {
        id: randomUUID(),
        organizationId: org.id,
        poolAccountId: org.ownerAccountId,
        accountId: account.id,
        deviceHash,
        platform: input.platform,
      });
    });
    // A seat may have been freed (a release needs no pool lock) just as this entry went in, and
    // that release's own promotion may have looked before it committed: look again now.
    void this.promote(entry.poolAccountId);
    return { entry, position: entry.status === 'HOLDING' ? 0 : await store.waitingPosition(this.deps.ds.manager, entry) };
  }

  /** Whether a member seat for this platform is free now, holds counted. */
  private async seatFreeFor(locks: PoolLocks, poolAccountId: string, platform: PlatformName): Promise<boolean> {
    const licenses = await store.licensesOfPool(locks.tx, poolAccountId);
    const { taken } = await this.core.snapshot(locks, poolAccountId);
    return pickLicense(servingCandidates(licenses, 'MEMBER', locks.now), taken, 'MEMBER', platform) !== undefined;
  }

  async leave(session: Session, organizationId: string): Promise<void> {
    const account = await session.assert('account:use');
    if (!UUID.test(organizationId)) throw new AccessError('NOT_FOUND');
    const left = await this.deps.ledger.run(async (tx) => {
      const entry = await store.openEntryOf(tx, organizationId, account.id);
      if (!entry) return null;
      const locks = await lockPools(tx, this.deps.clock, [entry.poolAccountId]);
      return (await store.closeWaitlistEntries(locks, { organizationId, accountId: account.id }, 'CANCELLED')) > 0 ? entry.poolAccountId : null;
    });
    if (!left) throw new AccessError('NOT_FOUND');
    // A cancelled hold frees its seat for the next waiter.
    void this.promote(left);
  }

  /** The organization an entry waits in, as a summary: for the entry's own account (and support). */
  async entryOrganization(session: Session, entry: WaitlistEntryEntity, loaders: Pick<Loaders, 'organizationById'>): Promise<OrganizationSummaryView> {
    await session.assert('account:read', entry.accountId);
    return summaryView((await loaders.organizationById.load(entry.organizationId))!);
  }

  /** 1-based place among those still waiting (0 while holding a seat; null when over). */
  async position(session: Session, entry: WaitlistEntryEntity): Promise<number> {
    await session.assert('account:use');
    if (entry.status === 'HOLDING') return 0;
    return store.waitingPosition(this.deps.ds.manager, entry);
  }

  async entriesOf(session: Session): Promise<WaitlistEntryEntity[]> {
    const account = await session.assert('account:use');
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
      if (!(await store.hasOpenLine(this.deps.ds.manager, poolAccountId))) return 0; // nobody waits: nothing to lock
      return await this.deps.ledger.transaction(async ({ tx, afterCommit }) => {
        const locks = await lockPools(tx, this.deps.clock, [poolAccountId]);
        const now = locks.now;
        const expiredRows = (await store.expireHolds(locks, poolAccountId)).map((accountId) => ({ account_id: accountId }));
        const waiting = await store.activeWaiters(tx, poolAccountId);
        const licenses = await store.licensesOfPool(tx, poolAccountId);
        const { taken } = await this.core.snapshot(locks, poolAccountId);
        const promoted: WaitlistEntryEntity[] = [];
        for (const entry of waiting) {
          // First come, first served: the first waiter who cannot be served stops the line.
          const license = pickLicense(servingCandidates(licenses, 'MEMBER', now), taken, 'MEMBER', entry.platform);
          if (!license) break;
          const holdUntil = addMs(now, HOLD_MS);
          await store.holdSeatFor(locks, entry, license.id, holdUntil);
          Object.assign(entry, { status: 'HOLDING', licenseId: license.id, holdUntil, updatedAt: now });
          taken.set(license.id, [...(taken.get(license.id) ?? []), { kind: 'MEMBER' }]);
          promoted.push(entry);
        }
        for (const e of promoted) await this.mailHolder(tx, e);
        afterCommit(() => {
          for (const r of expiredRows) this.deps.events.bus.publish(waitlistChannel(r.account_id), 'changed');
          for (const e of promoted) this.deps.events.bus.publish(waitlistChannel(e.accountId), 'changed');
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
    const pools = await store.poolsWithOpenLines(this.deps.ds.manager);
    let n = 0;
    for (const pool of pools) n += await this.promote(pool);
    return n;
  }

  /** Marks the holder's entry fulfilled once it took a seat (inside the acquire's transaction, under its locks). */
  async fulfil(locks: PoolLocks, accountId: string, organizationId: string): Promise<void> {
    await store.closeWaitlistEntries(locks, { organizationId, accountId }, 'FULFILLED');
  }

  /** Queues the holder's "a seat is held for you" mail in the promoting transaction. */
  private async mailHolder(tx: Tx, entry: WaitlistEntryEntity): Promise<void> {
    const account = await tx.findOneBy(AccountEntity, { id: entry.accountId });
    const org = await tx.findOneBy(OrganizationEntity, { id: entry.organizationId });
    if (!account?.email || !org || !entry.holdUntil) return;
    const mail = waitlistHoldMail(account.language, account.name ?? '', { organization: org.name, until: entry.holdUntil });
    await this.deps.mailer.send(tx, { to: account.email, ...mail, kind: 'waitlist-hold' });
  }
}
