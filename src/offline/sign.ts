/**
 * The server's half of a response file (R6.3). Pure: the same key and fields always give the same
 * text (Ed25519 signatures are deterministic), and it reads no clock.
 */
import { sign, type KeyObject } from 'node:crypto';
import {
  DEVICE_DIGEST_PATTERN,
  LICENSE_ID_PATTERN,
  OFFLINE_FORMAT_VERSION,
  OFFLINE_PLATFORMS,
  OFFLINE_RESPONSE_TYPE,
  OfflineFormatError,
  USER_ID_PATTERN,
  deviceDigest,
  deviceIdProblem,
  encodePayload,
  isIsoUtc,
  isNonce,
  isPlatform,
  keyIdOf,
  type OfflinePlatform,
  type OfflineResponseFile,
  type OfflineResponsePayload,
} from './format';

interface ResponseFieldsBase {
  licenseId: string;
  userId: string;
  platform: OfflinePlatform;
  /** The request's nonce. */
  nonce: string;
  /** When the server accepted the request: a Date or an ISO-8601 UTC string. */
  issuedAt: Date | string;
}

/** What goes into a response: the device either as the request's device ID or as its digest. */
export type OfflineResponseFields = ResponseFieldsBase & ({ deviceId: string; deviceDigest?: never } | { deviceDigest: string; deviceId?: never });

/** The signed payload object for `fields`; throws {@link OfflineFormatError} when a field is invalid. */
export function offlineResponsePayload(fields: OfflineResponseFields): OfflineResponsePayload {
  if (!LICENSE_ID_PATTERN.test(fields.licenseId)) throw new OfflineFormatError(`licenseId must look like L-1A2-B3C, got ${JSON.stringify(fields.licenseId)}`);
  if (!USER_ID_PATTERN.test(fields.userId)) throw new OfflineFormatError(`userId must look like A-1B2-C3D, got ${JSON.stringify(fields.userId)}`);
  if (!isPlatform(fields.platform)) throw new OfflineFormatError(`platform must be ${OFFLINE_PLATFORMS.join(' or ')}`);
  if (!isNonce(fields.nonce)) throw new OfflineFormatError('nonce must be base64url of 16 bytes');
  let digest: string;
  if (fields.deviceId !== undefined) {
    const problem = deviceIdProblem(fields.deviceId);
    if (problem) throw new OfflineFormatError(problem);
    digest = deviceDigest(fields.deviceId);
  } else {
    if (typeof fields.deviceDigest !== 'string' || !DEVICE_DIGEST_PATTERN.test(fields.deviceDigest)) {
      throw new OfflineFormatError('deviceDigest must be 64 lowercase hex digits');
    }
    digest = fields.deviceDigest;
  }
  let issuedAt: string;
  if (fields.issuedAt instanceof Date) {
    if (Number.isNaN(fields.issuedAt.getTime())) throw new OfflineFormatError('issuedAt is not a valid date');
    issuedAt = fields.issuedAt.toISOString();
  } else {
    if (!isIsoUtc(fields.issuedAt)) throw new OfflineFormatError(`issuedAt must be an ISO-8601 UTC time, got ${JSON.stringify(fields.issuedAt)}`);
    issuedAt = fields.issuedAt;
  }
  return {
    v: OFFLINE_FORMAT_VERSION,
    licenseId: fields.licenseId,
    userId: fields.userId,
    deviceDigest: digest,
    platform: fields.platform,
    nonce: fields.nonce,
    issuedAt,
  };
}

/** The response file object, signed with the server's Ed25519 private key. */
export function signOfflineResponseFile(privateKey: KeyObject, fields: OfflineResponseFields): OfflineResponseFile {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new OfflineFormatError('signing needs an Ed25519 private key');
  }
  const payload = encodePayload(offlineResponsePayload(fields));
  return {
    v: OFFLINE_FORMAT_VERSION,
    type: OFFLINE_RESPONSE_TYPE,
    keyId: keyIdOf(privateKey),
    payload,
    signature: sign(null, Buffer.from(payload, 'ascii'), privateKey).toString('base64url'),
  };
}

/** The response file's text (UTF-8 JSON, indented, with a final newline), ready to download. */
export function signOfflineResponse(privateKey: KeyObject, fields: OfflineResponseFields): string {
  return JSON.stringify(signOfflineResponseFile(privateKey, fields), null, 2) + '\n';
}
