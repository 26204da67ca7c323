import type { ApolloServerPlugin } from '@apollo/server';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Kind, OperationDefinitionNode } from 'graphql';
import type { Context } from './context';
import type { OutboxStats } from './mail/outbox';

/** Prometheus metrics of one server instance (its own registry, so that tests can run several). */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'tessera_http_requests_total',
    help: 'HTTP requests by route and status class',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly operations = new Counter({
    name: 'tessera_graphql_operations_total',
    help: 'GraphQL operations by root field(s), type and outcome',
    labelNames: ['operation', 'type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly operationSeconds = new Histogram({
    name: 'tessera_graphql_operation_duration_seconds',
    help: 'GraphQL operation latency by root field(s) and type',
    labelNames: ['operation', 'type'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly dbRetries = new Counter({
    name: 'tessera_db_retries_total',
    help: 'Transactions run again after a deadlock or a serialization failure, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly mailDelivered = new Counter({
    name: 'tessera_outbox_delivered_total',
    help: 'Mails the SMTP server accepted from the outbox, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly mailAttemptsFailed = new Counter({
    name: 'tessera_outbox_delivery_failures_total',
    help: 'Delivery attempts that failed and will be retried (or, after the last retry, left failed), by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly webhookDelivered = new Counter({
    name: 'tessera_webhooks_delivered_total',
    help: 'Webhook events the receiver accepted (2xx), by event type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly webhookAttemptsFailed = new Counter({
    name: 'tessera_webhooks_delivery_failures_total',
    help: 'Webhook delivery attempts that failed (non-2xx, timeout, no connection) and will be retried (or, after the last retry, left failed), by event type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly subscriptions = new Gauge({
    name: 'tessera_subscriptions',
    help: 'Live GraphQL subscriptions on this instance',
    registers: [this.registry],
  });
  readonly subscriptionsRefused = new Counter({
    name: 'tessera_subscriptions_refused_total',
    help: 'Subscriptions refused for being past the per-connection or per-account limit',
    registers: [this.registry],
  });
  readonly seatRefusals = new Counter({
    name: 'tessera_seat_refusals_total',
    help: 'Acquires refused, by error code (SEATS_EXHAUSTED, NO_LICENSE, PLATFORM_NOT_LICENSED, …)',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly jobRounds = new Counter({
    name: 'tessera_job_rounds_total',
    help: 'Rounds of the periodic jobs this instance ran, by job and outcome',
    labelNames: ['job', 'outcome'] as const,
    registers: [this.registry],
  });

  constructor(sources: {
    pool: () => { totalCount: number; idleCount: number; waitingCount: number } | undefined;
    licensesOverCapacity?: () => Promise<number>;
    outbox?: () => Promise<OutboxStats>;
    /** The webhook outbox's figures, when WEBHOOK_URL is set. */
    webhooks?: () => Promise<OutboxStats>;
    leasesInUse?: () => Promise<Array<{ kind: string; n: number }>>;
  }) {
    const { pool, licensesOverCapacity = () => Promise.resolve(0), outbox, webhooks, leasesInUse } = sources;
    if (leasesInUse) {
      new Gauge({
        name: 'tessera_seats_in_use',
        help: 'Live seat leases by kind (OWNER, MEMBER, OFFLINE_BOUND), read from the database when scraped',
        labelNames: ['kind'] as const,
        registers: [this.registry],
        async collect() {
          this.reset();
          const rows = await fromDatabase(leasesInUse);
          if (!rows) return; // the database did not answer: no figure rather than a wrong one
          for (const kind of ['OWNER', 'MEMBER', 'OFFLINE_BOUND']) this.set({ kind }, 0);
          for (const row of rows) this.set({ kind: row.kind }, row.n);
        },
      });
    }
    collectDefaultMetrics({ register: this.registry, prefix: 'tessera_' });
    const registry = this.registry;
    new Gauge({
      name: 'tessera_db_pool_connections',
      help: 'Database pool connections by state',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        const p = pool();
        this.set({ state: 'total' }, p?.totalCount ?? 0);
        this.set({ state: 'idle' }, p?.idleCount ?? 0);
        this.set({ state: 'waiting' }, p?.waitingCount ?? 0);
      },
    });
    new Gauge({
      name: 'tessera_licenses_over_capacity',
      help: 'Licenses carrying more live leases than their seats, read when scraped (R4.8: must stay 0; alert on > 0)',
      registers: [registry],
      async collect() {
        // NaN when the database did not answer: unknown, not zero.
        this.set((await fromDatabase(licensesOverCapacity)) ?? NaN);
      },
    });
    if (outbox) {
      outboxGauges(registry, outbox, {
        name: 'tessera_outbox_messages',
        help: 'Mails in the outbox by state: queued (waiting, due for a retry or being sent) and failed (every retry used up)',
        oldestName: 'tessera_outbox_oldest_queued_seconds',
        oldestHelp: 'Age of the oldest mail still queued (alert when it grows: SMTP is refusing or unreachable)',
      });
    }
    if (webhooks) {
      outboxGauges(registry, webhooks, {
        name: 'tessera_webhooks_events',
        help: 'Webhook events in the outbox by state: queued (waiting, held back by an earlier event of their key, due for a retry or being sent) and failed (every retry used up)',
        oldestName: 'tessera_webhooks_oldest_queued_seconds',
        oldestHelp: 'Age of the oldest webhook event still queued (alert when it grows: the receiver is refusing or unreachable)',
      });
    }
    for (const reason of ['deadlock', 'serialization_failure'] as const) this.dbRetries.inc({ reason }, 0);
  }

  /**
   * Labels operations by their root fields, which the schema bounds, never by the client-chosen
   * operation name (unbounded label values would let any client grow our memory).
   */
  apolloPlugin(): ApolloServerPlugin<Context> {
    const { operations, operationSeconds } = this;
    return {
      async requestDidStart() {
        const started = process.hrtime.bigint();
        let operation = 'unparsed';
        let type = 'unknown';
        return {
          async didResolveOperation({ operation: op }) {
            if (!op) return;
            type = op.operation;
            operation = rootFields(op);
          },
          async willSendResponse({ response, errors }) {
            const seconds = Number(process.hrtime.bigint() - started) / 1e9;
            const body = response.body;
            const hasErrors = (errors?.length ?? 0) > 0 || (body.kind === 'single' && (body.singleResult.errors?.length ?? 0) > 0);
            operations.inc({ operation, type, outcome: hasErrors ? 'error' : 'ok' });
            operationSeconds.observe({ operation, type }, seconds);
          },
        };
      },
    };
  }
}

/** An outbox's gauges: its jobs by state (queued, failed) and the age of the oldest queued one. */
function outboxGauges(
  registry: Registry,
  stats: () => Promise<OutboxStats>,
  names: { name: string; help: string; oldestName: string; oldestHelp: string },
): void {
  // One read per scrape for both gauges (the scrape collects them one after the other).
  let pending: Promise<OutboxStats | undefined> | undefined;
  const read = () => (pending ??= fromDatabase(stats).finally(() => setImmediate(() => (pending = undefined))));
  new Gauge({
    name: names.name,
    help: names.help,
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const figures = await read();
      if (!figures) return;
      this.set({ state: 'queued' }, figures.queued);
      this.set({ state: 'failed' }, figures.failed);
    },
  });
  new Gauge({
    name: names.oldestName,
    help: names.oldestHelp,
    registers: [registry],
    async collect() {
      this.set((await read())?.oldestQueuedSeconds ?? NaN);
    },
  });
}

/**
 * A figure read from the database for a scrape, or undefined when the database does not answer
 * within a second: `/metrics` keeps answering (pool, process, counters) during an outage, without
 * the series that need the database.
 */
async function fromDatabase<T>(read: () => Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([read(), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 1_000)))]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

export function rootFields(op: OperationDefinitionNode): string {
  const names = new Set<string>();
  for (const sel of op.selectionSet.selections) {
    if (sel.kind === ('Field' as Kind.FIELD)) names.add(sel.name.value);
    else names.add('fragment');
  }
  return [...names].sort().join(',').slice(0, 200);
}
