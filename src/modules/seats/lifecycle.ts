import { addMs, DAY, SECOND } from '../../platform/clock';
import { DomainError } from '../../platform/errors';
import { OrganizationEntity } from '../organizations/entities';
import type { Caller, SeatCore } from './core';
import { isLive, type SeatLeaseEntity } from './entities';
import { lockAccounts } from './ledger/locks';
import * as store from './ledger/store';

/**
 * A lease's life after acquire: heartbeats (R4.3, R4.10, R5.3), release (R4.3, R4.4, R4.6,
 * R4.9) and offline reservation (R4.9). An ended lease answers LEASE_ENDED with the reason, so
 * that the app warns the user to save.
 */

/**
 * A heartbeat extends a lease without the pool lock only while the lease lies this far from
 * lapsing: an acquire that counted it as lapsed would need a clock this far ahead.
 */
export const LOCK_FREE_MARGIN_MS = 5 * 60 * SECOND;

function endedError(lease: SeatLeaseEntity): DomainError {
  return new DomainError('LEASE_ENDED', { reason: lease.endReason!, payload: { lease } });
}

/**
 * R4.3: extends a member lease; R4.10: when the pool has shrunk below its live leases, the leases
 * beyond capacity end now, newest member sessions first.
 */
export async function heartbeat(core: SeatCore, caller: Caller, leaseId: string): Promise<SeatLeaseEntity> {
  const { account } = caller;
  core.checkLeaseId(leaseId);
  const now = core.now;
  const fast = await store.extendLeaseLockFree(core.deps.ds.manager, {
    leaseId,
    accountId: account.id,
    now,
    lapsesAt: core.lapseFrom(now, null),
    safeUntil: addMs(now, LOCK_FREE_MARGIN_MS),
  });
  if (fast) return fast;
  const outcome = await core.deps.ledger.run(async (tx, effects) => {
    const { locks, lease } = await core.lockedOwnLease(tx, caller, leaseId);
    const now = locks.now;
    if (!lease.endedAt && !isLive(lease, now)) effects.ended(await store.endLeases(locks, { ids: [lease.id] }, 'TIMED_OUT'));
    else if (!lease.endedAt) {
      await core.reconcileIfOver(locks, lease, effects);
      const still = (await store.readLease(tx, lease.id))!;
      // R5.3: a heartbeat after the trial's window has closed uses the next active day.
      if (!still.endedAt && (await core.trialDay(tx, still.licenseId, now)) === 'OVER') {
        effects.ended(await store.endLeases(locks, { ids: [still.id] }, 'LICENSE_ENDED'));
      }
    }
    const current = (await store.readLease(tx, lease.id))!;
    if (!current.endedAt) {
      const lapsesAt = current.kind === 'MEMBER' ? core.lapseFrom(now, current.reservedUntil) : null;
      await store.touchLease(locks, current, lapsesAt);
      current.lastHeartbeatAt = now;
      current.lapsesAt = lapsesAt;
    }
    return current;
  });
  if (outcome.endedAt) throw endedError(outcome);
  return outcome;
}

/**
 * R4.3, R4.4, R4.6, R4.9: the app closes. A member's seat is freed unless reserved for offline
 * use; an owner's desktop seat is kept so that the owner can work offline; a `CLOUD` seat always
 * ends (Cloud cannot work offline). `logout: true` ends any of them.
 */
export async function release(core: SeatCore, caller: Caller, leaseId: string, logout: boolean): Promise<SeatLeaseEntity> {
  const { account } = caller;
  return core.deps.ledger.run(async (tx, effects) => {
    const found = await core.ownLease(tx, caller, leaseId);
    if (found.endedAt) return found;
    if (found.kind === 'OFFLINE_BOUND') throw new DomainError('OFFLINE_BOUND_SEAT');
    // Releasing only frees a seat: the account's lock suffices (the pool's acquires go on).
    const locks = await lockAccounts(tx, core.deps.clock, [account.id]);
    const now = locks.now;
    const lease = (await store.readLease(tx, found.id))!;
    if (lease.endedAt) return lease;
    if (lease.kind === 'OFFLINE_BOUND') throw new DomainError('OFFLINE_BOUND_SEAT'); // bound meanwhile
    const reserved = lease.reservedUntil !== null && lease.reservedUntil > now;
    let reason: 'TIMED_OUT' | 'LOGGED_OUT' | 'CLOSED' | undefined;
    if (!isLive(lease, now)) reason = 'TIMED_OUT';
    else if (logout) reason = 'LOGGED_OUT';
    else if (lease.platform === 'CLOUD' || (lease.kind === 'MEMBER' && !reserved)) reason = 'CLOSED';
    if (!reason) return lease; // an owner's desktop seat, or a reserved member seat, is kept
    const ended = await store.endLeases(locks, { ids: [lease.id] }, reason);
    effects.released(ended);
    return ended[0]?.lease ?? lease;
  });
}

/** R4.9: a member keeps this device's seat for 1 to the organization's limit of days. */
export async function reserveOffline(core: SeatCore, caller: Caller, leaseId: string, days: number): Promise<SeatLeaseEntity> {
  const outcome = await core.deps.ledger.run(async (tx, effects) => {
    const { locks, lease } = await core.lockedOwnLease(tx, caller, leaseId);
    const now = locks.now;
    if (!isLive(lease, now)) {
      if (!lease.endedAt) effects.ended(await store.endLeases(locks, { ids: [lease.id] }, 'TIMED_OUT'));
      return (await store.readLease(tx, lease.id))!;
    }
    const license = await store.readLicense(tx, lease.licenseId);
    if (license?.type === 'TRIAL') throw new DomainError('OFFLINE_NOT_ALLOWED', { reason: 'TRIAL' }); // R5.4
    // Owner devices keep their seat anyway (R4.4); reservations are for members' seats, and
    // Cloud cannot work offline (R4.6).
    if (lease.kind !== 'MEMBER') throw new DomainError('OFFLINE_NOT_ALLOWED', { reason: 'NOT_A_MEMBER_SEAT' });
    if (lease.platform === 'CLOUD') throw new DomainError('OFFLINE_NOT_ALLOWED', { reason: 'CLOUD' });
    if (!Number.isInteger(days) || days < 1) throw new DomainError('BAD_USER_INPUT', { reason: 'OFFLINE_DAYS', field: ['input', 'days'] });
    const org = lease.organizationId ? await tx.findOneBy(OrganizationEntity, { id: lease.organizationId }) : null;
    const max = org?.maxOfflineDays ?? 30;
    if (days > max) throw new DomainError('OFFLINE_PERIOD_TOO_LONG', { params: { max }, field: ['input', 'days'] });
    const reservedUntil = addMs(now, days * DAY);
    const lapsesAt = core.lapseFrom(now, reservedUntil);
    await store.reserveLease(locks, lease, reservedUntil, lapsesAt);
    effects.pool(lease.poolAccountId);
    return Object.assign(lease, { reservedUntil, lastHeartbeatAt: now, lapsesAt });
  });
  if (outcome.endedAt) throw endedError(outcome);
  return outcome;
}
