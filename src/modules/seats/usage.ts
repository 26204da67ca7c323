import { isSharable } from '../licenses/rules';
import type { OrganizationEntity } from '../organizations/entities';
import type { Caller, SeatCore, SeatUsageView } from './core';
import type { SeatLeaseEntity } from './entities';
import * as store from './ledger/store';

/**
 * Reading seats (R3.4, R4.7, R7.2, R7.3): the caller's leases, an organization's live seats and
 * its usage figures. Reads take no lock: they show a moment, and decide nothing.
 */

/** The caller's own lease (R7.3 subscribes to it); NOT_FOUND for anyone else's. */
export async function leaseOf(core: SeatCore, caller: Caller, leaseId: string): Promise<SeatLeaseEntity> {
  return core.ownLease(core.deps.ds.manager, caller, leaseId);
}

export async function leaseById(core: SeatCore, leaseId: string): Promise<SeatLeaseEntity | null> {
  return store.readLease(core.deps.ds.manager, leaseId);
}

/** The caller's live leases, newest first. */
export async function myLeases(core: SeatCore, caller: Caller): Promise<SeatLeaseEntity[]> {
  return leasesOfAccount(core, caller.account.id);
}

/** An account's live leases, newest first (SeatService asks for `account:read` first). */
export async function leasesOfAccount(core: SeatCore, accountId: string): Promise<SeatLeaseEntity[]> {
  return store.liveLeasesOfAccount(core.deps.ds.manager, accountId, core.now);
}

/** Live leases on an organization's shared licenses, oldest first (SeatService asks for `organization:read` first). */
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
