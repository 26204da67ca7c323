import { DomainError } from '../../platform/errors';
import type { Session } from '../../platform/auth/session';
import type { LicenseEntity, PlatformName } from '../licenses/entities';
import type { EntitlementView } from '../licenses/service';
import type { Loaders } from '../../platform/context';
import type { OrganizationView } from '../organizations/service';
import { summaryView, type OrganizationSummaryView } from '../organizations/service';
import { summaryOf, type AccountSummaryModel } from '../accounts/summary';
import { acquireSeat, type Acquired, type AcquireInput, type WaitlistFulfil } from './acquire';
import { SeatCore, type SeatDeps, type SeatUsageView } from './core';
import { entitlement, entitlementOfLease, type EntitlementLoaders } from './entitlement';
import type { SeatLeaseEntity } from './entities';
import { heartbeat, release, reserveOffline } from './lifecycle';
import { bindOffline } from './offline-binding';
import { leasesInUseByKind, licensesOverCapacity } from './ledger/store';
import { sweepLapsed, type SweepResult } from './sweeper';
import { activeLeasesOf, leaseById, leaseOf, leasesOfAccount, myLeases, usageOf } from './usage';

export type { SeatDeps as SeatServiceDeps, SeatUsageView } from './core';

/**
 * The seat module's entry for resolvers and other modules. Each use case lives in its own file,
 * named by rule: acquire.ts (R4.1–R4.8), lifecycle.ts (heartbeat, release, reservation),
 * usage.ts (figures and lists), entitlement.ts (R7.1), offline-binding.ts (R6), sweeper.ts; all
 * seat SQL and locks are in ledger/.
 */
export class SeatService {
  /** Shared with the wait-list, which decides under the same locks with the same figures. */
  readonly core: SeatCore;
  private waitlist: WaitlistFulfil = { fulfil: async () => undefined };

  constructor(deps: SeatDeps) {
    this.core = new SeatCore(deps);
  }

  /** R4.3: how often the app beats; told with every lease (to whoever holds one). */
  async heartbeatIntervalSeconds(session: Session): Promise<number> {
    await session.assert('account:use');
    return this.core.deps.heartbeatIntervalSeconds;
  }

  deviceHash(deviceId: string): string {
    return this.core.deviceHash(deviceId);
  }

  /** The wait-list (R4.13) learns here when a holder took its seat. */
  useWaitlist(waitlist: WaitlistFulfil): void {
    this.waitlist = waitlist;
  }

  /** Told of every acquire refused for a domain reason (metrics: `tessera_seat_refusals_total{code}`). */
  onAcquireRefused: (code: string) => void = () => undefined;

  async acquire(session: Session, input: AcquireInput): Promise<Acquired> {
    const account = await session.assert('account:use');
    try {
      return await acquireSeat(this.core, { session, account }, input, this.waitlist);
    } catch (err) {
      if (err instanceof DomainError) this.onAcquireRefused(err.code);
      throw err;
    }
  }

  /** Live leases now, by kind (the `tessera_seats_in_use` gauge, read at scrape). */
  async leasesInUse(): Promise<Array<{ kind: string; n: number }>> {
    return leasesInUseByKind(this.core.deps.ds.manager, this.core.now);
  }

  async heartbeat(session: Session, leaseId: string): Promise<SeatLeaseEntity> {
    const account = await session.assert('account:use');
    return heartbeat(this.core, { session, account }, leaseId);
  }

  async release(session: Session, leaseId: string, logout: boolean): Promise<SeatLeaseEntity> {
    const account = await session.assert('account:use');
    return release(this.core, { session, account }, leaseId, logout);
  }

  async reserveOffline(session: Session, leaseId: string, days: number): Promise<SeatLeaseEntity> {
    const account = await session.assert('account:use');
    return reserveOffline(this.core, { session, account }, leaseId, days);
  }

  async leaseOf(session: Session, leaseId: string): Promise<SeatLeaseEntity> {
    const account = await session.assert('account:use');
    return leaseOf(this.core, { session, account }, leaseId);
  }

  leaseById(leaseId: string): Promise<SeatLeaseEntity | null> {
    return leaseById(this.core, leaseId);
  }

  /** An account's live seats, newest first (the account itself and support: R8.4's "last seen"). */
  async leasesOf(session: Session, accountId: string): Promise<SeatLeaseEntity[]> {
    await session.assert('account:read', accountId);
    return leasesOfAccount(this.core, accountId);
  }

  async myLeases(session: Session): Promise<SeatLeaseEntity[]> {
    const account = await session.assert('account:use');
    return myLeases(this.core, { session, account });
  }

  /** R3.4: the organization's live seats, for its administrators and support. */
  async activeLeasesOf(session: Session, org: OrganizationView): Promise<SeatLeaseEntity[]> {
    await session.assert('organization:read', org.id);
    return activeLeasesOf(this.core, org);
  }

  /** R4.7, R7.2: the organization's seat figures, for its administrators and support. */
  async usageOf(session: Session, org: OrganizationView): Promise<SeatUsageView> {
    await session.assert('organization:read', org.id);
    return usageOf(this.core, org);
  }

  /** The same figures for a live subscription, whose listener was allowed when it subscribed and is re-checked since. */
  usageForListener(org: OrganizationView): Promise<SeatUsageView> {
    return usageOf(this.core, org);
  }

  /** The organization a lease's seat comes from, as its holder (or the administrator who listed it) sees it. */
  async leaseOrganization(session: Session, lease: SeatLeaseEntity, loaders: Pick<Loaders, 'organizationById'>): Promise<OrganizationSummaryView | null> {
    await session.assert('account:use');
    const org = lease.organizationId ? await loaders.organizationById.load(lease.organizationId) : null;
    return org ? summaryView(org) : null;
  }

  /** Who holds a lease; the address shows to that account itself and support. */
  async leaseHolder(session: Session, lease: SeatLeaseEntity, loaders: Pick<Loaders, 'accountById'>): Promise<AccountSummaryModel | null> {
    await session.assert('account:use');
    const account = lease.accountId ? await loaders.accountById.load(lease.accountId) : null;
    return account ? summaryOf(account, await session.can('account:read', account.id)) : null;
  }

  /** R3.4: whether each member holds a live seat of its organization now (a loader's batch: one statement). */
  usingSeats(memberships: ReadonlyArray<{ organizationId: string; accountId: string }>): Promise<boolean[]> {
    return this.core.deps.ledger.membersUsingSeats(memberships);
  }

  async entitlement(session: Session, deviceId: string, loaders: EntitlementLoaders): Promise<EntitlementView> {
    const account = await session.assert('account:use');
    return entitlement(this.core, { session, account }, deviceId, loaders);
  }

  /** A lease's entitlement (the lease was handed to its holder, or listed to an administrator). */
  async entitlementOfLease(session: Session, lease: SeatLeaseEntity, loaders: EntitlementLoaders): Promise<EntitlementView> {
    await session.assert('account:use');
    return entitlementOfLease(this.core, lease, loaders);
  }

  bindOffline(accountId: string, deviceId: string, platform: PlatformName, nonce: string): Promise<{ lease: SeatLeaseEntity; license: LicenseEntity }> {
    return bindOffline(this.core, accountId, deviceId, platform, nonce);
  }

  /**
   * R4.8 now, for the `tessera_licenses_over_capacity` gauge: read from the database when scraped,
   * so that every instance answers the same figure whichever one ran the last sweep.
   */
  licensesOverCapacity(): Promise<number> {
    return licensesOverCapacity(this.core.deps.ds.manager, this.core.now);
  }

  /** The periodic sweep (R4.3), which also logs an error whenever R4.8 does not hold. */
  async sweepLapsed(): Promise<number> {
    const result: SweepResult = await sweepLapsed(this.core);
    if (result.licensesOverCapacity > 0) this.core.deps.logger.error({ licenses: result.licensesOverCapacity }, 'R4.8: licenses over their capacity');
    return result.ended;
  }
}
