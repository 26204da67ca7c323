export { EntitlementService, jwksHandler, rotateEntitlementKey } from './service';
export { EntitlementKeys, EntitlementKeyError, RETIRE_MARGIN_MS } from './keys';
export * from './claims';
