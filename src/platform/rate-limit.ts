import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import { AccessError } from './errors';

/**
 * Per-IP and per-account request rate limits (not the R1.6 login block, which is a licensing rule
 * of its own). Stored in PostgreSQL so that all instances share them; RATE_LIMIT_FACTOR multiplies
 * every limit. Windows run on wall time: they guard request rates, not licensing time.
 */
export const LIMITS = {
  'register:ip': { points: 30, seconds: 3600 },
  'login:ip': { points: 600, seconds: 3600 },
  'password-reset:ip': { points: 30, seconds: 3600 },
  // Per email *and* requesting address: a stranger's requests never use up the owner's (R1.6).
  'password-reset:email-ip': { points: 5, seconds: 3600 },
  'verification-resend:account': { points: 5, seconds: 3600 },
  // Guessing a 60-bit key at 60 tries an hour is hopeless; real users redeem a handful.
  'redeem:account': { points: 30, seconds: 3600 },
  'redeem:ip': { points: 60, seconds: 3600 },
  'handoff:account': { points: 30, seconds: 3600 },
} as const;

export type LimitName = keyof typeof LIMITS;

export const RATE_LIMIT_TABLE = 'rate_limits';

export class RateLimits {
  private readonly limiters = new Map<LimitName, RateLimiterPostgres>();

  constructor(pool: unknown, factor: number) {
    for (const [name, limit] of Object.entries(LIMITS) as Array<[LimitName, { points: number; seconds: number }]>) {
      this.limiters.set(
        name,
        new RateLimiterPostgres({
          storeClient: pool,
          storeType: 'pool',
          tableName: RATE_LIMIT_TABLE,
          tableCreated: true, // the table comes from a migration
          clearExpiredByTimeout: false, // the jobs runner prunes it
          keyPrefix: name,
          points: Math.max(1, Math.ceil(limit.points * factor)),
          duration: limit.seconds,
        }),
      );
    }
  }

  /** Counts one request against `name` for `key`; RATE_LIMITED (with retryAfterSeconds) past the limit. */
  async consume(name: LimitName, key: string): Promise<void> {
    try {
      await this.limiters.get(name)!.consume(key);
    } catch (res) {
      if (res instanceof RateLimiterRes) {
        throw new AccessError('RATE_LIMITED', { retryAfterSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) });
      }
      throw res;
    }
  }
}
