import { randomUUID } from 'node:crypto';
import { DomainError } from '../../platform/errors';
import type { LicenseEntity, PlatformName } from '../licenses/entities';
import { isActive, isOfflineCapable } from '../licenses/rules';
import { pickLicense, servingCandidates } from './allocation';
import type { SeatCore } from './core';
import { isLive, type SeatLeaseEntity } from './entities';
import { lockAccounts, lockPools } from './ledger/locks';
import * as store from './ledger/store';

/**
 * R6.1, R6.4: binds a seat of the account's own permanent, non-personal license to an air-gapped
 * computer for good. The same request again (same device and nonce) answers the same seat; a
 * live owner seat on that device becomes the bound one. Locks as acquire does.
 */
export async function bindOffline(
  core: SeatCore,
  accountId: string,
  deviceId: string,
  platform: PlatformName,
  nonce: string,
): Promise<{ lease: SeatLeaseEntity; license: LicenseEntity }> {
  const deviceHash = core.checkDevice(deviceId);
  return core.deps.ledger.run(async (tx, effects) => {
    const mine = await lockAccounts(tx, core.deps.clock, [accountId]);
    const existing = await store.openLeaseOf(tx, accountId, deviceHash);
    // The device's open lease may be a member seat of another pool, which ends here.
    const locks = await lockPools(mine, core.deps.clock, existing ? [accountId, existing.poolAccountId] : [accountId]);
    const now = locks.now;
    const licenses = await store.licensesOfPool(tx, accountId);
    const current = existing ? await store.readLease(tx, existing.id) : null;
    if (current?.kind === 'OFFLINE_BOUND' && !current.endedAt) {
      const bound = licenses.find((l) => l.id === current.licenseId);
      // The same computer asks again: only for the same platform, while its license still serves.
      if (!bound || !isActive(bound, now) || current.platform !== platform || !bound.platforms.includes(platform)) {
        throw new DomainError('OFFLINE_NOT_ALLOWED', { reason: 'NOT_PERMANENT' });
      }
      if (current.offlineNonce !== nonce) {
        await store.bindLeaseOffline(locks, current, nonce);
        Object.assign(current, { offlineNonce: nonce, offlineIssuedAt: now });
      }
      return { lease: current, license: bound };
    }
    const offlineCapable = licenses.filter((l) => isActive(l, now) && isOfflineCapable(l));
    if (offlineCapable.length === 0) {
      const reason = licenses.some((l) => l.type === 'TRIAL' && isActive(l, now)) ? 'TRIAL' : 'NOT_PERMANENT';
      throw new DomainError('OFFLINE_NOT_ALLOWED', { reason });
    }
    const candidates = servingCandidates(offlineCapable, 'OFFLINE_BOUND', now);
    if (!candidates.some((l) => l.platforms.includes(platform))) throw new DomainError('PLATFORM_NOT_LICENSED');
    if (current && !current.endedAt && isLive(current, now) && current.kind === 'OWNER' && candidates.some((l) => l.id === current.licenseId)) {
      // The device's own seat becomes the bound one: it already holds its half of a seat.
      await store.bindLeaseOffline(locks, current, nonce);
      Object.assign(current, { kind: 'OFFLINE_BOUND', offlineNonce: nonce, offlineIssuedAt: now });
      effects.pool(accountId);
      return { lease: current, license: candidates.find((l) => l.id === current.licenseId)! };
    }
    if (current && !current.endedAt) effects.ended(await store.endLeases(locks, { ids: [current.id] }, 'CLOSED'));
    const { taken } = await core.snapshot(locks, accountId);
    const license = pickLicense(candidates, taken, 'OFFLINE_BOUND', platform);
    if (!license) {
      const usage = core.usageFrom(null, licenses, taken, 'OWNER', now);
      throw new DomainError('SEATS_EXHAUSTED', { params: { inUse: usage.inUse, total: usage.total } });
    }
    const lease = await store.insertLease(locks, {
      id: randomUUID(),
      accountId,
      poolAccountId: accountId,
      organizationId: null,
      licenseId: license.id,
      deviceHash,
      platform,
      kind: 'OFFLINE_BOUND',
      acquiredAt: now,
      lapsesAt: null,
      offlineNonce: nonce,
    });
    effects.pool(accountId);
    return { lease, license };
  });
}
