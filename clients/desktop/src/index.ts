/**
 * The reference desktop client of the Tessera license server (R9.4): typed operations by manifest
 * hash, seat keeping, signed entitlements, and the offline files of R6.
 */
export { DesktopClient, Refused, type ClientEvent, type DesktopClientOptions, type Lease, type Platform } from './client';
export {
  verifyEntitlement,
  EntitlementRejected,
  FileEntitlementStore,
  MemoryEntitlementStore,
  ENTITLEMENT_AUDIENCE,
  JWKS_PATH,
  type EntitlementClaims,
  type EntitlementStore,
  type CachedEntitlement,
  type EntitlementProblem,
} from './entitlement';
export { NetworkError, ServerError, Transport, operation, type OperationName } from './transport';
// R6.5: the app-side offline files (request and response), from the same code the server's commands use.
export { createOfflineRequest, type CreateOfflineRequestOptions, type CreatedOfflineRequest } from '../../../src/offline/request';
export { verifyOfflineResponse, type OfflineVerifyResult, type VerifyOfflineResponseOptions } from '../../../src/offline/verify';
export { deviceDigest } from '../../../src/offline/format';
