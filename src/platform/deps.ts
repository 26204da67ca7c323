import type { DataSource } from 'typeorm';
import type { Clock } from './clock';
import type { Events } from './events';
import type { Logger } from './logger';
import type { Mailer } from './mail/mailer';
import type { RateLimits } from './rate-limit';
import type { Webhooks } from './webhooks/events';

/** What the domain services are built from (one set per server instance). */
export interface ServiceDeps {
  ds: DataSource;
  clock: Clock;
  mailer: Mailer;
  logger: Logger;
  publicUrl: string;
  rateLimits: RateLimits;
  events: Events;
  /** Webhook events (R7.4), queued in the caller's transaction. */
  webhooks: Webhooks;
}
