import { randomUUID } from 'node:crypto';
import { AccessError, DomainError } from '../../platform/errors';
import type { PlatformName } from '../licenses/entities';
import { isActive } from '../licenses/rules';
import { needsReconcile, pickLicense, servingCandidates } from './allocation';
import { UUID, type Caller, type SeatCore, type SeatUsageView } from './core';
import { isLive, type SeatLeaseEntity } from './entities';
import { lockAccounts, lockPools } from './ledger/locks';
import * as store from './ledger/store';

/**
 * R4.1–R4.8, R4.13, R5.3: the app starts and asks for a seat.
 *
 * One transaction: the account's seat lock (so that one account's concurrent acquires, retries
 * included, run one after another), then the locks of every pool it may draw from, sorted (the
 * ledger's locks.ts). Everything the decision uses (the pools' licenses and candidates, live
 * leases, wait-list holds, the account's cloud session) is read after the locks are held and
 * judged by the clock's time then, so that a license that ended while the acquire waited serves
 * nobody (R4.8).
 */

export interface AcquireInput {
  deviceId: string;
  platform: PlatformName;
  organizationId?: string | null;
  takeover?: boolean | null;
}

export interface Acquired {
  lease: SeatLeaseEntity;
  seatUsage: SeatUsageView;
}

type Outcome = { ok: true; lease: SeatLeaseEntity; seatUsage: SeatUsageView } | { ok: false; error: DomainError } | { ok: false; retry: true };

export interface WaitlistFulfil {
  fulfil(locks: import('./ledger/locks').PoolLocks, accountId: string, organizationId: string): Promise<void>;
}

export async function acquireSeat(core: SeatCore, caller: Caller, input: AcquireInput, onWaitlist: WaitlistFulfil): Promise<Acquired> {
  const { account } = caller;
  const deviceHash = core.checkDevice(input.deviceId);
  if (input.organizationId && !UUID.test(input.organizationId)) throw new AccessError('NOT_FOUND');
  // The device's lease ended just now (lapsed, pool shrank, trial over): acquire afresh, once.
  // The second attempt finds no open lease on the device (the first ended it), so it cannot retry
  // for that reason; a license that ended while the decision was made (below) is one more attempt,
  // and the next one no longer sees that license.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const outcome = await core.deps.ledger.run<Outcome>(async (tx, effects) => {
      const mine = await lockAccounts(tx, core.deps.clock, [account.id]);

      // R4.2: a live lease of this account on this device (in any pool) is the answer.
      const existing = await store.openLeaseOf(tx, account.id, deviceHash);
      if (existing) {
        // A restart or a retry. Under its pool's lock (the lease may be near its lapse, or its
        // pool may have shrunk, R4.10) the lease is kept, or ended and the acquire starts over.
        const locks = await lockPools(mine, core.deps.clock, [existing.poolAccountId]);
        const now = locks.now;
        const fresh = (await store.readLease(tx, existing.id))!;
        if (!isLive(fresh, now)) {
          if (!fresh.endedAt) effects.ended(await store.endLeases(locks, { ids: [fresh.id] }, 'TIMED_OUT'));
          return { ok: false, retry: true };
        }
        await core.reconcileIfOver(locks, fresh, effects);
        const kept = (await store.readLease(tx, existing.id))!;
        if (kept.endedAt) return { ok: false, retry: true };
        if ((await core.trialDay(tx, kept.licenseId, now)) === 'OVER') {
          effects.ended(await store.endLeases(locks, { ids: [kept.id] }, 'LICENSE_ENDED'));
          return { ok: false, retry: true };
        }
        const lapsesAt = kept.kind === 'MEMBER' ? core.lapseFrom(now, kept.reservedUntil) : null;
        await store.touchLease(locks, kept, lapsesAt);
        kept.lastHeartbeatAt = now;
        kept.lapsesAt = lapsesAt;
        const licenses = await store.licensesOfPool(tx, kept.poolAccountId);
        const snap = await core.snapshot(locks, kept.poolAccountId);
        return { ok: true, lease: kept, seatUsage: core.usageFrom(kept.organizationId, licenses, snap.taken, kept.kind, now) };
      }

      // Which pools the decision may touch: the sources and the pool of a cloud session a takeover
      // would end. A membership blocked or removed meanwhile is safe: that change ends the
      // member's seats under this account's lock, after this transaction.
      const { sources, blockedIn } = await core.sourcesOf(tx, account.id, input.organizationId ?? null);
      if (input.organizationId && !sources.some((s) => s.organizationId === input.organizationId)) {
        if (blockedIn.includes(input.organizationId)) throw new DomainError('MEMBERSHIP_BLOCKED', { field: ['input', 'organizationId'] });
        throw new AccessError('NOT_FOUND');
      }
      const cloudBefore = input.platform === 'CLOUD' ? await store.liveCloudLeasesOf(tx, account.id, core.now) : [];
      const locks = await lockPools(mine, core.deps.clock, [...sources.map((s) => s.poolAccountId), ...cloudBefore.map((l) => l.poolAccountId)]);
      const now = locks.now;

      // R4.6: one cloud session per account, judged under the locks (it may have lapsed meanwhile).
      if (input.platform === 'CLOUD') {
        const others = await store.liveCloudLeasesOf(tx, account.id, now);
        if (others.length > 0 && !input.takeover) return { ok: false, error: new DomainError('CLOUD_SESSION_ACTIVE', { field: ['input', 'platform'] }) };
        if (others.length > 0) effects.ended(await store.endLeases(locks, { ids: others.map((o) => o.id) }, 'TAKEN_OVER'));
      }

      let anyLicense = false;
      let anyPlatform = false;
      let exhausted: SeatUsageView | undefined;
      let exhaustedPool: string | undefined;
      for (const source of sources) {
        const licenses = await store.licensesOfPool(tx, source.poolAccountId);
        const candidates = servingCandidates(licenses, source.kind, now);
        if (candidates.length === 0) continue;
        anyLicense = true;
        if (!candidates.some((l) => l.platforms.includes(input.platform))) continue;
        anyPlatform = true;
        // R4.10: a pool that shrank is settled first (owner devices and older sessions keep their seats).
        let snap = await core.snapshot(locks, source.poolAccountId, account.id);
        if (needsReconcile(licenses, snap.leases, now)) {
          await core.reconcilePool(locks, source.poolAccountId, effects);
          snap = await core.snapshot(locks, source.poolAccountId, account.id);
        }
        // Live leases, and wait-list holds of others (R4.13): a held seat is nobody else's.
        let license = pickLicense(candidates, snap.taken, source.kind, input.platform);
        if (!license && (await core.repack(locks, source.poolAccountId, licenses, snap.leases, effects))) {
          // Owner devices paired up anew and freed a seat.
          snap = await core.snapshot(locks, source.poolAccountId, account.id);
          license = pickLicense(candidates, snap.taken, source.kind, input.platform);
        }
        if (!license) {
          if (!exhausted) {
            exhausted = core.usageFrom(source.organizationId, licenses, snap.taken, source.kind, now);
            exhaustedPool = source.poolAccountId;
          }
          continue;
        }
        // R5.3: starting the app on a trial uses an active day (outside an open window).
        if (license.type === 'TRIAL' && (await core.trialDay(tx, license, now)) === 'OVER') return { ok: false, error: new DomainError('TRIAL_EXPIRED') };
        // The lease starts when it is written, not when the lock was granted: a release (which
        // takes only its account's lock) that this decision saw committed recorded its end before
        // that commit, so the history never shows the two overlapping (R4.8, "at no instant").
        const startedAt = new Date(Math.max(now.getTime(), core.deps.clock.now().getTime()));
        // The license ended between the lock's grant and now: no lease may start on it (R2.9,
        // R4.8); decide again (the chosen license is then no candidate).
        if (!isActive(license, startedAt)) return { ok: false, retry: true };
        const lease = await store.insertLease(locks, {
          id: randomUUID(),
          accountId: account.id,
          poolAccountId: source.poolAccountId,
          organizationId: source.organizationId,
          licenseId: license.id,
          deviceHash,
          platform: input.platform,
          kind: source.kind,
          acquiredAt: startedAt,
          lapsesAt: source.kind === 'MEMBER' ? core.lapseFrom(startedAt, null) : null,
        });
        effects.pool(source.poolAccountId);
        if (source.organizationId && snap.mineWaiting) await onWaitlist.fulfil(locks, account.id, source.organizationId);
        const list = snap.taken.get(license.id);
        if (list) list.push(lease);
        else snap.taken.set(license.id, [lease]);
        return { ok: true, lease, seatUsage: core.usageFrom(source.organizationId, licenses, snap.taken, source.kind, now) };
      }
      if (!anyLicense) {
        if (await core.deps.trials.onlyExpiredTrials(tx, account.id, now)) return { ok: false, error: new DomainError('TRIAL_EXPIRED') };
        // A blocked member with nothing else to draw on is told why (R3.4), not "no license".
        if (blockedIn.length > 0) return { ok: false, error: new DomainError('MEMBERSHIP_BLOCKED') };
        return { ok: false, error: new DomainError('NO_LICENSE') };
      }
      if (!anyPlatform) return { ok: false, error: new DomainError('PLATFORM_NOT_LICENSED', { field: ['input', 'platform'] }) };
      const usage = exhausted!;
      await core.seatsExhausted(tx, exhaustedPool!, usage, account.id, now);
      return {
        ok: false,
        error: new DomainError('SEATS_EXHAUSTED', { params: { inUse: usage.inUse, total: usage.total }, payload: { seatUsage: usage } }),
      };
    });
    if (outcome.ok) return { lease: outcome.lease, seatUsage: outcome.seatUsage };
    if ('error' in outcome) throw outcome.error;
  }
  throw new Error('acquireSeat: the device lease ended twice in a row');
}
