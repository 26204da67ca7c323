import { DAY } from '../../platform/clock';
import { PERSONAL_TYPES, SHARABLE_TYPES, type LicenseEntity, type LicenseStatusName, type LicenseTypeName } from './entities';

/** Pure licensing rules of R2: no I/O, time passed in. */

export const EXPIRES_SOON_MS = 14 * DAY; // R2.10
export const REMINDER_DAYS = [30, 7, 1] as const; // R2.10

type LicenseFacts = Pick<LicenseEntity, 'type' | 'seats' | 'expiresAt' | 'revokedAt'>;

export function statusOf(license: Pick<LicenseEntity, 'expiresAt' | 'revokedAt'>, now: Date): LicenseStatusName {
  if (license.revokedAt) return 'REVOKED';
  if (license.expiresAt && license.expiresAt.getTime() <= now.getTime()) return 'EXPIRED';
  return 'ACTIVE';
}

export function isActive(license: Pick<LicenseEntity, 'expiresAt' | 'revokedAt'>, now: Date): boolean {
  return statusOf(license, now) === 'ACTIVE';
}

export function isSharable(type: LicenseTypeName): boolean {
  return SHARABLE_TYPES.includes(type);
}

/** R6.1: permanent, and not a personal type. */
export function isOfflineCapable(license: Pick<LicenseEntity, 'type' | 'expiresAt'>): boolean {
  return license.expiresAt === null && !PERSONAL_TYPES.includes(license.type);
}

/**
 * R2.8: a pool holds one family of sharable license. Redeeming `incoming` is refused when the
 * pool has an active sharable license of another family.
 */
export function familyConflict(pool: LicenseFacts[], incoming: Pick<LicenseEntity, 'type'>, now: Date): boolean {
  if (!isSharable(incoming.type)) return false;
  return pool.some((l) => isSharable(l.type) && l.type !== incoming.type && isActive(l, now));
}

export interface PoolPeriod {
  from: Date;
  until: Date | null;
  seats: number;
}

/**
 * R2.7: seats add up, each license keeping its own expiry. From `now` on, one period per stretch
 * of constant seats; the last is open-ended (0 seats once everything has expired).
 */
export function poolSchedule(pool: LicenseFacts[], now: Date): PoolPeriod[] {
  const active = pool.filter((l) => isActive(l, now));
  const ends = [...new Set(active.filter((l) => l.expiresAt).map((l) => l.expiresAt!.getTime()))].sort((a, b) => a - b);
  const periods: PoolPeriod[] = [];
  let from = now.getTime();
  for (const end of [...ends, Infinity]) {
    const seats = active.filter((l) => !l.expiresAt || l.expiresAt.getTime() > from).reduce((sum, l) => sum + l.seats, 0);
    periods.push({ from: new Date(from), until: end === Infinity ? null : new Date(end), seats });
    from = end;
  }
  return periods;
}

export function poolTotal(pool: LicenseFacts[], now: Date): number {
  return pool.filter((l) => isActive(l, now)).reduce((sum, l) => sum + l.seats, 0);
}

/** The license that serves its owner: an active one, permanent first, else the one lasting longest. */
export function servingLicense<T extends LicenseFacts>(pool: T[], now: Date): T | undefined {
  return pool.filter((l) => isActive(l, now)).sort((a, b) => (b.expiresAt?.getTime() ?? Infinity) - (a.expiresAt?.getTime() ?? Infinity))[0];
}

export function expiresSoon(expiresAt: Date | null | undefined, now: Date): boolean {
  return !!expiresAt && expiresAt.getTime() > now.getTime() && expiresAt.getTime() - now.getTime() <= EXPIRES_SOON_MS;
}

/**
 * R2.10: which reminder is due now for a license ending at `expiresAt`, given those already sent:
 * the nearest threshold reached. Thresholds passed over at once (a license issued with 5 days
 * left) are not sent late; only the nearest is.
 */
export function dueReminder(expiresAt: Date, now: Date, sent: number[]): number | undefined {
  const left = expiresAt.getTime() - now.getTime();
  if (left <= 0) return undefined;
  const reached = REMINDER_DAYS.filter((d) => left <= d * DAY);
  if (reached.length === 0) return undefined;
  const nearest = Math.min(...reached);
  return sent.some((s) => s <= nearest) ? undefined : nearest;
}
