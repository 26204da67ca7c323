/**
 * Offline validation (R6), format version 1: the contract between the desktop app and the server.
 *
 * This folder is the app-side reference: it depends on nothing but node:crypto, node:fs and
 * node:path, so that it can be read (and ported) without the rest of the server. The server uses
 * the same parser and signer, so both halves always agree. See README-section.md for the formats.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';

export const OFFLINE_FORMAT_VERSION = 1;
export const OFFLINE_REQUEST_TYPE = 'tessera-offline-request';
export const OFFLINE_RESPONSE_TYPE = 'tessera-offline-response';
export const OFFLINE_SIGNATURE_ALG = 'Ed25519';
/** The server page a request file forwards to: `<serverUrl>/offline?request=<payload>`. */
export const OFFLINE_REQUEST_PATH = '/offline';
export const OFFLINE_REQUEST_PARAM = 'request';
/** Where the server publishes its public key document. */
export const OFFLINE_PUBLIC_KEY_PATH = '/.well-known/offline-signing-key';
/** Prefixed to the device ID before hashing: "tessera-offline-device" and a NUL character. */
export const DEVICE_DIGEST_PREFIX = 'tessera-offline-device\u0000';
/** Bytes of randomness in a request's nonce (base64url: 22 characters). */
export const NONCE_BYTES = 16;
/** The server accepts device IDs of 1 to 256 characters (UTF-16 code units) that are not all blank. */
export const MAX_DEVICE_ID_LENGTH = 256;

export const OFFLINE_PLATFORMS = ['WINDOWS', 'MAC'] as const;
export type OfflinePlatform = (typeof OFFLINE_PLATFORMS)[number];

/** Public user ID (R1.2), e.g. `A-CC5-FB7`. */
export const USER_ID_PATTERN = /^A-[0-9A-F]{3}-[0-9A-F]{3}$/;
/** Public license ID (R2.1), e.g. `L-1A2-B3C`. */
export const LICENSE_ID_PATTERN = /^L-[0-9A-F]{3}-[0-9A-F]{3}$/;
/** Lowercase hex SHA-256. */
export const DEVICE_DIGEST_PATTERN = /^[0-9a-f]{64}$/;
/** ISO-8601 UTC as `Date.prototype.toISOString()` writes it (fractional seconds optional). */
export const ISO_UTC_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]+$/;

/** The request the app writes; base64url JSON in the request file's URL. Holds no secret. */
export interface OfflineRequest {
  v: 1;
  type: typeof OFFLINE_REQUEST_TYPE;
  deviceId: string;
  platform: OfflinePlatform;
  userId: string;
  nonce: string;
  createdAt: string;
}

/** The signed content of a response file (decoded from its `payload`). */
export interface OfflineResponsePayload {
  v: 1;
  licenseId: string;
  userId: string;
  deviceDigest: string;
  platform: OfflinePlatform;
  nonce: string;
  issuedAt: string;
}

/** The response file the server hands out (UTF-8 JSON). */
export interface OfflineResponseFile {
  v: 1;
  type: typeof OFFLINE_RESPONSE_TYPE;
  keyId: string;
  /** base64url of the UTF-8 JSON of an {@link OfflineResponsePayload}. */
  payload: string;
  /** base64url Ed25519 signature over the ASCII bytes of `payload`. */
  signature: string;
}

/** Served at {@link OFFLINE_PUBLIC_KEY_PATH}. */
export interface PublicKeyDocument {
  v: 1;
  alg: typeof OFFLINE_SIGNATURE_ALG;
  keyId: string;
  publicKeyPem: string;
}

export type OfflineErrorCode = 'MALFORMED' | 'UNSUPPORTED_VERSION';

/** A request, response or key that does not follow the format. */
export class OfflineFormatError extends Error {
  constructor(
    message: string,
    readonly code: OfflineErrorCode = 'MALFORMED',
  ) {
    super(message);
    this.name = 'OfflineFormatError';
  }
}

/** Hex SHA-256 of "tessera-offline-device\0" + deviceId (UTF-8): what a response binds to. */
export function deviceDigest(deviceId: string): string {
  return createHash('sha256')
    .update(DEVICE_DIGEST_PREFIX + deviceId, 'utf8')
    .digest('hex');
}

/** base64url (no padding) of the UTF-8 JSON of `obj`. */
export function encodePayload(obj: object): string {
  return Buffer.from(JSON.stringify(obj), 'utf8').toString('base64url');
}

/** Whether `s` is canonical unpadded base64url (what Buffer#toString('base64url') writes). */
export function isBase64url(s: string): boolean {
  return s.length > 0 && BASE64URL_PATTERN.test(s) && Buffer.from(s, 'base64url').toString('base64url') === s;
}

/** Decodes {@link encodePayload}: base64url → UTF-8 → JSON object. Throws {@link OfflineFormatError}. */
export function decodePayload(str: string): Record<string, unknown> {
  if (typeof str !== 'string' || str.length === 0) throw new OfflineFormatError('the payload is empty');
  if (!BASE64URL_PATTERN.test(str)) {
    throw new OfflineFormatError('the payload is not base64url (only A-Z, a-z, 0-9, "-" and "_", no padding)');
  }
  const bytes = Buffer.from(str, 'base64url');
  if (bytes.toString('base64url') !== str) throw new OfflineFormatError('the payload is not valid base64url (truncated or altered)');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new OfflineFormatError('the payload does not decode to UTF-8 text');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new OfflineFormatError('the payload does not decode to JSON');
  }
  if (!isPlainObject(value)) throw new OfflineFormatError('the payload does not decode to a JSON object');
  return value;
}

/** The public half of an Ed25519 key (a private key is reduced to its public key). */
export function ed25519PublicKey(key: KeyObject): KeyObject {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.type !== 'public' || pub.asymmetricKeyType !== 'ed25519') {
    throw new OfflineFormatError(`expected an Ed25519 key, got ${pub.asymmetricKeyType ?? pub.type}`);
  }
  return pub;
}

/** First 16 hex characters of SHA-256 over the key's DER SubjectPublicKeyInfo. */
export function keyIdOf(publicKey: KeyObject): string {
  const der = ed25519PublicKey(publicKey).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/** The document served at {@link OFFLINE_PUBLIC_KEY_PATH}. */
export function publicKeyDocument(publicKey: KeyObject): PublicKeyDocument {
  const pub = ed25519PublicKey(publicKey);
  return {
    v: OFFLINE_FORMAT_VERSION,
    alg: OFFLINE_SIGNATURE_ALG,
    keyId: keyIdOf(pub),
    publicKeyPem: String(pub.export({ type: 'spki', format: 'pem' })),
  };
}

// ---- field checks shared by request, verify and sign ----

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isPlatform(value: unknown): value is OfflinePlatform {
  return typeof value === 'string' && (OFFLINE_PLATFORMS as readonly string[]).includes(value);
}

/** Empty when fine, otherwise why the device ID is not acceptable. */
export function deviceIdProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'the device ID must be a string';
  if (value.trim().length === 0) return 'the device ID is empty';
  if (value.length > MAX_DEVICE_ID_LENGTH) return `the device ID is longer than ${MAX_DEVICE_ID_LENGTH} characters`;
  return undefined;
}

/** A nonce: canonical base64url of exactly {@link NONCE_BYTES} bytes. */
export function isNonce(value: unknown): value is string {
  return typeof value === 'string' && isBase64url(value) && Buffer.from(value, 'base64url').length === NONCE_BYTES;
}

export function isIsoUtc(value: unknown): value is string {
  return typeof value === 'string' && ISO_UTC_PATTERN.test(value) && !Number.isNaN(Date.parse(value));
}
