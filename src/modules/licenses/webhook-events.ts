import type { WebhookEvent, WebhookEventType } from '../../platform/webhooks/events';
import type { LicenseEntity } from './entities';
import { statusOf } from './rules';

/**
 * A license's webhook event (R7.4): its public ID, order reference and terms, and the owner by user
 * ID (never an email address). Keyed by the license, so that a receiver sees its events in order.
 */
export function licenseEvent(
  type: Extract<WebhookEventType, `license.${string}`>,
  license: LicenseEntity,
  ownerUserId: string | null,
  now: Date,
  extra: Record<string, unknown> = {},
): WebhookEvent {
  return {
    type,
    key: `license:${license.id}`,
    data: {
      id: license.id,
      licenseId: license.licenseId,
      orderReference: license.orderReference,
      type: license.type,
      seats: license.seats,
      platforms: license.platforms,
      expiresAt: license.expiresAt?.toISOString() ?? null,
      status: statusOf(license, now),
      ownerUserId,
      ...extra,
    },
  };
}
