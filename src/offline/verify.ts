/**
 * The app's check of a response file (R6.3): needs only the server's public key, no network.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import {
  DEVICE_DIGEST_PATTERN,
  LICENSE_ID_PATTERN,
  OFFLINE_FORMAT_VERSION,
  OFFLINE_RESPONSE_TYPE,
  OFFLINE_SIGNATURE_ALG,
  OfflineFormatError,
  USER_ID_PATTERN,
  decodePayload,
  deviceDigest,
  ed25519PublicKey,
  isBase64url,
  isIsoUtc,
  isNonce,
  isPlainObject,
  isPlatform,
  keyIdOf,
  type OfflineResponsePayload,
} from './format';

export type OfflineVerifyFailure = 'MALFORMED' | 'UNSUPPORTED_VERSION' | 'KEY_MISMATCH' | 'BAD_SIGNATURE' | 'WRONG_DEVICE' | 'WRONG_NONCE' | 'WRONG_USER';

export type OfflineVerifyResult = { ok: true; payload: OfflineResponsePayload } | { ok: false; reason: OfflineVerifyFailure; message: string };

export interface VerifyOfflineResponseOptions {
  /** The response file's text. */
  responseText: string;
  /**
   * The server's public key: the JSON document from GET /.well-known/offline-signing-key as saved,
   * or a bare SPKI PEM ("-----BEGIN PUBLIC KEY-----"), or a KeyObject.
   */
  publicKey: string | KeyObject;
  /** This computer's device ID (the one the request carried). */
  deviceId: string;
  /** The nonce of the request this response answers, when the app kept it. */
  expectedNonce?: string;
  /** The signed-in account's user ID, when the app knows it. */
  expectedUserId?: string;
}

const ED25519_SIGNATURE_BYTES = 64;

/**
 * Checks, in this order: the response file's shape and version, that it was signed with this key
 * (keyId), the signature, the signed payload's shape and version, then the device, the nonce and
 * the user. Never throws for bad input: it says why in `reason` and `message`.
 */
export function verifyOfflineResponse(options: VerifyOfflineResponseOptions): OfflineVerifyResult {
  const { responseText, deviceId, expectedNonce, expectedUserId } = options;
  if (typeof deviceId !== 'string' || deviceId.length === 0) {
    return fail('WRONG_DEVICE', 'no device ID was given to check the response against');
  }

  let key: KeyObject;
  let keyId: string;
  try {
    key = loadOfflinePublicKey(options.publicKey);
    keyId = keyIdOf(key);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return fail(err instanceof OfflineFormatError && err.code === 'UNSUPPORTED_VERSION' ? 'UNSUPPORTED_VERSION' : 'MALFORMED', `public key: ${message}`);
  }

  // The envelope.
  let file: unknown;
  try {
    file = JSON.parse(String(responseText ?? '').replace(/^\uFEFF/, ''));
  } catch {
    return fail('MALFORMED', 'the response file is not JSON');
  }
  if (!isPlainObject(file)) return fail('MALFORMED', 'the response file is not a JSON object');
  if (file.type !== OFFLINE_RESPONSE_TYPE) {
    return fail('MALFORMED', `not a Tessera offline response (type ${JSON.stringify(file.type)}, expected "${OFFLINE_RESPONSE_TYPE}")`);
  }
  if (file.v !== OFFLINE_FORMAT_VERSION) {
    return fail('UNSUPPORTED_VERSION', `unsupported response file version ${JSON.stringify(file.v)} (this reads version ${OFFLINE_FORMAT_VERSION})`);
  }
  if (typeof file.keyId !== 'string' || file.keyId.length === 0) return fail('MALFORMED', 'the response file has no keyId');
  if (typeof file.payload !== 'string' || !isBase64url(file.payload)) return fail('MALFORMED', "the response file's payload is not base64url");
  if (typeof file.signature !== 'string' || !isBase64url(file.signature)) return fail('MALFORMED', "the response file's signature is not base64url");
  const signature = Buffer.from(file.signature, 'base64url');
  if (signature.length !== ED25519_SIGNATURE_BYTES) {
    return fail('MALFORMED', `the signature has ${signature.length} bytes, an Ed25519 signature has ${ED25519_SIGNATURE_BYTES}`);
  }

  // The key and the signature.
  if (file.keyId !== keyId) {
    return fail('KEY_MISMATCH', `the response was signed with key ${file.keyId}, but the public key given is ${keyId}`);
  }
  let valid: boolean;
  try {
    valid = verify(null, Buffer.from(file.payload, 'ascii'), key, signature);
  } catch {
    valid = false;
  }
  if (!valid) return fail('BAD_SIGNATURE', 'the signature does not match the payload: the file was altered or not issued by this server');

  // The signed payload.
  let payload: Record<string, unknown>;
  try {
    payload = decodePayload(file.payload);
  } catch (err) {
    return fail('MALFORMED', `signed payload: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (payload.v !== OFFLINE_FORMAT_VERSION) {
    return fail('UNSUPPORTED_VERSION', `unsupported response payload version ${JSON.stringify(payload.v)} (this reads version ${OFFLINE_FORMAT_VERSION})`);
  }
  const shape = payloadProblem(payload);
  if (shape) return fail('MALFORMED', `signed payload: ${shape}`);
  const checked: OfflineResponsePayload = {
    v: OFFLINE_FORMAT_VERSION,
    licenseId: payload.licenseId as string,
    userId: payload.userId as string,
    deviceDigest: payload.deviceDigest as string,
    platform: payload.platform as OfflineResponsePayload['platform'],
    nonce: payload.nonce as string,
    issuedAt: payload.issuedAt as string,
  };

  // Is it for us?
  if (checked.deviceDigest !== deviceDigest(deviceId)) return fail('WRONG_DEVICE', 'the response was issued for another device');
  if (expectedNonce !== undefined && checked.nonce !== expectedNonce) {
    return fail('WRONG_NONCE', "the response answers another request (its nonce differs from this request's)");
  }
  if (expectedUserId !== undefined && checked.userId !== expectedUserId.trim().toUpperCase()) {
    return fail('WRONG_USER', `the response was issued to ${checked.userId}, not ${expectedUserId.trim().toUpperCase()}`);
  }
  return { ok: true, payload: checked };
}

/**
 * The Ed25519 public key from the public key document JSON (checking its version, algorithm and
 * that its keyId matches the key) or from a bare SPKI PEM. Throws {@link OfflineFormatError}.
 */
export function loadOfflinePublicKey(input: string | KeyObject): KeyObject {
  if (typeof input !== 'string') return ed25519PublicKey(input);
  const text = input.replace(/^\uFEFF/, '').trim();
  if (text.startsWith('{')) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new OfflineFormatError('the public key document is not valid JSON');
    }
    if (!isPlainObject(doc)) throw new OfflineFormatError('the public key document is not a JSON object');
    if (doc.v !== OFFLINE_FORMAT_VERSION) {
      throw new OfflineFormatError(
        `unsupported public key document version ${JSON.stringify(doc.v)} (this reads version ${OFFLINE_FORMAT_VERSION})`,
        'UNSUPPORTED_VERSION',
      );
    }
    if (doc.alg !== OFFLINE_SIGNATURE_ALG)
      throw new OfflineFormatError(`the public key document's algorithm is ${JSON.stringify(doc.alg)}, expected "${OFFLINE_SIGNATURE_ALG}"`);
    if (typeof doc.publicKeyPem !== 'string') throw new OfflineFormatError('the public key document has no publicKeyPem');
    const key = pemPublicKey(doc.publicKeyPem);
    if (doc.keyId !== keyIdOf(key))
      throw new OfflineFormatError(`the public key document's keyId ${JSON.stringify(doc.keyId)} does not belong to its key (${keyIdOf(key)})`);
    return key;
  }
  return pemPublicKey(text);
}

function pemPublicKey(pem: string): KeyObject {
  if (/PRIVATE KEY-----/.test(pem)) throw new OfflineFormatError("this is a private key; give the server's public key");
  if (!/-----BEGIN PUBLIC KEY-----/.test(pem)) {
    throw new OfflineFormatError('expected the public key document (JSON) or a PEM public key ("-----BEGIN PUBLIC KEY-----")');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new OfflineFormatError('the PEM public key cannot be read');
  }
  return ed25519PublicKey(key);
}

function payloadProblem(p: Record<string, unknown>): string | undefined {
  if (typeof p.licenseId !== 'string' || !LICENSE_ID_PATTERN.test(p.licenseId)) return 'licenseId is missing or not L-XXX-XXX';
  if (typeof p.userId !== 'string' || !USER_ID_PATTERN.test(p.userId)) return 'userId is missing or not A-XXX-XXX';
  if (typeof p.deviceDigest !== 'string' || !DEVICE_DIGEST_PATTERN.test(p.deviceDigest)) return 'deviceDigest is missing or not 64 lowercase hex digits';
  if (!isPlatform(p.platform)) return 'platform is missing or not WINDOWS or MAC';
  if (!isNonce(p.nonce)) return 'nonce is missing or not base64url of 16 bytes';
  if (!isIsoUtc(p.issuedAt)) return 'issuedAt is missing or not an ISO-8601 UTC time';
  return undefined;
}

function fail(reason: OfflineVerifyFailure, message: string): OfflineVerifyResult {
  return { ok: false, reason, message };
}
