import type { Session } from '../../platform/auth/session';
import { AccessError } from '../../platform/errors';
import { channels, type EventBus } from '../../platform/events';
import { pushStream } from '../../platform/graphql/stream';
import type { Logger } from '../../platform/logger';
import type { AccountService } from '../accounts/service';
import type { OrganizationService } from '../organizations/service';
import type { SeatLeaseEntity } from '../seats/entities';
import type { SeatService, SeatUsageView } from '../seats/service';
import { waitlistChannel, type WaitlistService } from '../seats/waitlist';
import type { WaitlistEntryEntity } from '../seats/waitlist-entity';

export interface LiveServiceDeps {
  bus: EventBus;
  accounts: AccountService;
  organizations: OrganizationService;
  seats: SeatService;
  waitlist: WaitlistService;
  logger: Logger;
  /** Signals arriving within this window are answered with one message (a storm becomes one push). */
  coalesceMs?: number;
  /** How often a quiet subscription re-checks that its token and rights still hold. */
  recheckMs?: number;
}

/**
 * Live updates (R7.2, R7.3) over graphql-ws. Authorization is checked when subscribing and again
 * before every push and periodically: a revoked token or a lost administrator right ends the
 * subscription. Every push carries the full current state, read from the database.
 */
/** End reasons the app's own release also gives: only the lease channel says the app must hear of them. */
const RELEASE_REASONS: ReadonlySet<string> = new Set(['CLOSED', 'LOGGED_OUT', 'TIMED_OUT']);

/**
 * Why a subscription ends when its listener may no longer listen: pushed as the last event and
 * thrown by the field's resolver, so the client gets an error that says why (then `complete`).
 */
export class SubscriptionEnded extends AccessError {}

/**
 * One database read shared by every subscriber that needs it after the same signal: a read that
 * started after a subscriber's signal arrived shows the state that signal announced (events are
 * published after commit), so later askers reuse it instead of reading again.
 */
class SharedReads<T> {
  private readonly entries = new Map<string, { startedAt: number; value: Promise<T> }>();

  get(key: string, notBefore: number, load: () => Promise<T>): Promise<T> {
    const found = this.entries.get(key);
    if (found && found.startedAt >= notBefore) return found.value;
    const entry = { startedAt: performance.now(), value: load() };
    this.entries.set(key, entry);
    // Forget it once settled and no newer read replaced it (a failed read is never reused later).
    const forget = () => setTimeout(() => this.entries.get(key) === entry && this.entries.delete(key), 1_000).unref();
    entry.value.then(forget, () => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return entry.value;
  }
}

/**
 * Turns for pushes, a few per turn of the event loop: a pool change with a thousand subscribers
 * becomes a thousand pushes (each executed, serialized and sent), and done at once they would hold
 * the event loop for tens of milliseconds while every other request waits. In chunks, requests
 * are served in between.
 */
class PushTurns {
  private readonly waiting: Array<() => void> = [];
  private scheduled = false;

  constructor(private readonly perTurn = 25) {}

  turn(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const resolve of this.waiting.splice(0, this.perTurn)) resolve();
      if (this.waiting.length > 0) this.schedule();
    });
  }
}

export class LiveService {
  private readonly usageReads = new SharedReads<SeatUsageView>();
  private readonly turns = new PushTurns();

  constructor(private readonly deps: LiveServiceDeps) {}

  /** The session behind a WebSocket's token now, or undefined once it is no longer valid. */
  private async sessionOf(bearer: string | undefined): Promise<Session | undefined> {
    if (!bearer) return undefined;
    return this.deps.accounts.sessionOf(bearer);
  }

  /**
   * R7.2: the organization's seat usage; the first event is the current state. A pool change is
   * answered from one read shared by every subscriber of that organization on this instance; who may
   * listen is checked again on every signal of the listener's account (a revoked token, a lost
   * administrator right) and every `recheckMs`, and a listener who may not is told why.
   */
  async seatUsage(session: Session, bearer: string | undefined, organizationId: string): Promise<AsyncIterableIterator<SeatUsageView | SubscriptionEnded>> {
    await session.assert('organization:read', organizationId);
    let org = await this.deps.organizations.organization(session, organizationId);
    if (!bearer) throw new AccessError('UNAUTHENTICATED');
    const first = await this.deps.seats.usageOf(session, org);
    return pushStream<SeatUsageView | SubscriptionEnded>((push, end) => {
      push(first);
      const stop = (err: SubscriptionEnded) => {
        push(err);
        end();
      };
      let signalAt = 0;
      const pushUsage = this.coalesced(async () => {
        const usage = await this.usageReads.get(org.id, signalAt, () => this.deps.seats.usageForListener(org));
        await this.turns.turn();
        push(usage);
      }, end);
      const onPool = () => {
        signalAt = performance.now();
        pushUsage();
      };
      const recheck = this.coalesced(async () => {
        const now = await this.sessionOf(bearer);
        if (!now) return stop(new SubscriptionEnded('UNAUTHENTICATED'));
        try {
          org = await this.deps.organizations.organization(now, organizationId);
        } catch {
          return stop(new SubscriptionEnded('NOT_FOUND')); // no longer an administrator (or the organization is gone)
        }
        onPool();
      }, end);
      const offPool = this.deps.bus.subscribe(channels.pool(org.ownerAccountId), onPool);
      const offAccount = this.deps.bus.subscribe(channels.account(session.account!.id), recheck);
      const timer = setInterval(recheck, this.deps.recheckMs ?? 30_000);
      timer.unref();
      return () => {
        offPool();
        offAccount();
        clearInterval(timer);
      };
    });
  }

  /**
   * R7.3: the caller's own lease, pushed when it ends for any reason but its own release (lapse,
   * takeover, block, license ended, support, logging out everywhere); the subscription then ends.
   */
  async leaseChanged(session: Session, bearer: string | undefined, leaseId: string): Promise<AsyncIterableIterator<SeatLeaseEntity | SubscriptionEnded>> {
    await session.assert('account:use');
    const lease = await this.deps.seats.leaseOf(session, leaseId);
    if (!bearer) throw new AccessError('UNAUTHENTICATED');
    return pushStream<SeatLeaseEntity | SubscriptionEnded>((push, end) => {
      if (lease.endedAt) {
        push(lease);
        end();
        return () => undefined;
      }
      // Only the lease channel tells of endings worth pushing (its own release publishes none there);
      // the other signals check that the listener may still listen, and close quietly otherwise.
      const onEnded = this.coalesced(async () => {
        const current = await this.deps.seats.leaseById(leaseId);
        if (current?.endedAt) {
          push(current);
          end();
        }
      }, end);
      // The account's signal (a block, logging out everywhere…) can arrive before the lease's own:
      // a lease ended for a reason no release of the app gives is pushed whichever comes first. A
      // reason a release also gives (CLOSED, LOGGED_OUT, TIMED_OUT) is left to the lease channel,
      // which its own release never uses; the periodic check closes those quietly later.
      const recheck = (periodic: boolean) =>
        this.coalesced(async () => {
          if (!(await this.sessionOf(bearer))) {
            push(new SubscriptionEnded('UNAUTHENTICATED'));
            return end();
          }
          const current = await this.deps.seats.leaseById(leaseId);
          if (!current?.endedAt) return;
          if (current.endReason && !RELEASE_REASONS.has(current.endReason)) push(current);
          if (periodic || (current.endReason && !RELEASE_REASONS.has(current.endReason))) end();
        }, end);
      const offLease = this.deps.bus.subscribe(channels.lease(leaseId), onEnded);
      const offAccount = this.deps.bus.subscribe(channels.account(session.account!.id), recheck(false));
      // The lease may have ended between reading it and listening: look once more now.
      onEnded();
      const timer = setInterval(recheck(true), this.deps.recheckMs ?? 30_000);
      timer.unref();
      return () => {
        offLease();
        offAccount();
        clearInterval(timer);
      };
    });
  }

  /** R4.13: the caller's place on an organization's wait-list; the current state first. */
  async waitlist(
    session: Session,
    bearer: string | undefined,
    organizationId: string,
  ): Promise<AsyncIterableIterator<WaitlistEntryEntity | SubscriptionEnded>> {
    const account = await session.assert('account:use');
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(organizationId)) throw new AccessError('NOT_FOUND');
    const first = await this.deps.waitlist.entryFor(account.id, organizationId);
    if (!first) throw new AccessError('NOT_FOUND');
    if (!bearer) throw new AccessError('UNAUTHENTICATED');
    return pushStream<WaitlistEntryEntity | SubscriptionEnded>((push, end) => {
      push(first);
      let last = `${first.status}:${first.holdUntil?.toISOString()}`;
      const check = this.coalesced(async () => {
        if (!(await this.sessionOf(bearer))) {
          push(new SubscriptionEnded('UNAUTHENTICATED'));
          return end();
        }
        const current = await this.deps.waitlist.entryFor(account.id, organizationId);
        if (!current) return end();
        const state = `${current.status}:${current.holdUntil?.toISOString()}`;
        if (state !== last) {
          last = state;
          push(current);
        }
        if (current.status === 'FULFILLED' || current.status === 'CANCELLED') end();
      }, end);
      const offLine = this.deps.bus.subscribe(waitlistChannel(account.id), check);
      const offAccount = this.deps.bus.subscribe(channels.account(account.id), check);
      const timer = setInterval(check, this.deps.recheckMs ?? 30_000);
      timer.unref();
      return () => {
        offLine();
        offAccount();
        clearInterval(timer);
      };
    });
  }

  /** Runs `work` at most once per window however many signals arrive, never twice at once. */
  private coalesced(work: () => Promise<void>, end: () => void): () => void {
    let scheduled = false;
    let running = false;
    let again = false;
    const run = async () => {
      scheduled = false;
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await work();
      } catch (err) {
        this.deps.logger.warn({ err }, 'live update failed; ending the subscription');
        end();
      } finally {
        running = false;
        if (again) {
          again = false;
          schedule();
        }
      }
    };
    const schedule = () => {
      if (scheduled) return;
      scheduled = true;
      setTimeout(() => void run(), this.deps.coalesceMs ?? 50).unref();
    };
    return schedule;
  }
}
