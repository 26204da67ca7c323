import { DAY, HOUR } from '../../platform/clock';
import type { SeatKindName } from '../seats/allocation';

/**
 * The signed entitlement's contract (R7.5), agreed with the desktop app. A compact JWS (EdDSA,
 * Ed25519) with this protected header and these claims; verified with the keys at
 * {@link JWKS_PATH}.
 */
export const ENTITLEMENT_TOKEN_TYPE = 'tessera-entitlement+jwt';
export const ENTITLEMENT_AUDIENCE = 'tessera-desktop';
export const ENTITLEMENT_ALG = 'EdDSA';
export const JWKS_PATH = '/.well-known/jwks.json';

/** An owner seat's entitlement, and `licenseStatus`'s: 14 days (never past the license's end). */
export const OWNER_TOKEN_MS = 14 * DAY;
/** An answer that says the app may not run: short, so that a license bought meanwhile shows soon. */
export const REFUSED_TOKEN_MS = HOUR;

export interface EntitlementClaims {
  iss: string;
  aud: typeof ENTITLEMENT_AUDIENCE;
  /** The account's user ID, `A-XXX-XXX`. */
  sub: string;
  /** The serving license's ID, `L-XXX-XXX`, or null. */
  lic: string | null;
  /** The device digest of R6 (`deviceDigest(deviceId)` of src/offline/format.ts): 64 lowercase hex digits. */
  dev: string;
  canUse: boolean;
  canSave: boolean;
  /** Only in a lease's entitlement: the lease's ID. */
  lease?: string;
  iat: number;
  exp: number;
}

/** The lease facts a token reads. */
export interface SubjectLease {
  id: string;
  accountId: string | null;
  kind: SeatKindName;
  lapsesAt: Date | null;
}

/**
 * Whom and what an entitlement speaks of, beyond what it shows: set by the seat module when it
 * builds the answer (the device of `licenseStatus`, or the lease of a lease's entitlement).
 */
export interface EntitlementSubject {
  /** The device ID this request named (`licenseStatus`, `acquireSeat`); null when only the lease is known. */
  deviceId: string | null;
  /** The lease the answer is about (a lease's entitlement), or the live lease serving the device (`licenseStatus`). */
  lease: SubjectLease | null;
  /** A lease's entitlement (carries the `lease` claim) rather than `licenseStatus`. */
  ofLease: boolean;
}

/**
 * When the token expires:
 * - the app may not run (`canUse` false): in {@link REFUSED_TOKEN_MS};
 * - a member lease's entitlement: at the lease's lapse (heartbeat timeout or offline reservation);
 * - an owner seat's (OWNER, OFFLINE_BOUND), or a lease without a lapse: in 14 days;
 * - `licenseStatus`: in 14 days, or at the lapse of the live member lease serving the device if sooner;
 * and never after the serving license's own end.
 */
export function tokenExpiry(
  view: { canUse: boolean; license: { expiresAt: Date | null } | null },
  subject: Pick<EntitlementSubject, 'lease' | 'ofLease'>,
  now: Date,
): Date {
  const t = now.getTime();
  if (!view.canUse) return new Date(t + REFUSED_TOKEN_MS);
  const lease = subject.lease;
  const lapse = lease && lease.kind === 'MEMBER' && lease.lapsesAt ? lease.lapsesAt.getTime() : null;
  let exp = subject.ofLease && lapse !== null ? lapse : t + OWNER_TOKEN_MS;
  if (!subject.ofLease && lapse !== null) exp = Math.min(exp, lapse);
  const end = view.license?.expiresAt?.getTime();
  if (end !== undefined) exp = Math.min(exp, end);
  return new Date(exp);
}
