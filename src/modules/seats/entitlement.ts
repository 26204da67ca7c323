import type DataLoader from 'dataloader';
import { AccountEntity } from '../accounts/entities';
import type { LicenseEntity } from '../licenses/entities';
import { expiresSoon, isActive } from '../licenses/rules';
import type { EntitlementView } from '../licenses/service';
import type { EntitlementSubject } from '../entitlements/claims';
import { servingCandidates } from './allocation';
import type { Caller, SeatCore } from './core';
import { isLive, type SeatLeaseEntity } from './entities';
import * as store from './ledger/store';

/**
 * R2.9, R2.10, R7.1: what the app on a device may do. A live lease on the device answers with its
 * license and that license's owner ("you are using the organization's license"); otherwise the
 * account's own licenses, then its organizations' shared licenses, say what it could use.
 */

/** The per-request loaders a lease's entitlement is read through (a page of leases costs a fixed number of statements). */
export interface EntitlementLoaders {
  licenseById: DataLoader<string, LicenseEntity | null>;
  accountById: DataLoader<string, AccountEntity | null>;
  trialDaysByLicense: DataLoader<string, number | null>;
}

export async function entitlement(core: SeatCore, caller: Caller, deviceId: string, loaders: EntitlementLoaders): Promise<EntitlementView> {
  const { account, session } = caller;
  const now = core.now;
  const manager = core.deps.ds.manager;
  const lease = await store.openLeaseOf(manager, account.id, core.checkDevice(deviceId));
  const live = lease && isLive(lease, now) ? lease : null;
  // R7.5: `licenseStatus` speaks of this device (and of the live lease serving it, which bounds its expiry).
  const subject: EntitlementSubject = { deviceId, lease: live, ofLease: false };
  if (live) return { ...(await entitlementOfLease(core, live, loaders)), subject };
  const own = await core.deps.licenses.entitlement(session, deviceId);
  if (own.canUse) return { ...(own.license ? await viewOf(own.license, own.owner, now, loaders) : own), subject };
  const { sources } = await core.sourcesOf(manager, account.id, null);
  for (const source of sources.filter((s) => s.kind === 'MEMBER')) {
    const serving = servingCandidates(await store.licensesOfPool(manager, source.poolAccountId), 'MEMBER', now)[0];
    if (serving) return { ...(await viewOf(serving, await loaders.accountById.load(source.poolAccountId), now, loaders)), subject };
  }
  return { ...own, subject };
}

export async function entitlementOfLease(core: SeatCore, lease: SeatLeaseEntity, loaders: EntitlementLoaders): Promise<EntitlementView> {
  const now = core.now;
  const [license, owner] = await Promise.all([loaders.licenseById.load(lease.licenseId), loaders.accountById.load(lease.poolAccountId)]);
  // R7.5: a lease's entitlement speaks of the lease (and, through it, of its holder and device).
  const subject: EntitlementSubject = { deviceId: null, lease, ofLease: true };
  if (!license || !isLive(lease, now) || !isActive(license, now)) {
    return { canUse: false, canSave: false, license, owner, expiresAt: license?.expiresAt ?? null, expiresSoon: false, trialDaysRemaining: null, subject };
  }
  return { ...(await viewOf(license, owner, now, loaders)), subject };
}

async function viewOf(license: LicenseEntity, owner: AccountEntity | null, now: Date, loaders: EntitlementLoaders): Promise<EntitlementView> {
  return {
    canUse: true,
    canSave: true,
    license,
    owner,
    expiresAt: license.expiresAt,
    expiresSoon: expiresSoon(license.expiresAt, now),
    trialDaysRemaining: license.type === 'TRIAL' ? await loaders.trialDaysByLicense.load(license.id) : null,
  };
}
