import { DomainError } from '../../platform/errors';
import type { Session } from '../../platform/auth/session';
import type { LicenseEntity, PlatformName } from '../licenses/entities';
import type { EntitlementView } from '../licenses/service';
import type { OrganizationEntity } from '../organizations/entities';
import { acquireSeat, type Acquired, type AcquireInput, type WaitlistFulfil } from './acquire';
import { SeatCore, type SeatDeps, type SeatUsageView } from './core';
import { entitlement, entitlementOfLease, type EntitlementLoaders } from './entitlement';
import type { SeatLeaseEntity } from './entities';
import { heartbeat, release, reserveOffline } from './lifecycle';
import { bindOffline } from './offline-binding';
import { leasesInUseByKind, licensesOverCapacity } from './ledger/store';
import { sweepLapsed, type SweepResult } from './sweeper';
import { activeLeasesOf, leaseById, leaseOf, myLeases, usageOf } from './usage';

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

  get heartbeatIntervalSeconds(): number {
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
    try {
      return await acquireSeat(this.core, session, input, this.waitlist);
    } catch (err) {
      if (err instanceof DomainError) this.onAcquireRefused(err.code);
      throw err;
    }
  }

  /** Live leases now, by kind (the `tessera_seats_in_use` gauge, read at scrape). */
  async leasesInUse(): Promise<Array<{ kind: string; n: number }>> {
    return leasesInUseByKind(this.core.deps.ds.manager, this.core.now);
  }

  heartbeat(session: Session, leaseId: string): Promise<SeatLeaseEntity> {
    return heartbeat(this.core, session, leaseId);
  }

  release(session: Session, leaseId: string, logout: boolean): Promise<SeatLeaseEntity> {
    return release(this.core, session, leaseId, logout);
  }

  reserveOffline(session: Session, leaseId: string, days: number): Promise<SeatLeaseEntity> {
    return reserveOffline(this.core, session, leaseId, days);
  }

  leaseOf(session: Session, leaseId: string): Promise<SeatLeaseEntity> {
    return leaseOf(this.core, session, leaseId);
  }

  leaseById(leaseId: string): Promise<SeatLeaseEntity | null> {
    return leaseById(this.core, leaseId);
  }

  myLeases(session: Session): Promise<SeatLeaseEntity[]> {
    return myLeases(this.core, session);
  }

  activeLeasesOf(org: OrganizationEntity): Promise<SeatLeaseEntity[]> {
    return activeLeasesOf(this.core, org);
  }

  usageOf(org: OrganizationEntity): Promise<SeatUsageView> {
    return usageOf(this.core, org);
  }

  /** R3.4: whether each member holds a live seat of its organization now (a loader's batch: one statement). */
  usingSeats(memberships: ReadonlyArray<{ organizationId: string; accountId: string }>): Promise<boolean[]> {
    return this.core.deps.ledger.membersUsingSeats(memberships);
  }

  entitlement(session: Session, deviceId: string, loaders: EntitlementLoaders): Promise<EntitlementView> {
    return entitlement(this.core, session, deviceId, loaders);
  }

  /** A lease's entitlement, for its holder (the lease was reached through an authorized parent). */
  entitlementOfLease(lease: SeatLeaseEntity, loaders: EntitlementLoaders): Promise<EntitlementView> {
    return entitlementOfLease(this.core, lease, loaders);
  }

  bindOffline(accountId: string, deviceId: string, platform: PlatformName, nonce: string): Promise<{ lease: SeatLeaseEntity; license: LicenseEntity }> {
    return bindOffline(this.core, accountId, deviceId, platform, nonce);
  }

  /**
   * R8: support frees the seats an account holds on a license, offline-bound ones too (the
   * broken-computer case). Returns how many ended. Not reachable from the API yet: the support
   * desk's service will check the role before calling it.
   */
  async supportRelease(accountId: string, licenseId: string): Promise<number> {
    const ledger = this.core.deps.ledger;
    const ended = await ledger.transaction((work) => ledger.endAccountSeats(work, accountId, 'SUPPORT', { includeOfflineBound: true, licenseId }));
    return ended.length;
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
