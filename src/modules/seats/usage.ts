import type { Session } from '../../platform/auth/session';
import { isSharable } from '../licenses/rules';
import type { OrganizationEntity } from '../organizations/entities';
import type { SeatCore, SeatUsageView } from './core';
import type { SeatLeaseEntity } from './entities';
import * as store from './ledger/store';

/**
 * Reading seats (R3.4, R4.7, R7.2, R7.3): the caller's leases, an organization's live seats and
 * its usage figures. Reads take no lock: they show a moment, and decide nothing.
 */

/** The caller's own lease (R7.3 subscribes to it); NOT_FOUND for anyone else's. */
export async function leaseOf(core: SeatCore, session: Session, leaseId: string): Promise<SeatLeaseEntity> {
  const account = session.requireVerified();
  return core.ownLease(core.deps.ds.manager, account.id, leaseId);
}

export async function leaseById(core: SeatCore, leaseId: string): Promise<SeatLeaseEntity | null> {
  return store.readLease(core.deps.ds.manager, leaseId);
}

/** The caller's live leases, newest first. */
export async function myLeases(core: SeatCore, session: Session): Promise<SeatLeaseEntity[]> {
  const account = session.requireVerified();
  return store.liveLeasesOfAccount(core.deps.ds.manager, account.id, core.now);
}

/** Live leases on an organization's shared licenses, oldest first (the caller must have been authorized for the organization). */
export async function activeLeasesOf(core: SeatCore, org: OrganizationEntity): Promise<SeatLeaseEntity[]> {
  const now = core.now;
  const manager = core.deps.ds.manager;
  const leases = await store.liveLeasesOfPool(manager, org.ownerAccountId, now);
  const licenses = await store.licensesOfPool(manager, org.ownerAccountId);
  const shared = new Set(licenses.filter((l) => isSharable(l.type)).map((l) => l.id));
  return leases.filter((l) => shared.has(l.licenseId)).sort((a, b) => a.acquiredAt.getTime() - b.acquiredAt.getTime() || a.id.localeCompare(b.id));
}

/** R4.7, R7.2: an organization's shared seats now. */
export async function usageOf(core: SeatCore, org: OrganizationEntity): Promise<SeatUsageView> {
  const now = core.now;
  const manager = core.deps.ds.manager;
  const licenses = await store.licensesOfPool(manager, org.ownerAccountId);
  const { taken } = await core.snapshotAt(manager, org.ownerAccountId, now);
  return core.usageFrom(org.id, licenses, taken, 'MEMBER', now);
}
