import fs from 'node:fs/promises';
import path from 'node:path';
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { deviceDigest } from '../../../src/offline/format';

/** What a verified entitlement token says (R7.5). */
export interface EntitlementClaims {
  /** The account's user ID. */
  userId: string;
  /** The serving license's ID, or null. */
  licenseId: string | null;
  canUse: boolean;
  canSave: boolean;
  /** The lease it belongs to, when it came with one. */
  leaseId: string | null;
  issuedAt: Date;
  expiresAt: Date;
}

export type EntitlementProblem = 'MALFORMED' | 'BAD_SIGNATURE' | 'UNKNOWN_KEY' | 'EXPIRED' | 'WRONG_AUDIENCE' | 'WRONG_ISSUER' | 'WRONG_DEVICE' | 'WRONG_USER';

export class EntitlementRejected extends Error {
  constructor(
    readonly problem: EntitlementProblem,
    message: string,
  ) {
    super(message);
    this.name = 'EntitlementRejected';
  }
}

export const ENTITLEMENT_AUDIENCE = 'tessera-desktop';
export const JWKS_PATH = '/.well-known/jwks.json';

/**
 * Checks an entitlement token against the server's published keys (`/.well-known/jwks.json`): EdDSA
 * only, our audience and issuer, not expired, for this device (and this account when known). A proxy
 * that rewrites `canUse` cannot make a token that passes.
 */
export async function verifyEntitlement(
  token: string,
  jwks: JSONWebKeySet,
  expect: { issuer: string; deviceId: string; userId?: string; now?: Date },
): Promise<EntitlementClaims> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
      algorithms: ['EdDSA'],
      audience: ENTITLEMENT_AUDIENCE,
      issuer: expect.issuer,
      currentDate: expect.now,
      typ: 'tessera-entitlement+jwt',
    }));
  } catch (err) {
    throw rejection(err);
  }
  if (payload.dev !== deviceDigest(expect.deviceId)) throw new EntitlementRejected('WRONG_DEVICE', 'the entitlement was issued for another device');
  if (expect.userId && payload.sub !== expect.userId) throw new EntitlementRejected('WRONG_USER', 'the entitlement was issued to another account');
  if (typeof payload.sub !== 'string' || typeof payload.canUse !== 'boolean' || typeof payload.canSave !== 'boolean' || !payload.exp || !payload.iat) {
    throw new EntitlementRejected('MALFORMED', 'the entitlement lacks a claim');
  }
  return {
    userId: payload.sub,
    licenseId: typeof payload.lic === 'string' ? payload.lic : null,
    canUse: payload.canUse,
    canSave: payload.canSave,
    leaseId: typeof payload.lease === 'string' ? payload.lease : null,
    issuedAt: new Date(payload.iat * 1000),
    expiresAt: new Date(payload.exp * 1000),
  };
}

function rejection(err: unknown): EntitlementRejected {
  if (err instanceof joseErrors.JWTExpired) return new EntitlementRejected('EXPIRED', 'the entitlement has expired');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new EntitlementRejected('BAD_SIGNATURE', 'the entitlement signature does not verify');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new EntitlementRejected('UNKNOWN_KEY', 'no published key signed this entitlement');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return new EntitlementRejected('WRONG_AUDIENCE', 'the token is not an entitlement for the desktop app');
    if (err.claim === 'iss') return new EntitlementRejected('WRONG_ISSUER', 'the entitlement comes from another server');
  }
  return new EntitlementRejected('MALFORMED', `the entitlement is not a valid token (${(err as Error).message})`);
}

/** What the app keeps between runs: the last verified token and the keys that verify it (so that it works offline). */
export interface CachedEntitlement {
  token: string;
  jwks: JSONWebKeySet;
}

export interface EntitlementStore {
  load(): Promise<CachedEntitlement | undefined>;
  save(entry: CachedEntitlement): Promise<void>;
  clear(): Promise<void>;
}

/** Keeps the cached entitlement in a file readable by the user only (written whole, then renamed). */
export class FileEntitlementStore implements EntitlementStore {
  constructor(private readonly file: string) {}

  async load(): Promise<CachedEntitlement | undefined> {
    try {
      const parsed = JSON.parse(await fs.readFile(this.file, 'utf8')) as Partial<CachedEntitlement>;
      return typeof parsed.token === 'string' && parsed.jwks && Array.isArray(parsed.jwks.keys) ? (parsed as CachedEntitlement) : undefined;
    } catch {
      return undefined;
    }
  }

  async save(entry: CachedEntitlement): Promise<void> {
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
    await fs.rename(tmp, this.file);
  }

  async clear(): Promise<void> {
    await fs.rm(this.file, { force: true });
  }
}

/** In memory only (tests, or an app that keeps nothing on disk). */
export class MemoryEntitlementStore implements EntitlementStore {
  private entry?: CachedEntitlement;
  async load(): Promise<CachedEntitlement | undefined> {
    return this.entry;
  }
  async save(entry: CachedEntitlement): Promise<void> {
    this.entry = entry;
  }
  async clear(): Promise<void> {
    this.entry = undefined;
  }
}
