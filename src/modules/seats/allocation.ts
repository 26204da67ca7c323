import { isActive, isSharable } from '../licenses/rules';
import type { LicenseEntity, PlatformName } from '../licenses/entities';

/**
 * Seat arithmetic (R4), pure. Every live lease is served by one license of its pool, and each
 * license carries at most its seats: member leases take a seat each, an owner's devices take a
 * seat per two (R4.4). Because no license is ever over its seats, no pool is either (R4.8).
 */

export type SeatKindName = 'OWNER' | 'MEMBER' | 'OFFLINE_BOUND';

export interface LeaseFacts {
  id: string;
  kind: SeatKindName;
  platform: PlatformName;
  licenseId: string;
  acquiredAt: Date;
}

type LicenseFacts = Pick<LicenseEntity, 'id' | 'type' | 'seats' | 'platforms' | 'expiresAt' | 'revokedAt'>;

/** Owner devices (the owner's own leases, offline-bound ones included) pair up on one seat. */
export function isOwnerDevice(kind: SeatKindName): boolean {
  return kind === 'OWNER' || kind === 'OFFLINE_BOUND';
}

export function seatsUsed(leases: Array<Pick<LeaseFacts, 'kind'>>): number {
  const owners = leases.filter((l) => isOwnerDevice(l.kind)).length;
  return leases.length - owners + Math.ceil(owners / 2);
}

/** Licenses of a pool that may serve a kind of lease now: members only ever use sharable ones (R2.6). */
export function servingCandidates<T extends LicenseFacts>(licenses: T[], kind: SeatKindName, now: Date): T[] {
  return licenses
    .filter((l) => isActive(l, now) && (isOwnerDevice(kind) || isSharable(l.type)))
    .sort((a, b) => (b.expiresAt?.getTime() ?? Infinity) - (a.expiresAt?.getTime() ?? Infinity) || a.id.localeCompare(b.id));
}

/**
 * The license to serve a new lease, or undefined when every candidate is full. An owner device
 * first fills the free half of a seat its other device holds.
 */
export function pickLicense<T extends LicenseFacts>(
  candidates: T[],
  leasesByLicense: Map<string, Array<Pick<LeaseFacts, 'kind'>>>,
  kind: SeatKindName,
  platform: PlatformName,
): T | undefined {
  const covering = candidates.filter((l) => l.platforms.includes(platform));
  if (isOwnerDevice(kind)) {
    const half = covering.find((l) => (leasesByLicense.get(l.id) ?? []).filter((x) => isOwnerDevice(x.kind)).length % 2 === 1);
    if (half) return half;
  }
  return covering.find((l) => seatsUsed(leasesByLicense.get(l.id) ?? []) < l.seats);
}

export interface Reconciled {
  /** Leases to keep, with the license that serves each (possibly another than before). */
  keep: Map<string, string>;
  /** Leases beyond the pool's capacity: they end with LICENSE_ENDED (R4.10). */
  end: string[];
}

/**
 * R4.10: when a pool shrinks (a license expired or was revoked) below its live leases, the leases
 * beyond capacity end, newest member sessions first. Owner devices are placed first (pairing up on
 * half-used seats), then members oldest first, each on its current license when that still can,
 * else on any that can. The same packing also undoes fragmentation (an owner's two devices each
 * holding a seat of a different license).
 */
export function reconcile(licenses: LicenseFacts[], leases: LeaseFacts[], now: Date): Reconciled {
  const order = [...leases].sort(
    (a, b) => Number(!isOwnerDevice(a.kind)) - Number(!isOwnerDevice(b.kind)) || a.acquiredAt.getTime() - b.acquiredAt.getTime() || a.id.localeCompare(b.id),
  );
  const placed = new Map<string, Array<Pick<LeaseFacts, 'kind'>>>();
  const keep = new Map<string, string>();
  const end: string[] = [];
  for (const lease of order) {
    const candidates = servingCandidates(licenses, lease.kind, now);
    const current = candidates.find((l) => l.id === lease.licenseId);
    const fits = (l: LicenseFacts) => pickLicense([l], placed, lease.kind, lease.platform) !== undefined;
    // Owner devices pair up on one seat wherever a half seat is open, so that an owner's devices
    // never hold two seats where one would do; everything else stays where it is when it can.
    const half = isOwnerDevice(lease.kind)
      ? candidates.find((l) => l.platforms.includes(lease.platform) && (placed.get(l.id) ?? []).filter((x) => isOwnerDevice(x.kind)).length % 2 === 1)
      : undefined;
    // A displaced lease tries the licenses that cover the fewest platforms first, so that it does not
    // take the one seat another platform's lease could have used.
    const byNarrowness = [...candidates].sort((a, b) => a.platforms.length - b.platforms.length);
    const target = half ?? (current && fits(current) ? current : pickLicense(byNarrowness, placed, lease.kind, lease.platform));
    if (!target) {
      end.push(lease.id);
      continue;
    }
    keep.set(lease.id, target.id);
    placed.set(target.id, [...(placed.get(target.id) ?? []), lease]);
  }
  return { keep, end };
}

/** Seats of a pool now, for the kind of user (members count sharable licenses only). */
export function capacity(licenses: LicenseFacts[], kind: SeatKindName, now: Date): number {
  return servingCandidates(licenses, kind, now).reduce((sum, l) => sum + l.seats, 0);
}

/**
 * Whether a pool holds leases its licenses no longer carry: a lease on an inactive license, or a
 * license over its seats. Then R4.10 settles the pool before anything else is decided on it.
 */
export function needsReconcile(licenses: LicenseFacts[], leases: Array<Pick<LeaseFacts, 'kind' | 'licenseId'>>, now: Date): boolean {
  const byId = new Map(licenses.map((l) => [l.id, l]));
  const perLicense = new Map<string, Array<Pick<LeaseFacts, 'kind'>>>();
  for (const lease of leases) perLicense.set(lease.licenseId, [...(perLicense.get(lease.licenseId) ?? []), lease]);
  for (const [licenseId, onIt] of perLicense) {
    const license = byId.get(licenseId);
    if (!license || !isActive(license, now) || seatsUsed(onIt) > license.seats) return true;
  }
  return false;
}
