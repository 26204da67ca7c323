import type { RequestHandler } from 'express';
import { SignJWT, type JSONWebKeySet } from 'jose';
import type { DataSource } from 'typeorm';
import type { Session } from '../../platform/auth/session';
import type { Clock } from '../../platform/clock';
import { deviceDigest } from '../../offline/format';
import type { EntitlementView } from '../licenses/service';
import type { SeatLeaseEntity } from '../seats/entities';
import { ENTITLEMENT_ALG, ENTITLEMENT_AUDIENCE, ENTITLEMENT_TOKEN_TYPE, tokenExpiry, type EntitlementClaims } from './claims';
import { EntitlementKeys, openDeviceDigest, sealDeviceDigest, type PublicEntitlementJwk } from './keys';

export interface EntitlementServiceDeps {
  ds: DataSource;
  clock: Clock;
  appSecret: string;
  /** The `iss` claim: PUBLIC_URL. */
  publicUrl: string;
  keys: EntitlementKeys;
}

/** The device IDs this instance was told with a lease in this process (acquire), so that its token needs no read. */
const devicesOfLeases = new WeakMap<object, string>();

/**
 * Signed entitlements (R7.5): `Entitlement.token`, a compact JWS (EdDSA) of what the app is told
 * online, so that a proxy on the user's computer cannot rewrite `canUse`; and the JWKS that
 * verifies it. See claims.ts for the claims and expiries, keys.ts for the keys and their rotation.
 */
export class EntitlementService {
  constructor(private readonly deps: EntitlementServiceDeps) {}

  /**
   * The token of an entitlement, for the account it speaks of: the caller of `licenseStatus`, or the
   * holder of the lease (an administrator or support listing someone's lease gets null). Null too
   * when the server does not know the lease's device (a lease acquired before signed entitlements,
   * until the app acquires again).
   */
  async token(session: Session, view: EntitlementView): Promise<string | null> {
    const account = await session.assert('account:use');
    const subject = view.subject;
    if (!subject) return null;
    if (subject.lease && subject.lease.accountId !== account.id) return null;
    const known = subject.deviceId ?? (subject.lease ? devicesOfLeases.get(subject.lease) : undefined);
    const dev = known !== undefined ? deviceDigest(known) : subject.lease ? await this.storedDigest(subject.lease.id) : null;
    if (!dev) return null;
    const now = this.deps.clock.now();
    const exp = tokenExpiry(view, subject, now);
    const claims: EntitlementClaims = {
      iss: this.deps.publicUrl,
      aud: ENTITLEMENT_AUDIENCE,
      sub: account.userId,
      lic: view.license?.licenseId ?? null,
      dev,
      canUse: view.canUse,
      canSave: view.canSave,
      ...(subject.ofLease && subject.lease ? { lease: subject.lease.id } : {}),
      iat: Math.floor(now.getTime() / 1000),
      exp: Math.floor(exp.getTime() / 1000),
    };
    const key = await this.deps.keys.signingKey();
    // Recorded before the token leaves, so that the key is not retired while the token can be valid.
    await this.deps.keys.signedUntil(key.kid, new Date(claims.exp * 1000));
    return new SignJWT({ ...claims }).setProtectedHeader({ alg: ENTITLEMENT_ALG, kid: key.kid, typ: ENTITLEMENT_TOKEN_TYPE }).sign(key.privateKey);
  }

  /**
   * After `acquireSeat`: keeps the lease's device digest (sealed under APP_SECRET) so that the
   * tokens of its heartbeats, which name only the lease, can name the device. Returns `acquired`.
   */
  async rememberDevice<T extends { lease: SeatLeaseEntity }>(session: Session, acquired: T, deviceId: string): Promise<T> {
    const account = await session.assert('account:use');
    const lease = acquired.lease;
    if (lease.accountId !== account.id) return acquired;
    devicesOfLeases.set(lease, deviceId);
    await this.deps.ds.query('INSERT INTO entitlement_devices (lease_id, device_digest_sealed) VALUES ($1, $2) ON CONFLICT (lease_id) DO NOTHING', [
      lease.id,
      sealDeviceDigest(this.deps.appSecret, lease.id, deviceDigest(deviceId)),
    ]);
    return acquired;
  }

  /** The JWK Set of every key not retired (public: `GET /.well-known/jwks.json`). */
  async jwks(): Promise<JSONWebKeySet & { keys: PublicEntitlementJwk[] }> {
    return { keys: await this.deps.keys.published() };
  }

  /** Operator: a new current key (see {@link rotateEntitlementKey}). */
  rotateKey(): Promise<{ kid: string; previousKid: string | null; retired: string[] }> {
    return rotateWith(this.deps.keys);
  }

  /** Operator or job: retires superseded keys whose tokens have all expired. */
  retireKeys(): Promise<string[]> {
    return this.deps.keys.retire();
  }

  private async storedDigest(leaseId: string): Promise<string | null> {
    const [row] = await this.deps.ds.query<Array<{ device_digest_sealed: string }>>(
      'SELECT device_digest_sealed FROM entitlement_devices WHERE lease_id = $1',
      [leaseId],
    );
    return row ? openDeviceDigest(this.deps.appSecret, leaseId, row.device_digest_sealed) : null;
  }
}

async function rotateWith(keys: EntitlementKeys): Promise<{ kid: string; previousKid: string | null; retired: string[] }> {
  const rotated = await keys.rotate();
  return { ...rotated, retired: await keys.retire() };
}

/**
 * The command line's hook (`tessera rotate-entitlement-key`): a new key with a new `kid` becomes
 * current on every instance within a minute; tokens signed with the old key keep verifying until
 * they expire, and the old key leaves the JWKS once none can be valid. Also retires keys due.
 */
export function rotateEntitlementKey(ds: DataSource, appSecret: string, clock: Clock): Promise<{ kid: string; previousKid: string | null; retired: string[] }> {
  return rotateWith(new EntitlementKeys(ds, appSecret, clock));
}

/**
 * `GET /.well-known/jwks.json`: the JWK Set that verifies entitlement tokens. Cached briefly, so
 * that a rotated key shows within minutes (a client meeting an unknown `kid` fetches again).
 */
export function jwksHandler(services: { entitlements: Pick<EntitlementService, 'jwks'> }): RequestHandler {
  return async (_req, res, next) => {
    try {
      res
        .type('application/json')
        .set('Cache-Control', 'public, max-age=300')
        .send(JSON.stringify(await services.entitlements.jwks()));
    } catch (err) {
      next(err);
    }
  };
}
