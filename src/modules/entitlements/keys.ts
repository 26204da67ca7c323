import { createCipheriv, createDecipheriv, createPrivateKey, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import type { DataSource, EntityManager } from 'typeorm';
import { DAY, SECOND, type Clock } from '../../platform/clock';

/**
 * The Ed25519 keys that sign entitlements (R7.5), kept like the offline key (R6.3): in the
 * database (table `entitlement_keys`), so that every instance signs with the same key and a restart
 * keeps it, the private key sealed with AES-256-GCM under a key derived from APP_SECRET (the key ID
 * bound in as associated data, so that sealed keys cannot be swapped between rows).
 *
 * Rotation: one key is current (`superseded_at` null) and signs; `rotate` makes a new key current
 * and marks the old one superseded. Every key not retired is published in the JWKS, so that tokens
 * an old key signed still verify. Each key records `valid_until`, a high-water mark (rounded up to
 * the day) of the expiry of every token it signed, written before the token is handed out; a
 * superseded key is retired (and leaves the JWKS) once `max(superseded_at, valid_until)` plus
 * {@link RETIRE_MARGIN_MS} has passed: no token it signed can still be valid by then.
 */

/** Clock skew and caches (an instance still signing with a key it read up to a minute before the rotation). */
export const RETIRE_MARGIN_MS = DAY;
/** How long an instance keeps the current key before reading it again (a rotation elsewhere is seen within this). */
export const CURRENT_KEY_CACHE_MS = 60 * SECOND;

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
}

/** A published key as the JWKS lists it. */
export interface PublicEntitlementJwk extends JWK {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  use: 'sig';
  alg: 'EdDSA';
}

interface KeyRow {
  kid: string;
  public_jwk: PublicEntitlementJwk;
  private_key_encrypted: string;
  created_at: Date;
  superseded_at: Date | null;
  valid_until: Date | null;
  retired_at: Date | null;
}

/** Rows of an `UPDATE … RETURNING` through TypeORM's postgres driver (it answers `[rows, count]`). */
function updated<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return result as T[];
}

/** Serializes rotations (and the first key's creation) across instances and the command line. */
const ROTATION_LOCK = 'tessera-entitlement-keys';

export class EntitlementKeyError extends Error {}

export class EntitlementKeys {
  private current?: { at: number; key: Promise<SigningKey> };
  /** Per key: the `valid_until` this instance knows is stored (so that most signatures write nothing). */
  private readonly validUntil = new Map<string, number>();

  constructor(
    private readonly ds: DataSource,
    private readonly appSecret: string,
    private readonly clock: Clock,
  ) {}

  private wrappingKey(): Buffer {
    return Buffer.from(hkdfSync('sha256', this.appSecret, 'tessera', 'entitlement-signing-key', 32));
  }

  /** The current signing key, creating the first one if there is none yet. */
  signingKey(): Promise<SigningKey> {
    const now = Date.now(); // cache age: real time, not the (movable) server clock
    if (!this.current || now - this.current.at > CURRENT_KEY_CACHE_MS) {
      const key = this.loadCurrent();
      key.catch(() => {
        if (this.current?.key === key) this.current = undefined;
      });
      this.current = { at: now, key };
    }
    return this.current.key;
  }

  /** Records, before a token is handed out, that `kid` signed a token valid until `exp`. */
  async signedUntil(kid: string, exp: Date): Promise<void> {
    const known = this.validUntil.get(kid);
    if (known !== undefined && exp.getTime() <= known) return;
    const day = Math.ceil(exp.getTime() / DAY) * DAY;
    const [row] = updated<{ valid_until: Date }>(
      await this.ds.query(`UPDATE entitlement_keys SET valid_until = GREATEST(COALESCE(valid_until, $2), $2) WHERE kid = $1 RETURNING valid_until`, [
        kid,
        new Date(day),
      ]),
    );
    if (!row) throw new EntitlementKeyError(`entitlement key ${kid} is gone`);
    this.validUntil.set(kid, new Date(row.valid_until).getTime());
  }

  /** Every key not retired (retiring first those whose time has come): the JWKS. */
  async published(): Promise<PublicEntitlementJwk[]> {
    await this.retire();
    const rows = await this.ds.query<Array<Pick<KeyRow, 'public_jwk'>>>(
      'SELECT public_jwk FROM entitlement_keys WHERE retired_at IS NULL ORDER BY superseded_at DESC NULLS FIRST, created_at DESC',
    );
    if (rows.length === 0) {
      await this.signingKey();
      return this.published();
    }
    return rows.map((r) => r.public_jwk);
  }

  /** A new key becomes current; the one before it keeps verifying until retired. Returns the new key ID. */
  async rotate(): Promise<{ kid: string; previousKid: string | null }> {
    const result = await this.ds.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [ROTATION_LOCK]);
      const now = this.clock.now();
      const [previous] = updated<{ kid: string }>(
        await tx.query('UPDATE entitlement_keys SET superseded_at = $1 WHERE superseded_at IS NULL RETURNING kid', [now]),
      );
      const kid = await this.insertKey(tx, now);
      return { kid, previousKid: previous?.kid ?? null };
    });
    this.current = undefined;
    await this.retire();
    return result;
  }

  /** Retires superseded keys no token of which can still be valid. Returns their key IDs. */
  async retire(): Promise<string[]> {
    const now = this.clock.now();
    const rows = updated<{ kid: string }>(
      await this.ds.query(
        `UPDATE entitlement_keys SET retired_at = $1
        WHERE retired_at IS NULL AND superseded_at IS NOT NULL
          AND GREATEST(superseded_at, COALESCE(valid_until, superseded_at)) + ($2 * interval '1 millisecond') <= $1
        RETURNING kid`,
        [now, RETIRE_MARGIN_MS],
      ),
    );
    return rows.map((r) => r.kid);
  }

  private async loadCurrent(): Promise<SigningKey> {
    let [row] = await this.ds.query<KeyRow[]>('SELECT * FROM entitlement_keys WHERE superseded_at IS NULL');
    if (!row) {
      await this.ds.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [ROTATION_LOCK]);
        const [exists] = await tx.query<unknown[]>('SELECT 1 FROM entitlement_keys WHERE superseded_at IS NULL');
        if (!exists) await this.insertKey(tx, this.clock.now());
      });
      [row] = await this.ds.query<KeyRow[]>('SELECT * FROM entitlement_keys WHERE superseded_at IS NULL');
    }
    if (row.valid_until) this.validUntil.set(row.kid, new Date(row.valid_until).getTime());
    return { kid: row.kid, privateKey: this.unseal(row) };
  }

  private async insertKey(tx: EntityManager, now: Date): Promise<string> {
    const pair = generateKeyPairSync('ed25519');
    const jwk = await exportJWK(pair.publicKey);
    const kid = await calculateJwkThumbprint(jwk, 'sha256');
    const publicJwk: PublicEntitlementJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x!, kid, use: 'sig', alg: 'EdDSA' };
    const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
    await tx.query('INSERT INTO entitlement_keys (kid, public_jwk, private_key_encrypted, created_at) VALUES ($1, $2, $3, $4)', [
      kid,
      JSON.stringify(publicJwk),
      this.seal(kid, der),
      now,
    ]);
    return kid;
  }

  private seal(kid: string, plain: Buffer): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.wrappingKey(), iv);
    cipher.setAAD(Buffer.from(kid, 'utf8'));
    return Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]).toString('base64');
  }

  private unseal(row: Pick<KeyRow, 'kid' | 'private_key_encrypted'>): KeyObject {
    const blob = Buffer.from(row.private_key_encrypted, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.wrappingKey(), blob.subarray(0, 12));
    decipher.setAAD(Buffer.from(row.kid, 'utf8'));
    decipher.setAuthTag(blob.subarray(blob.length - 16));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(blob.subarray(12, blob.length - 16)), decipher.final()]);
    } catch {
      throw new EntitlementKeyError(`The stored entitlement signing key ${row.kid} cannot be decrypted: APP_SECRET differs from the one it was stored with.`);
    }
    return createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' });
  }
}

/**
 * Seals a lease's device digest (R1.10: nothing of a device is stored that can be read without the
 * server's secret) under a key derived from APP_SECRET, bound to the lease.
 */
export function sealDeviceDigest(appSecret: string, leaseId: string, digest: string): string {
  const key = Buffer.from(hkdfSync('sha256', appSecret, 'tessera', 'entitlement-device-digest', 32));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(leaseId, 'utf8'));
  return Buffer.concat([iv, cipher.update(digest, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64');
}

/** The digest {@link sealDeviceDigest} sealed, or null when it cannot be opened (another APP_SECRET). */
export function openDeviceDigest(appSecret: string, leaseId: string, sealed: string): string | null {
  const key = Buffer.from(hkdfSync('sha256', appSecret, 'tessera', 'entitlement-device-digest', 32));
  const blob = Buffer.from(sealed, 'base64');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
    decipher.setAAD(Buffer.from(leaseId, 'utf8'));
    decipher.setAuthTag(blob.subarray(blob.length - 16));
    return Buffer.concat([decipher.update(blob.subarray(12, blob.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}
