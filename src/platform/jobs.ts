import type { DataSource } from 'typeorm';
import type { Logger } from './logger';

/**
 * Periodic jobs (login throttle tidy-up now; lapse sweep and expiry reminders later). Each round
 * takes a PostgreSQL advisory lock, so that with several instances one of them runs each round.
 */
export class Jobs {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly registered = new Map<string, { lockKey: number; round: () => Promise<unknown> }>();
  private stopped = false;
  /** Told of every round this instance ran (metrics): `ok` or `failed`. */
  onRound: (name: string, outcome: 'ok' | 'failed') => void = () => undefined;

  constructor(
    private readonly ds: DataSource,
    private readonly logger: Logger,
    private readonly timersOn = true,
  ) {}

  every(name: string, lockKey: number, intervalMs: number, round: () => Promise<unknown>): void {
    this.registered.set(name, { lockKey, round });
    if (!this.timersOn) return; // JOBS=off: rounds run only through run()
    const timer = setInterval(() => void this.runOnce(name, lockKey, round), intervalMs);
    timer.unref();
    this.timers.push(timer);
  }

  /** Runs one round now if no other instance is running it; resolves to whether it ran. */
  async runOnce(name: string, lockKey: number, round: () => Promise<unknown>): Promise<boolean> {
    if (this.stopped) return false;
    let ran = false;
    const p = this.ds
      .transaction(async (tx) => {
        // This transaction only holds the round's lock while the round works on other connections:
        // it is idle on purpose, and must not be ended by idle_in_transaction_session_timeout.
        await tx.query('SET LOCAL idle_in_transaction_session_timeout = 0');
        const [{ locked }] = await tx.query<Array<{ locked: boolean }>>('SELECT pg_try_advisory_xact_lock($1) AS locked', [lockKey]);
        if (!locked) return;
        ran = true;
        const result = await round();
        this.logger.debug({ job: name, result }, 'job round done');
      })
      .then(() => {
        if (ran) this.onRound(name, 'ok'); // once committed
      })
      .catch((err: unknown) => {
        this.logger.error({ err, job: name }, 'job round failed');
        this.onRound(name, 'failed');
      });
    this.running.add(p);
    await p;
    this.running.delete(p);
    return ran;
  }

  /** Runs a registered job's round now (operators and tests; the timer keeps its own pace). */
  async run(name: string): Promise<boolean> {
    const job = this.registered.get(name);
    if (!job) throw new Error(`no job named ${name}`);
    return this.runOnce(name, job.lockKey, job.round);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.running]);
  }
}

export const JOB_LOCKS = {
  pruneLoginThrottle: 7_100_101,
  pruneRateLimits: 7_100_102,
  expiryReminders: 7_100_103,
  sweepLapsedSeats: 7_100_104,
  licenseExpiryEvents: 7_100_105,
  waitlist: 7_100_106,
} as const;
