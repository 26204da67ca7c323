import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { Session } from '../../platform/auth/session';
import { addMs, DAY, SECOND, type Clock } from '../../platform/clock';
import { keyedHash } from '../../platform/crypto';
import { inTransaction } from '../../platform/db/transaction';
import { AccessError, DomainError } from '../../platform/errors';
import type { Logger } from '../../platform/logger';
import type { Events } from '../../platform/events';
import { AccountEntity } from '../accounts/entities';
import { LicenseEntity, type PlatformName } from '../licenses/entities';
import { expiresSoon, isActive, isOfflineCapable, isSharable } from '../licenses/rules';
import type { EntitlementView, LicenseService } from '../licenses/service';
import type { TrialService } from '../trials/service';
import { MembershipEntity, OrganizationEntity } from '../organizations/entities';
import { capacity, needsReconcile, pickLicense, reconcile, seatsUsed, servingCandidates, type SeatKindName } from './allocation';
import { endLeases, SEAT_LOCK_NAMESPACE, type EndedLease } from './ending';
import { isLive, liveSql, SeatLeaseEntity } from './entities';
import { HEARTBEAT_FAST_SQL, INSERT_LEASE_SQL, LEASE_COLUMNS, leaseFields, leaseParams, licenseFields, returningRows } from './sql';

export interface SeatServiceDeps {
  ds: DataSource;
  clock: Clock;
  logger: Logger;
  appSecret: string;
  seatTimeoutSeconds: number;
  heartbeatIntervalSeconds: number;
  licenses: LicenseService;
  trials: TrialService;
  events: Events;
}

export interface SeatUsageView {
  organizationId: string | null;
  total: number;
  inUse: number;
  free: number;
  updatedAt: Date;
}

/** What a seat transaction tells once it has committed: leases that ended, pools that changed. */
interface Tell {
  /** Ended for a reason the app must hear of (lapse, takeover, shrink, support…). */
  ended(leases: EndedLease[]): void;
  /** Ended by the app's own release: only the pool's figures change. */
  released(leases: EndedLease[]): void;
  pool(poolAccountId: string): void;
}

interface Source {
  poolAccountId: string;
  organizationId: string | null;
  kind: SeatKindName;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * A heartbeat extends a lease without the pool lock only while the lease lies this far from
 * lapsing: an acquire that counted it as lapsed would need a clock this far ahead.
 */
const LOCK_FREE_MARGIN_MS = 5 * 60 * SECOND;

export class SeatService {
  constructor(private readonly deps: SeatServiceDeps) {}

  private get now(): Date {
    return this.deps.clock.now();
  }

  get heartbeatIntervalSeconds(): number {
    return this.deps.heartbeatIntervalSeconds;
  }

  /** Of a device only this keyed hash is stored (R1.10). */
  deviceHash(deviceId: string): string {
    return keyedHash(this.deps.appSecret, 'device', deviceId);
  }

  private checkDevice(deviceId: string): string {
    if (deviceId.trim().length < 1 || deviceId.length > 256) throw new DomainError('BAD_USER_INPUT', { reason: 'DEVICE_ID', field: ['input', 'deviceId'] });
    return this.deviceHash(deviceId);
  }

  private lapseFrom(heartbeat: Date, reservedUntil: Date | null): Date {
    const byHeartbeat = addMs(heartbeat, this.deps.seatTimeoutSeconds * SECOND);
    return reservedUntil && reservedUntil > byHeartbeat ? reservedUntil : byHeartbeat;
  }

  // ---------------------------------------------------------------- acquire (R4.1–R4.8)

  /**
   * The app starts. One transaction: the account's lock (so that one account's concurrent
   * acquires, e.g. retries, run one after another), then the row locks of every pool it may draw
   * from, in ID order (so that two accounts drawing from each other's pools cannot deadlock).
   * Under those locks the live leases are counted with the clock's time and one is inserted.
   */
  async acquire(
    session: Session,
    input: { deviceId: string; platform: PlatformName; organizationId?: string | null; takeover?: boolean | null },
    attempt = 1,
  ): Promise<{ lease: SeatLeaseEntity; seatUsage: SeatUsageView }> {
    const account = session.requireVerified();
    const deviceHash = this.checkDevice(input.deviceId);
    if (input.organizationId && !UUID.test(input.organizationId)) throw new AccessError('NOT_FOUND');
    type Outcome =
      | { ok: true; lease: SeatLeaseEntity; seatUsage: SeatUsageView }
      | { ok: false; error: DomainError; retry?: undefined }
      | { ok: false; retry: true; error?: undefined };
    const outcome = await this.run<Outcome>(async (tx, tell) => {
      await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SEAT_LOCK_NAMESPACE, account.id]);
      let now = this.now;
      // R4.2: a live lease of this account on this device (in any pool) is the answer.
      const existing = await this.openLeaseOf(tx, account.id, deviceHash);
      if (existing && isLive(existing, now)) {
        // A restart or a retry. Under the pool lock (the lease may be near its lapse, or its pool may
        // have shrunk, R4.10), the lease is checked and kept, or ended and the acquire starts over.
        await tx.query('SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [existing.poolAccountId]);
        now = this.now; // what others decided while we waited for the lock is judged by the time now
        const fresh = await tx.findOneByOrFail(SeatLeaseEntity, { id: existing.id });
        if (!isLive(fresh, now)) {
          if (!fresh.endedAt) tell.ended(await endLeases(tx, { ids: [fresh.id] }, 'TIMED_OUT', now));
          return { ok: false, retry: true };
        }
        await this.reconcileIfOver(tx, fresh, now, tell);
        const kept = await tx.findOneByOrFail(SeatLeaseEntity, { id: existing.id });
        if (kept.endedAt) return { ok: false, retry: true };
        if ((await this.trialDay(tx, kept.licenseId, now)) === 'OVER') {
          tell.ended(await endLeases(tx, { ids: [kept.id] }, 'LICENSE_ENDED', now));
          return { ok: false, retry: true };
        }
        await this.touch(tx, kept, now);
        return { ok: true, lease: kept, seatUsage: await this.usageOfLease(tx, kept, now) };
      }
      if (existing) tell.ended(await endLeases(tx, { ids: [existing.id] }, 'TIMED_OUT', now));

      // R4.6: one cloud session per account.
      let takenOver: string[] = [];
      if (input.platform === 'CLOUD') {
        const other = (await tx.query(
          `SELECT id FROM seat_leases l WHERE l.account_id = $1 AND l.platform = 'CLOUD' AND ${liveSql('l', '$2')}`,
          [account.id, now],
        )) as Array<{ id: string }>;
        if (other.length > 0 && !input.takeover) return { ok: false, error: new DomainError('CLOUD_SESSION_ACTIVE', { field: ['input', 'platform'] }) };
        takenOver = other.map((o) => o.id);
      }

      const sources = await this.sourcesOf(tx, account.id, input.organizationId ?? null);
      if (input.organizationId && !sources.some((s) => s.organizationId === input.organizationId)) throw new AccessError('NOT_FOUND');
      // Which sources can serve this platform at all (read before locking: licenses change rarely,
      // and a pool that shrinks meanwhile is R4.10's to settle at the next heartbeat).
      let anyLicense = false;
      const usable: Array<Source & { licenses: LicenseEntity[]; candidates: LicenseEntity[] }> = [];
      for (const source of sources) {
        const licenses = await this.licensesOfPool(tx, source.poolAccountId);
        const candidates = servingCandidates(licenses, source.kind, now);
        if (candidates.length === 0) continue;
        anyLicense = true;
        if (candidates.some((l) => l.platforms.includes(input.platform))) usable.push({ ...source, licenses, candidates });
      }
      if (takenOver.length > 0) tell.ended(await endLeases(tx, { ids: takenOver }, 'TAKEN_OVER', now));
      const poolIds = [...new Set(usable.map((s) => s.poolAccountId))].sort();
      if (poolIds.length > 0) await tx.query('SELECT id FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [poolIds]);
      now = this.now; // count live leases with the time after the wait for the locks

      let exhausted: SeatUsageView | undefined;
      for (const source of usable) {
        const { licenses, candidates } = source;
        // R4.10: a pool that shrank is settled first (owner devices and older sessions keep their seats).
        let snap = await this.poolSnapshot(tx, source.poolAccountId, now, account.id);
        if (needsReconcile(licenses, snap.leases, now)) {
          await this.reconcilePool(tx, source.poolAccountId, now, tell);
          snap = await this.poolSnapshot(tx, source.poolAccountId, now, account.id);
        }
        // Live leases, and wait-list holds of others (R4.13): a held seat is nobody else's.
        let license = pickLicense(candidates, snap.taken, source.kind, input.platform);
        if (!license && (await this.repack(tx, source.poolAccountId, licenses, snap.leases, now, tell))) {
          // Owner devices paired up anew and freed a seat.
          snap = await this.poolSnapshot(tx, source.poolAccountId, now, account.id);
          license = pickLicense(candidates, snap.taken, source.kind, input.platform);
        }
        if (!license) {
          exhausted ??= this.usageFrom(source.organizationId, licenses, snap.taken, source.kind, now);
          continue;
        }
        const lease = tx.create(SeatLeaseEntity, {
          id: randomUUID(),
          accountId: account.id,
          poolAccountId: source.poolAccountId,
          organizationId: source.organizationId,
          licenseId: license.id,
          deviceHash,
          platform: input.platform,
          kind: source.kind,
          acquiredAt: now,
          lastHeartbeatAt: now,
          reservedUntil: null,
          lapsesAt: source.kind === 'MEMBER' ? this.lapseFrom(now, null) : null,
          endedAt: null,
          endReason: null,
          offlineNonce: null,
          offlineIssuedAt: null,
        });
        // R5.3: starting the app on a trial uses an active day (outside an open window).
        if (license.type === 'TRIAL' && (await this.trialDay(tx, license, now)) === 'OVER') return { ok: false, error: new DomainError('TRIAL_EXPIRED') };
        await tx.query(INSERT_LEASE_SQL, leaseParams(lease));
        tell.pool(source.poolAccountId);
        if (source.organizationId && snap.mineWaiting) await this.waitlist?.fulfil(tx, account.id, source.organizationId, now);
        snap.taken.set(license.id, [...(snap.taken.get(license.id) ?? []), lease]);
        const usage = this.usageFrom(source.organizationId, licenses, snap.taken, source.kind, now);
        return { ok: true, lease, seatUsage: usage };
      }
      if (!anyLicense) {
        const trialOver = await this.deps.trials.onlyExpiredTrials(tx, account.id, now);
        return { ok: false, error: new DomainError(trialOver ? 'TRIAL_EXPIRED' : 'NO_LICENSE') };
      }
      if (usable.length === 0) return { ok: false, error: new DomainError('PLATFORM_NOT_LICENSED', { field: ['input', 'platform'] }) };
      const usage = exhausted!;
      return {
        ok: false,
        error: new DomainError('SEATS_EXHAUSTED', { params: { inUse: usage.inUse, total: usage.total }, payload: { seatUsage: usage } }),
      };
    });
    // The device's lease ended just now (lapsed, pool shrank, trial over): acquire afresh, once.
    // The second attempt finds no open lease on the device (this one ended it), so it cannot retry.
    if (!outcome.ok && outcome.retry) {
      if (attempt > 1) throw new Error('acquireSeat: the device lease ended twice in a row');
      return this.acquire(session, input, attempt + 1);
    }
    if (!outcome.ok) throw outcome.error!;
    return outcome;
  }

  /**
   * R4.1: the account's own licenses first, then each organization it is an active member of,
   * oldest membership first; an explicit organization goes first.
   */
  private async sourcesOf(tx: EntityManager, accountId: string, preferred: string | null): Promise<Source[]> {
    const memberships = (await tx.query(
      `SELECT m.organization_id, o.owner_account_id
         FROM memberships m JOIN organizations o ON o.id = m.organization_id
        WHERE m.account_id = $1 AND m.status = 'ACTIVE'
        ORDER BY m.joined_at, m.id`,
      [accountId],
    )) as Array<{ organization_id: string; owner_account_id: string }>;
    const own: Source = { poolAccountId: accountId, organizationId: null, kind: 'OWNER' };
    const orgs: Source[] = memberships.map((m) => ({ poolAccountId: m.owner_account_id, organizationId: m.organization_id, kind: 'MEMBER' }));
    const first = orgs.filter((s) => s.organizationId === preferred);
    return [...first, own, ...orgs.filter((s) => s.organizationId !== preferred)];
  }

  /** R5.3 for a seat on a trial license; anything else is unaffected. */
  private async trialDay(tx: EntityManager, licenseOrId: string | LicenseEntity, now: Date): Promise<'INSIDE_WINDOW' | 'USED_DAY' | 'OVER' | 'NOT_A_TRIAL'> {
    const license = typeof licenseOrId === 'string' ? await tx.findOneBy(LicenseEntity, { id: licenseOrId }) : licenseOrId;
    if (license?.type !== 'TRIAL') return 'NOT_A_TRIAL';
    if (!isActive(license, now)) return 'OVER';
    return this.deps.trials.useActiveDay(tx, license.id, now);
  }

  // The hot path's reads and writes in plain SQL (sql.ts), mapped to the entities here: the ORM's
  // query building costs more CPU than the queries themselves at seat-acquire rates.

  private async openLeaseOf(tx: EntityManager, accountId: string, deviceHash: string): Promise<SeatLeaseEntity | null> {
    const [row] = (await tx.query(`SELECT ${LEASE_COLUMNS} FROM seat_leases WHERE account_id = $1 AND device_hash = $2 AND ended_at IS NULL`, [
      accountId,
      deviceHash,
    ])) as Array<Record<string, unknown>>;
    return row ? this.leaseOfRow(row) : null;
  }

  private async readLease(tx: EntityManager, id: string): Promise<SeatLeaseEntity | null> {
    const [row] = (await tx.query(`SELECT ${LEASE_COLUMNS} FROM seat_leases WHERE id = $1`, [id])) as Array<Record<string, unknown>>;
    return row ? this.leaseOfRow(row) : null;
  }

  private leaseOfRow(row: Record<string, unknown>): SeatLeaseEntity {
    return Object.assign(new SeatLeaseEntity(), leaseFields(row));
  }

  private async licensesOfPool(tx: EntityManager, poolAccountId: string): Promise<LicenseEntity[]> {
    const rows = (await tx.query('SELECT * FROM licenses WHERE owner_account_id = $1', [poolAccountId])) as Array<Record<string, unknown>>;
    return rows.map((row) => Object.assign(new LicenseEntity(), licenseFields(row)));
  }

  /**
   * What holds seats in a pool now, per license: live leases, and wait-list holds (R4.13) except
   * those of `exceptAccountId` (a holder may use its own hold). Caller holds the pool lock when it
   * decides on these figures.
   */
  async seatsTakenInPool(tx: EntityManager, poolAccountId: string, now: Date, exceptAccountId?: string): Promise<Map<string, Array<{ kind: SeatKindName }>>> {
    return (await this.poolSnapshot(tx, poolAccountId, now, exceptAccountId)).taken;
  }

  /**
   * A pool's live leases and what holds its seats per license: the leases, and wait-list holds
   * (R4.13) except those of `me` (a holder may use its own hold); and whether `me` is in its line.
   * Two queries. Caller holds the pool lock when it decides on these figures.
   */
  private async poolSnapshot(
    tx: EntityManager,
    poolAccountId: string,
    now: Date,
    me?: string,
  ): Promise<{ leases: SeatLeaseEntity[]; taken: Map<string, Array<{ kind: SeatKindName }>>; mineWaiting: boolean }> {
    const leases = await this.liveLeasesOfPool(tx, poolAccountId, now);
    const taken: Map<string, Array<{ kind: SeatKindName }>> = groupByLicense<{ licenseId: string; kind: SeatKindName }>(leases);
    const line = (await tx.query(
      `SELECT account_id, license_id, status, hold_until FROM waitlist_entries WHERE pool_account_id = $1 AND status IN ('WAITING', 'HOLDING')`,
      [poolAccountId],
    )) as Array<{ account_id: string; license_id: string | null; status: string; hold_until: Date | null }>;
    for (const e of line) {
      if (e.account_id === me || e.status !== 'HOLDING' || !e.license_id || !e.hold_until || e.hold_until <= now) continue;
      taken.set(e.license_id, [...(taken.get(e.license_id) ?? []), { kind: 'MEMBER' }]);
    }
    return { leases, taken, mineWaiting: line.some((e) => e.account_id === me) };
  }

  private waitlist?: { fulfil(tx: EntityManager, accountId: string, organizationId: string, now: Date): Promise<void> };

  /** The wait-list (R4.13) learns here when a holder took its seat. */
  useWaitlist(waitlist: { fulfil(tx: EntityManager, accountId: string, organizationId: string, now: Date): Promise<void> }): void {
    this.waitlist = waitlist;
  }

  private async liveLeasesOfPool(tx: EntityManager, poolAccountId: string, now: Date): Promise<SeatLeaseEntity[]> {
    const rows = (await tx.query(`SELECT ${LEASE_COLUMNS} FROM seat_leases l WHERE l.pool_account_id = $1 AND ${liveSql('l', '$2')}`, [
      poolAccountId,
      now,
    ])) as Array<Record<string, unknown>>;
    return rows.map((row) => this.leaseOfRow(row));
  }

  private async touch(tx: EntityManager, lease: SeatLeaseEntity, now: Date): Promise<void> {
    lease.lastHeartbeatAt = now;
    if (lease.kind === 'MEMBER') lease.lapsesAt = this.lapseFrom(now, lease.reservedUntil);
    await tx.update(SeatLeaseEntity, { id: lease.id }, { lastHeartbeatAt: now, lapsesAt: lease.lapsesAt });
  }

  // ---------------------------------------------------------------- heartbeat, release, reservation

  /** The caller's own lease, or NOT_FOUND (also for someone else's). */
  private async ownLease(tx: EntityManager, session: Session, leaseId: string): Promise<SeatLeaseEntity> {
    const account = session.requireVerified();
    if (!UUID.test(leaseId)) throw new AccessError('NOT_FOUND');
    const lease = await this.readLease(tx, leaseId);
    if (!lease || lease.accountId !== account.id) throw new AccessError('NOT_FOUND');
    return lease;
  }

  /**
   * R4.3: extends a member lease; R4.10: when the pool has shrunk below its live leases, the leases
   * beyond capacity end now, newest member sessions first. An ended lease answers LEASE_ENDED with
   * the reason, so that the app warns the user to save.
   */
  async heartbeat(session: Session, leaseId: string): Promise<SeatLeaseEntity> {
    const account = session.requireVerified();
    if (!UUID.test(leaseId)) throw new AccessError('NOT_FOUND');
    const now = this.now;
    const fast = returningRows(
      await this.deps.ds.query(HEARTBEAT_FAST_SQL, [leaseId, account.id, now, this.lapseFrom(now, null), addMs(now, LOCK_FREE_MARGIN_MS)]),
    );
    if (fast.length === 1) return this.deps.ds.getRepository(SeatLeaseEntity).create(leaseFields(fast[0]));
    const outcome = await this.run(async (tx, tell) => {
      const found = await this.ownLease(tx, session, leaseId);
      await tx.query('SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [found.poolAccountId]);
      const lease = await tx.findOneByOrFail(SeatLeaseEntity, { id: found.id });
      const now = this.now;
      if (!lease.endedAt && !isLive(lease, now)) tell.ended(await endLeases(tx, { ids: [lease.id] }, 'TIMED_OUT', now));
      else if (!lease.endedAt) {
        await this.reconcileIfOver(tx, lease, now, tell);
        const still = await tx.findOneByOrFail(SeatLeaseEntity, { id: lease.id });
        // R5.3: a heartbeat after the trial's window has closed uses the next active day.
        if (!still.endedAt && (await this.trialDay(tx, still.licenseId, now)) === 'OVER') {
          tell.ended(await endLeases(tx, { ids: [still.id] }, 'LICENSE_ENDED', now));
        }
      }
      const current = await tx.findOneByOrFail(SeatLeaseEntity, { id: lease.id });
      if (!current.endedAt) await this.touch(tx, current, now);
      return current;
    });
    if (outcome.endedAt) throw new DomainError('LEASE_ENDED', { reason: outcome.endReason!, payload: { lease: outcome } });
    return outcome;
  }

  /** Reconciles the lease's pool when its license no longer serves or holds more than its seats. */
  private async reconcileIfOver(tx: EntityManager, lease: SeatLeaseEntity, now: Date, tell: Tell): Promise<void> {
    const license = await tx.findOneBy(LicenseEntity, { id: lease.licenseId });
    if (license && isActive(license, now)) {
      const onLicense = (await tx.query(`SELECT kind FROM seat_leases l WHERE l.license_id = $1 AND ${liveSql('l', '$2')}`, [
        license.id,
        now,
      ])) as Array<{ kind: SeatKindName }>;
      if (seatsUsed(onLicense) <= license.seats) return;
    }
    await this.reconcilePool(tx, lease.poolAccountId, now, tell);
  }

  /** Re-packs a pool whose owner devices are spread over several licenses; true when a lease moved. */
  private async repack(tx: EntityManager, poolAccountId: string, licenses: LicenseEntity[], leases: SeatLeaseEntity[], now: Date, tell: Tell): Promise<boolean> {
    if (leases.filter((l) => l.kind !== 'MEMBER').length < 2) return false;
    const { keep } = reconcile(licenses, leases, now);
    const moved = leases.some((l) => keep.get(l.id) !== undefined && keep.get(l.id) !== l.licenseId);
    if (moved) await this.reconcilePool(tx, poolAccountId, now, tell);
    return moved;
  }

  /** R4.10 for a whole pool (caller holds the pool lock). */
  async reconcilePool(tx: EntityManager, poolAccountId: string, now: Date, tell: Tell): Promise<string[]> {
    const licenses = await tx.findBy(LicenseEntity, { ownerAccountId: poolAccountId });
    const leases = await this.liveLeasesOfPool(tx, poolAccountId, now);
    const { keep, end } = reconcile(licenses, leases, now);
    for (const lease of leases) {
      const target = keep.get(lease.id);
      if (target && target !== lease.licenseId) await tx.update(SeatLeaseEntity, { id: lease.id }, { licenseId: target });
    }
    if (end.length > 0) tell.ended(await endLeases(tx, { ids: end }, 'LICENSE_ENDED', now, { includeOfflineBound: true }));
    return end;
  }

  /**
   * R4.3, R4.4, R4.9: the app closes. A member's seat is freed unless reserved for offline use; an
   * owner's seat is kept so that the owner can work offline. `logout: true` ends either.
   */
  async release(session: Session, leaseId: string, logout: boolean): Promise<SeatLeaseEntity> {
    return this.run(async (tx, tell) => {
      const lease = await this.ownLease(tx, session, leaseId);
      const now = this.now;
      if (lease.endedAt) return lease;
      if (lease.kind === 'OFFLINE_BOUND') throw new DomainError('OFFLINE_BOUND_SEAT');
      if (!isLive(lease, now)) {
        tell.released(await endLeases(tx, { ids: [lease.id] }, 'TIMED_OUT', now));
      } else if (logout) {
        tell.released(await endLeases(tx, { ids: [lease.id] }, 'LOGGED_OUT', now));
      } else if (lease.kind === 'MEMBER' && !(lease.reservedUntil && lease.reservedUntil > now)) {
        tell.released(await endLeases(tx, { ids: [lease.id] }, 'CLOSED', now));
      }
      return (await this.readLease(tx, lease.id))!;
    });
  }

  /** R4.9: a member keeps this device's seat for 1 to the organization's limit of days. */
  async reserveOffline(session: Session, leaseId: string, days: number): Promise<SeatLeaseEntity> {
    const outcome = await this.run(async (tx, tell) => {
      const found = await this.ownLease(tx, session, leaseId);
      // Under the pool lock: an acquire may be counting this lease as lapsed at this very moment.
      await tx.query('SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [found.poolAccountId]);
      const lease = (await this.readLease(tx, found.id))!;
      const now = this.now;
      if (!isLive(lease, now)) {
        if (!lease.endedAt) tell.ended(await endLeases(tx, { ids: [lease.id] }, 'TIMED_OUT', now));
        return (await this.readLease(tx, lease.id))!;
      }
      const license = await tx.findOneBy(LicenseEntity, { id: lease.licenseId });
      if (license?.type === 'TRIAL') throw new DomainError('OFFLINE_NOT_ALLOWED', { reason: 'TRIAL' }); // R5.4
      // Owner devices keep their seat anyway (R4.4); reservations are for members' seats.
      if (lease.kind !== 'MEMBER') throw new DomainError('OFFLINE_NOT_ALLOWED', { reason: 'NOT_A_MEMBER_SEAT' });
      if (!Number.isInteger(days) || days < 1) throw new DomainError('BAD_USER_INPUT', { reason: 'OFFLINE_DAYS', field: ['input', 'days'] });
      const org = lease.organizationId ? await tx.findOneBy(OrganizationEntity, { id: lease.organizationId }) : null;
      const max = org?.maxOfflineDays ?? 30;
      if (days > max) throw new DomainError('OFFLINE_PERIOD_TOO_LONG', { params: { max }, field: ['input', 'days'] });
      lease.reservedUntil = addMs(now, days * DAY);
      lease.lastHeartbeatAt = now;
      lease.lapsesAt = this.lapseFrom(now, lease.reservedUntil);
      await tx.update(SeatLeaseEntity, { id: lease.id }, { reservedUntil: lease.reservedUntil, lastHeartbeatAt: now, lapsesAt: lease.lapsesAt });
      tell.pool(lease.poolAccountId);
      return lease;
    });
    if (outcome.endedAt) throw new DomainError('LEASE_ENDED', { reason: outcome.endReason!, payload: { lease: outcome } });
    return outcome;
  }

  // ---------------------------------------------------------------- reading

  /** The caller's own lease (R7.3 subscribes to it); NOT_FOUND for anyone else's. */
  async leaseOf(session: Session, leaseId: string): Promise<SeatLeaseEntity> {
    return this.ownLease(this.deps.ds.manager, session, leaseId);
  }

  async leaseById(leaseId: string): Promise<SeatLeaseEntity | null> {
    return this.deps.ds.getRepository(SeatLeaseEntity).findOneBy({ id: leaseId });
  }

  /** The caller's live leases, newest first. */
  async myLeases(session: Session): Promise<SeatLeaseEntity[]> {
    const account = session.requireVerified();
    return this.deps.ds
      .getRepository(SeatLeaseEntity)
      .createQueryBuilder('l')
      .where(`l.account_id = :id AND ${liveSql('l', ':now')}`, { id: account.id, now: this.now })
      .orderBy('l.acquired_at', 'DESC')
      .addOrderBy('l.id', 'ASC')
      .getMany();
  }

  /** Live leases on an organization's shared licenses (the caller must have been authorized for the organization). */
  async activeLeasesOf(org: OrganizationEntity): Promise<SeatLeaseEntity[]> {
    const now = this.now;
    const leases = await this.liveLeasesOfPool(this.deps.ds.manager, org.ownerAccountId, now);
    const licenses = await this.deps.ds.getRepository(LicenseEntity).findBy({ ownerAccountId: org.ownerAccountId });
    const shared = new Set(licenses.filter((l) => isSharable(l.type)).map((l) => l.id));
    return leases.filter((l) => shared.has(l.licenseId)).sort((a, b) => a.acquiredAt.getTime() - b.acquiredAt.getTime());
  }

  /** R4.7, R7.2: an organization's shared seats now. */
  async usageOf(org: OrganizationEntity): Promise<SeatUsageView> {
    const now = this.now;
    const licenses = await this.deps.ds.getRepository(LicenseEntity).findBy({ ownerAccountId: org.ownerAccountId });
    return this.usageFrom(org.id, licenses, await this.seatsTakenInPool(this.deps.ds.manager, org.ownerAccountId, now), 'MEMBER', now);
  }

  private async usageOfLease(tx: EntityManager, lease: SeatLeaseEntity, now: Date): Promise<SeatUsageView> {
    const licenses = await tx.findBy(LicenseEntity, { ownerAccountId: lease.poolAccountId });
    return this.usageFrom(lease.organizationId, licenses, await this.seatsTakenInPool(tx, lease.poolAccountId, now), lease.kind, now);
  }

  /** Seats in use on the licenses that serve this kind of user, counted as the invariant counts them. */
  private usageFrom(
    organizationId: string | null,
    licenses: LicenseEntity[],
    taken: Map<string, Array<{ kind: SeatKindName }>>,
    kind: SeatKindName,
    now: Date,
  ): SeatUsageView {
    const serving = new Set(servingCandidates(licenses, kind, now).map((l) => l.id));
    const inUse = [...taken.entries()].filter(([id]) => serving.has(id)).reduce((sum, [, ls]) => sum + seatsUsed(ls), 0);
    const total = capacity(licenses, kind, now);
    return { organizationId, total, inUse, free: Math.max(0, total - inUse), updatedAt: now };
  }

  /** R3.4: whether a member holds a live seat of the organization now. */
  async usingSeat(membership: MembershipEntity): Promise<boolean> {
    const rows = (await this.deps.ds.query(
      `SELECT 1 FROM seat_leases l WHERE l.organization_id = $1 AND l.account_id = $2 AND ${liveSql('l', '$3')} LIMIT 1`,
      [membership.organizationId, membership.accountId, this.now],
    )) as unknown[];
    return rows.length > 0;
  }

  /**
   * R2.9, R2.10, R7.1: what the app on this device may do. A live lease on the device answers with
   * its license and that license's owner ("you are using the organization's license"); otherwise
   * the account's own licenses, then its organizations' shared licenses, say what it could use.
   */
  async entitlement(session: Session, deviceId: string): Promise<EntitlementView> {
    const account = session.requireVerified();
    const now = this.now;
    const lease = await this.openLeaseOf(this.deps.ds.manager, account.id, this.checkDevice(deviceId));
    if (lease && isLive(lease, now)) return this.entitlementOfLease(lease);
    const own = await this.deps.licenses.entitlement(session, deviceId);
    if (own.canUse) return own.license ? this.viewOf(own.license, own.owner, now) : own;
    const sources = await this.sourcesOf(this.deps.ds.manager, account.id, null);
    for (const source of sources.filter((s) => s.kind === 'MEMBER')) {
      const licenses = await this.deps.ds.getRepository(LicenseEntity).findBy({ ownerAccountId: source.poolAccountId });
      const serving = servingCandidates(licenses, 'MEMBER', now)[0];
      if (serving) return this.viewOf(serving, await this.deps.ds.getRepository(AccountEntity).findOneBy({ id: source.poolAccountId }), now);
    }
    return own;
  }

  async entitlementOfLease(lease: SeatLeaseEntity): Promise<EntitlementView> {
    const now = this.now;
    const license = await this.deps.ds.getRepository(LicenseEntity).findOneBy({ id: lease.licenseId });
    const owner = await this.deps.ds.getRepository(AccountEntity).findOneBy({ id: lease.poolAccountId });
    if (!license || !isLive(lease, now) || !isActive(license, now)) {
      return { canUse: false, canSave: false, license, owner, expiresAt: license?.expiresAt ?? null, expiresSoon: false, trialDaysRemaining: null };
    }
    return this.viewOf(license, owner, now);
  }

  private async viewOf(license: LicenseEntity, owner: AccountEntity | null, now: Date): Promise<EntitlementView> {
    return {
      canUse: true,
      canSave: true,
      license,
      owner,
      expiresAt: license.expiresAt,
      expiresSoon: expiresSoon(license.expiresAt, now),
      trialDaysRemaining: license.type === 'TRIAL' ? await this.deps.trials.daysRemaining(license.id) : null,
    };
  }

  // ---------------------------------------------------------------- offline-bound seats (R6)

  /**
   * R6.1, R6.4: binds a seat of the account's own permanent, non-personal license to an air-gapped
   * computer for good. The same request again (same device and nonce) answers the same seat; a
   * live owner seat on that device becomes the bound one. Locks as `acquire` does.
   */
  async bindOffline(
    accountId: string,
    deviceId: string,
    platform: PlatformName,
    nonce: string,
  ): Promise<{ lease: SeatLeaseEntity; license: LicenseEntity }> {
    const deviceHash = this.checkDevice(deviceId);
    return this.run(async (tx, tell) => {
      await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SEAT_LOCK_NAMESPACE, accountId]);
      await tx.query('SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [accountId]);
      const now = this.now;
      const licenses = await tx.findBy(LicenseEntity, { ownerAccountId: accountId });
      const existing = await this.openLeaseOf(tx, accountId, deviceHash);
      if (existing?.kind === 'OFFLINE_BOUND') {
        const bound = licenses.find((l) => l.id === existing.licenseId);
        // The same computer asks again: only for the same platform, while its license still serves.
        if (!bound || !isActive(bound, now) || existing.platform !== platform || !bound.platforms.includes(platform)) {
          throw new DomainError('OFFLINE_NOT_ALLOWED', { reason: 'NOT_PERMANENT' });
        }
        if (existing.offlineNonce !== nonce) {
          existing.offlineNonce = nonce;
          existing.offlineIssuedAt = now;
          await tx.update(SeatLeaseEntity, { id: existing.id }, { offlineNonce: nonce, offlineIssuedAt: now });
        }
        return { lease: existing, license: bound };
      }
      const offlineCapable = licenses.filter((l) => isActive(l, now) && isOfflineCapable(l));
      if (offlineCapable.length === 0) {
        const reason = licenses.some((l) => l.type === 'TRIAL' && isActive(l, now)) ? 'TRIAL' : 'NOT_PERMANENT';
        throw new DomainError('OFFLINE_NOT_ALLOWED', { reason });
      }
      const candidates = servingCandidates(offlineCapable, 'OFFLINE_BOUND', now);
      if (!candidates.some((l) => l.platforms.includes(platform))) throw new DomainError('PLATFORM_NOT_LICENSED');
      if (existing && isLive(existing, now) && existing.kind === 'OWNER' && candidates.some((l) => l.id === existing.licenseId)) {
        // The device's own seat becomes the bound one: it already holds its half of a seat.
        existing.kind = 'OFFLINE_BOUND';
        existing.offlineNonce = nonce;
        existing.offlineIssuedAt = now;
        await tx.update(SeatLeaseEntity, { id: existing.id }, { kind: 'OFFLINE_BOUND', offlineNonce: nonce, offlineIssuedAt: now });
        tell.pool(accountId);
        return { lease: existing, license: candidates.find((l) => l.id === existing.licenseId)! };
      }
      if (existing) tell.ended(await endLeases(tx, { ids: [existing.id] }, 'CLOSED', now));
      const taken = await this.seatsTakenInPool(tx, accountId, now);
      const license = pickLicense(candidates, taken, 'OFFLINE_BOUND', platform);
      if (!license) {
        const usage = this.usageFrom(null, licenses, taken, 'OWNER', now);
        throw new DomainError('SEATS_EXHAUSTED', { params: { inUse: usage.inUse, total: usage.total } });
      }
      const lease = tx.create(SeatLeaseEntity, {
        id: randomUUID(),
        accountId,
        poolAccountId: accountId,
        organizationId: null,
        licenseId: license.id,
        deviceHash,
        platform,
        kind: 'OFFLINE_BOUND',
        acquiredAt: now,
        lastHeartbeatAt: now,
        reservedUntil: null,
        lapsesAt: null,
        endedAt: null,
        endReason: null,
        offlineNonce: nonce,
        offlineIssuedAt: now,
      });
      await tx.insert(SeatLeaseEntity, lease);
      tell.pool(accountId);
      return { lease, license };
    });
  }

  /**
   * R8: support frees the seats an account holds on a license, offline-bound ones too (the
   * broken-computer case). Returns how many ended.
   */
  async supportRelease(accountId: string, licenseId: string): Promise<number> {
    return this.run(async (tx, tell) => {
      const ended = returningRows(
        await tx.query(
          `UPDATE seat_leases SET ended_at = $3, end_reason = 'SUPPORT'
            WHERE account_id = $1 AND license_id = $2 AND ended_at IS NULL RETURNING id, pool_account_id`,
          [accountId, licenseId, this.now],
        ),
      );
      tell.ended(ended.map((r) => ({ id: r.id as string, poolAccountId: r.pool_account_id as string })));
      return ended.length;
    });
  }

  // ---------------------------------------------------------------- housekeeping

  /** Records TIMED_OUT for leases that lapsed (R4.3); they stopped counting when they lapsed. */
  async sweepLapsed(): Promise<number> {
    const rows = returningRows(
      await this.deps.ds.query(
        `UPDATE seat_leases SET ended_at = lapses_at, end_reason = 'TIMED_OUT'
          WHERE ended_at IS NULL AND lapses_at IS NOT NULL AND lapses_at <= $1 RETURNING id, pool_account_id`,
        [this.now],
      ),
    );
    const ended = rows.map((r) => ({ id: r.id as string, poolAccountId: r.pool_account_id as string }));
    this.deps.events.leasesEnded(ended);
    return rows.length;
  }

  /** Runs `work` in a transaction; what it tells is published once the transaction has committed (R7). */
  private run<T>(work: (tx: EntityManager, tell: Tell) => Promise<T>): Promise<T> {
    return inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      const ended: EndedLease[] = [];
      const pools = new Set<string>();
      const tell: Tell = {
        ended: (leases) => void ended.push(...leases),
        released: (leases) => leases.forEach((l) => pools.add(l.poolAccountId)),
        pool: (poolAccountId) => void pools.add(poolAccountId),
      };
      const result = await work(tx, tell);
      afterCommit(() => {
        this.deps.events.leasesEnded(ended);
        for (const pool of pools) this.deps.events.poolChanged(pool);
      });
      return result;
    });
  }
}

function groupByLicense<T extends { licenseId: string }>(leases: T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const l of leases) map.set(l.licenseId, [...(map.get(l.licenseId) ?? []), l]);
  return map;
}
