import type { EntityManager } from 'typeorm';

/** The events R7.4 lists, as the receiver sees them in `type`. */
export type WebhookEventType =
  | 'license.issued'
  | 'license.redeemed'
  | 'license.renewed'
  | 'license.revoked'
  | 'license.expiring'
  | 'seats.exhausted'
  | 'organization.created'
  | 'account.deleted';

/**
 * One event, as a service hands it in. `key` orders delivery: events with the same key reach the
 * receiver in the order they were emitted (a license's events: `license:<id>`); events with other
 * keys do not wait for each other. `data` is the JSON body's `data`; it carries IDs (user ID,
 * license ID, organization ID) and licensing facts, never an email address or a name.
 */
export interface WebhookEvent {
  type: WebhookEventType;
  key: string;
  data: Record<string, unknown>;
}

/**
 * Where services send events (R7.4): `emit(tx, event)` queues the event in the durable outbox inside
 * the caller's transaction, so that it is delivered if and only if the change that caused it commits.
 */
export interface Webhooks {
  emit(tx: EntityManager, event: WebhookEvent): Promise<void>;
}

/** Without WEBHOOK_URL: nothing is queued. */
export const NO_WEBHOOKS: Webhooks = { emit: async () => undefined };
