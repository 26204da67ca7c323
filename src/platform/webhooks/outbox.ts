import { randomBytes } from 'node:crypto';
import type { JobWithMetadata, PgBoss as PgBossInstance } from 'pg-boss' with { 'resolution-mode': 'import' };
import { Webhook } from 'standardwebhooks';
import type { EntityManager } from 'typeorm';
import type { Clock } from '../clock';
import type { Logger } from '../logger';
import { inTransactionDb, OUTBOX_SCHEMA, outboxStats, startOutboxBoss, type OutboxStats } from '../outbox-boss';
import type { WebhookEvent, WebhookEventType, Webhooks } from './events';

/** The queue of outgoing webhook events, beside the mail queue in the outbox schema. */
export const WEBHOOK_QUEUE = 'webhook';

/** How a queued event is retried (pg-boss's job options; stored on each job when it is queued). */
export interface WebhookRetryPolicy {
  retryLimit: number;
  retryDelay: number;
  retryBackoff: boolean;
  /** Only with retryBackoff (pg-boss refuses it otherwise). */
  retryDelayMax?: number;
}

/**
 * Retries for about three days, so that a receiver that is down over a weekend still gets every
 * event: after 10–20 s, 20–40 s, 40–80 s … (pg-boss: retryDelay · 2^n with jitter) up to the hourly
 * cap after about two hours, then hourly; 80 retries in all. Each job carries its own copy, so a
 * changed schedule applies to new events without touching the queue, and tests can shorten it.
 */
export const WEBHOOK_RETRY: WebhookRetryPolicy = { retryLimit: 80, retryDelay: 10, retryBackoff: true, retryDelayMax: 3600 };

/** One delivery attempt waits this long for the receiver's answer (status line and headers). */
export const WEBHOOK_REQUEST_TIMEOUT_MS = 10_000;

/**
 * key_strict_fifo: one event of a key at a time, in the order queued, and a failing event (waiting
 * for its retry, or failed for good) holds back only the later events of its own key. Heartbeat
 * and expiry as for mail: a killed worker's event is retried within about half a minute.
 */
const QUEUE_OPTIONS = {
  policy: 'key_strict_fifo' as const,
  ...WEBHOOK_RETRY,
  heartbeatSeconds: 10,
  expireInSeconds: 120,
  // A queued event must outlive its predecessors' retries (three days each) or it would be deleted
  // unsent: two weeks. Finished events are kept a day; one failed for good blocks its key until then
  // (time for the failed gauge and the error line to be seen), after which the key's later events go on.
  retentionSeconds: 14 * 86400,
  deleteAfterSeconds: 86400,
  notify: true,
};

/** What a queued job carries: the Standard Webhooks message ID and the exact body that is signed and sent. */
interface WebhookJob {
  webhookId: string;
  type: WebhookEventType;
  body: string;
}

type Attempt = { delivered: true } | { delivered: false; status?: number; error?: string };

/**
 * The durable outbox for webhooks (R7.4; architecture.md, "After commit: the outbox"), modelled on
 * the mail outbox: `emit(tx, event)` writes the event as a pg-boss job inside the caller's
 * transaction, so that it exists exactly when the change that caused it has committed; a worker on
 * every instance POSTs it to WEBHOOK_URL, signed as Standard Webhooks asks, and retries with backoff
 * until the receiver answers 2xx. The event's ID (`webhook-id`) and body are fixed when it is queued,
 * so every retry is byte for byte the same message, which the receiver de-duplicates by ID.
 *
 * Its own PgBoss instance in the mail outbox's schema (one schema, one set of pg-boss tables): the
 * mail outbox keeps its instance private, and separate instances start, stop and fail on their own
 * (a shared one would make either outbox's shutdown the other's).
 *
 * Bodies are not sealed, unlike mail: they hold IDs and licensing facts that the database holds in
 * the clear anyway, never a secret or personal data (events.ts).
 */
export class WebhookOutbox implements Webhooks {
  private boss: PgBossInstance | undefined;
  private readonly signer: Webhook;
  private readonly ids: OrderedIds;
  /** How events queued from now on are retried (tests shorten it). */
  retry: WebhookRetryPolicy = WEBHOOK_RETRY;
  /** How long one attempt waits for an answer (tests shorten it). */
  requestTimeoutMs = WEBHOOK_REQUEST_TIMEOUT_MS;
  /** Called after a delivery the receiver accepted with 2xx (metrics). */
  onDelivered: (type: WebhookEventType) => void = () => undefined;
  /** Called after a failed attempt (metrics). */
  onFailedAttempt: (type: WebhookEventType) => void = () => undefined;

  constructor(
    private readonly options: {
      databaseUrl: string;
      /** WEBHOOK_URL and WEBHOOK_SECRET. */
      url: string;
      secret: string;
      /** The server's clock: the body's `timestamp` is the event's time on it. */
      clock: Clock;
      logger: Logger;
      /** Whether this process delivers (the server) or only enqueues (a one-off command). */
      work: boolean;
      connectTimeoutMs: number;
      statementTimeoutMs: number;
      lockTimeoutMs: number;
      /** Reads for stats and drain, through the server's own pool. */
      query: (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>;
    },
  ) {
    this.signer = new Webhook(options.secret);
    this.ids = new OrderedIds(() => options.clock.nowMs());
  }

  async start(): Promise<void> {
    const { logger } = this.options;
    const boss = await startOutboxBoss({
      databaseUrl: this.options.databaseUrl,
      name: 'tessera-webhooks',
      logger,
      work: this.options.work,
      connectTimeoutMs: this.options.connectTimeoutMs,
      statementTimeoutMs: this.options.statementTimeoutMs,
      lockTimeoutMs: this.options.lockTimeoutMs,
    });
    this.boss = boss;
    await boss.createQueue(WEBHOOK_QUEUE, QUEUE_OPTIONS);
    if (!this.options.work) return;
    // Up to ten keys at a time (a fetch takes one event per key), each settled on its own; a full
    // batch fetches the next at once, NOTIFY wakes the worker on a new event, polling every 2 s is the
    // floor. includeMetadata: the last attempt is told apart (retryLimit) and logged as an error.
    const work = {
      batchSize: 10,
      perJobResults: true,
      includeMetadata: true,
      burstWhenBatchFull: true,
      pollingIntervalSeconds: 1,
      notifyPollingIntervalSeconds: 2,
    } as const;
    await boss.work<WebhookJob, unknown, typeof work>(WEBHOOK_QUEUE, work, async (jobs) => Promise.all(jobs.map((job) => this.deliver(job))));
  }

  /** Queues `event` inside the transaction `tx`: it is delivered if and only if `tx` commits. */
  async emit(tx: EntityManager, event: WebhookEvent): Promise<void> {
    const boss = this.started();
    // pg-boss orders a key's jobs by created_on, the transaction's start, then by ID: two events of
    // one transaction (a license issued and redeemed at once) tie on the first, so IDs must sort in
    // the order they were made (UUIDv7) for the receiver to see them in the order emitted.
    const id = this.ids.next();
    const webhookId = `msg_${id}`;
    const body = JSON.stringify({ type: event.type, timestamp: this.options.clock.now().toISOString(), data: event.data });
    const queued = await boss.send(WEBHOOK_QUEUE, { webhookId, type: event.type, body } satisfies WebhookJob, {
      id,
      singletonKey: event.key,
      ...this.retry,
      db: inTransactionDb(tx),
    });
    // pg-boss answers null when it inserted nothing: the transaction must not commit without its event.
    if (queued !== id) throw new Error('the webhook outbox did not queue the event');
  }

  /** Queued (waiting, held back by its key, due for a retry or being sent), failed for good, and the age of the oldest queued. */
  async stats(): Promise<OutboxStats> {
    return outboxStats(this.options.query, WEBHOOK_QUEUE);
  }

  /**
   * Resolves once no event can be sent now: none being sent, none due. An event waiting for a later
   * retry does not count, nor do the events its key holds back behind it (or behind one failed for
   * good). For tests and for a one-off command that queued events.
   */
  async drain(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [row] = await this.options.query(
        `SELECT count(*)::int AS n FROM ${OUTBOX_SCHEMA}.job j
          WHERE j.name = $1
            AND (j.state = 'active'
                 OR (j.state IN ('created', 'retry') AND j.start_after <= now()
                     AND NOT EXISTS (SELECT 1 FROM ${OUTBOX_SCHEMA}.job b
                                      WHERE b.name = j.name AND b.singleton_key = j.singleton_key AND b.id <> j.id
                                        AND (b.state = 'failed' OR (b.state = 'retry' AND b.start_after > now())))))`,
        [WEBHOOK_QUEUE],
      );
      if (Number(row.n) === 0) return;
      if (Date.now() > deadline) throw new Error(`the webhook outbox still holds ${String(row.n)} due event(s) after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    const boss = this.boss;
    this.boss = undefined;
    // Graceful: an attempt under way finishes (its request times out first) or is handed back for a retry after 10 s.
    await boss?.stop({ graceful: true, timeout: 10_000 });
  }

  private started(): PgBossInstance {
    if (!this.boss) throw new Error('the webhook outbox is not started');
    return this.boss;
  }

  private async deliver(job: JobWithMetadata<WebhookJob>) {
    const { webhookId, type, body } = job.data;
    const attempt = await this.post(webhookId, body, job.signal);
    if (attempt.delivered) {
      this.onDelivered(type);
      return { id: job.id, status: 'completed' as const };
    }
    this.onFailedAttempt(type);
    const last = job.retryCount >= job.retryLimit;
    // The ID, type and attempt say which event; never the body, the URL (it may carry a token) or the secret.
    const detail = { webhookId, type, attempt: job.retryCount + 1, status: attempt.status, error: attempt.error };
    if (last) this.options.logger.error(detail, 'webhook not delivered after its last retry: given up (later events of its key wait until it is deleted)');
    else this.options.logger.warn(detail, 'webhook not delivered yet; it will be retried');
    return { id: job.id, status: 'failed' as const, output: { status: attempt.status, error: attempt.error } };
  }

  /** One attempt: 2xx is delivered; any other answer, no answer in time, or no connection is not. */
  private async post(webhookId: string, body: string, cancelled: AbortSignal): Promise<Attempt> {
    // The attempt's time, and real time even under TEST_CLOCK: the receiver checks it against its
    // own clock (Standard Webhooks: within five minutes) to refuse replays.
    const sentAt = new Date();
    try {
      const res = await fetch(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Tessera-Webhooks/1',
          'webhook-id': webhookId,
          'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
          'webhook-signature': this.signer.sign(webhookId, sentAt, body),
        },
        body,
        // A redirect is not followed (a signed event goes to the configured URL only): it counts as a failure.
        redirect: 'manual',
        signal: AbortSignal.any([cancelled, AbortSignal.timeout(this.requestTimeoutMs)]),
      });
      await res.body?.cancel().catch(() => undefined);
      return res.status >= 200 && res.status < 300 ? { delivered: true } : { delivered: false, status: res.status };
    } catch (err) {
      return { delivered: false, error: describe(err, this.requestTimeoutMs) };
    }
  }
}

/** A failed request in a few words: a timeout, or the network error's code (ECONNREFUSED, ECONNRESET, …). */
function describe(err: unknown, timeoutMs: number): string {
  // By shape, not instanceof: fetch's errors (DOMException, TypeError) may come from another realm.
  const e = err as { name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } } | undefined;
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  if (e?.name === 'AbortError') return 'cancelled (the worker is stopping or lost its claim)';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const cause = typeof e?.cause?.code === 'string' ? e.cause.code : typeof e?.cause?.message === 'string' ? e.cause.message : undefined;
  return cause ? `${message}: ${cause}` : message;
}

/**
 * UUIDv7 (RFC 9562): 48 bits of milliseconds, a 12-bit counter, random bits. IDs made later by this
 * process sort later (in PostgreSQL's uuid order too), also within one millisecond.
 */
class OrderedIds {
  private lastMs = 0;
  private counter = 0;

  constructor(private readonly nowMs: () => number) {}

  next(): string {
    let ms = this.nowMs();
    if (ms > this.lastMs) this.counter = 0;
    else {
      ms = this.lastMs;
      if (++this.counter > 0xfff) {
        ms++;
        this.counter = 0;
      }
    }
    this.lastMs = ms;
    const b = randomBytes(16);
    b.writeUIntBE(ms, 0, 6);
    b[6] = 0x70 | (this.counter >> 8);
    b[7] = this.counter & 0xff;
    b[8] = 0x80 | (b[8] & 0x3f);
    const hex = b.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}
