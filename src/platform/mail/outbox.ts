import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import type { PgBoss as PgBossInstance } from 'pg-boss' with { 'resolution-mode': 'import' };
import { inTransactionDb, OUTBOX_SCHEMA, outboxStats, startOutboxBoss, type OutboxStats } from '../outbox-boss';
import type { EntityManager } from 'typeorm';
import type { Logger } from '../logger';
import type { MailMessage, MailTransport } from './mailer';

/** The queue of outgoing mail (pg-boss, in its own schema `OUTBOX_SCHEMA`). */
export const MAIL_QUEUE = 'mail';
export { OUTBOX_SCHEMA, type OutboxStats };

/**
 * Retries with exponential backoff for about eleven hours: 5 s, 10 s, 20 s … capped at an hour
 * (pg-boss: retryDelay · 2^n with jitter, at most retryDelayMax), 20 retries in all. A job whose
 * worker died (kill -9, power loss) stops sending heartbeats and is retried by the next supervise
 * pass of any instance, within about half a minute.
 */
const QUEUE_OPTIONS = {
  retryLimit: 20,
  retryDelay: 5,
  retryBackoff: true,
  retryDelayMax: 3600,
  heartbeatSeconds: 10,
  expireInSeconds: 120,
  // A queued job may wait a week for its turn; finished ones (delivered, or failed for good, which
  // the failed gauge counts) are kept a week, then deleted.
  retentionSeconds: 7 * 86400,
  deleteAfterSeconds: 7 * 86400,
  notify: true,
};

/** What a queued job carries: the message sealed (it holds live links and license keys), and its Message-ID. */
interface MailJob {
  sealed: string;
}

/** A message as the worker delivers it. */
export interface QueuedMail extends MailMessage {
  messageId: string;
  /** A reminder to record as delivered (license_reminders), once the SMTP server has taken the message. */
  reminder?: { licenseId: string; daysBefore: number };
}

/**
 * The durable outbox for mail (architecture.md, "After commit: the outbox"). `send(tx, message)`
 * writes the message as a pg-boss job inside the caller's transaction, so that it exists exactly
 * when the change that caused it has committed; a worker on every instance delivers it, retrying
 * with backoff, and a killed worker's job is taken over by another. Each message carries a stable
 * `Message-ID` (the job's ID), so a retry after an unknown outcome (the SMTP server took the mail,
 * the process died before recording it) is recognizable as the same message.
 *
 * The message is sealed with a key derived from APP_SECRET: the outbox table holds verification and
 * reset links and license keys, and a database dump must not hand them out.
 */
export class MailOutbox {
  private boss: PgBossInstance | undefined;
  private readonly key: Buffer;
  /** Called after a delivery the SMTP server accepted (the server counts and records reminders). */
  onDelivered: (mail: QueuedMail) => Promise<void> = async () => undefined;
  /** Called after a failed attempt (metrics). */
  onFailedAttempt: (mail: QueuedMail) => void = () => undefined;

  constructor(
    private readonly options: {
      databaseUrl: string;
      appSecret: string;
      transport: MailTransport;
      logger: Logger;
      /** Domain of generated Message-IDs (MAIL_FROM's). */
      domain: string;
      /** Whether this process delivers (the server) or only enqueues (a one-off command). */
      work: boolean;
      connectTimeoutMs: number;
      statementTimeoutMs: number;
      lockTimeoutMs: number;
      /** Reads for stats and drain, through the server's own pool. */
      query: (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>;
    },
  ) {
    this.key = Buffer.from(hkdfSync('sha256', options.appSecret, 'tessera-outbox', 'mail payload v1', 32));
  }

  async start(): Promise<void> {
    const { logger } = this.options;
    const boss = await startOutboxBoss({
      databaseUrl: this.options.databaseUrl,
      name: 'tessera-outbox',
      logger,
      work: this.options.work,
      connectTimeoutMs: this.options.connectTimeoutMs,
      statementTimeoutMs: this.options.statementTimeoutMs,
      lockTimeoutMs: this.options.lockTimeoutMs,
    });
    this.boss = boss;
    await boss.createQueue(MAIL_QUEUE, QUEUE_OPTIONS);
    if (!this.options.work) return;
    // Up to ten at a time, each settled on its own (one refused address must not send the other
    // nine again); a full batch fetches the next at once, NOTIFY wakes the worker on a new job, and
    // polling every 2 s is the floor when notifications are lost.
    await boss.work<MailJob>(
      MAIL_QUEUE,
      { batchSize: 10, perJobResults: true, burstWhenBatchFull: true, pollingIntervalSeconds: 1, notifyPollingIntervalSeconds: 2 },
      async (jobs) =>
        Promise.all(
          jobs.map(async (job) => {
            let mail: QueuedMail;
            try {
              mail = this.open(job.data.sealed);
            } catch (err) {
              // Sealed under another APP_SECRET: no retry can read it (every instance needs the same secret).
              logger.error({ err, job: job.id }, 'a queued mail cannot be opened (APP_SECRET differs between instances?); it is set aside');
              return { id: job.id, status: 'deadletter' as const, output: { error: 'unreadable' } };
            }
            try {
              await this.options.transport.deliver(mail);
            } catch (err) {
              this.onFailedAttempt(mail);
              // A permanent refusal (SMTP 5xx: no such mailbox, policy) is not retried.
              const code = (err as { responseCode?: number }).responseCode;
              const permanent = code !== undefined && code >= 500 && code < 600;
              logger.warn(
                { err, kind: mail.kind, messageId: mail.messageId, attempt: job.retryCount + 1, permanent },
                permanent ? 'mail refused for good by the SMTP server' : 'mail not delivered yet; it will be retried',
              );
              return { id: job.id, status: permanent ? ('deadletter' as const) : ('failed' as const), output: { error: (err as Error).message, code } };
            }
            await this.onDelivered(mail).catch((err: unknown) => logger.error({ err, kind: mail.kind }, 'recording a delivered mail failed'));
            return { id: job.id, status: 'completed' as const };
          }),
        ),
    );
  }

  /** Queues `message` inside the transaction `tx`: it is sent if and only if `tx` commits. */
  async send(tx: EntityManager, message: MailMessage, extra: Pick<QueuedMail, 'reminder'> = {}): Promise<string> {
    const boss = this.started();
    const id = randomUUID();
    const mail: QueuedMail = { ...message, ...extra, messageId: `<${id}@${this.options.domain}>` };
    const queued = await boss.send(MAIL_QUEUE, { sealed: this.seal(mail) } satisfies MailJob, {
      id,
      db: inTransactionDb(tx),
    });
    // pg-boss answers null when it inserted nothing: the transaction must not commit without its mail.
    if (queued !== id) throw new Error('the mail outbox did not queue the message');
    return id;
  }

  /** Queued (waiting or due for a retry), failed for good, and the age of the oldest queued message. */
  async stats(): Promise<OutboxStats> {
    return outboxStats(this.options.query, MAIL_QUEUE);
  }

  /**
   * Resolves once no mail is waiting to be sent now (queued, being sent, or due for a retry); mail
   * waiting for a later retry does not count. For tests and for a one-off command that sent mail.
   */
  async drain(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [row] = await this.options.query(
        `SELECT count(*)::int AS n FROM ${OUTBOX_SCHEMA}.job
          WHERE name = $1 AND (state IN ('created', 'active') OR (state = 'retry' AND start_after <= now()))`,
        [MAIL_QUEUE],
      );
      if (Number(row.n) === 0) return;
      if (Date.now() > deadline) throw new Error(`the mail outbox still holds ${String(row.n)} due message(s) after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    const boss = this.boss;
    this.boss = undefined;
    // Graceful: a delivery under way finishes (or is handed back for a retry after 10 s).
    await boss?.stop({ graceful: true, timeout: 10_000 });
  }

  private started(): PgBossInstance {
    if (!this.boss) throw new Error('the mail outbox is not started');
    return this.boss;
  }

  private seal(mail: QueuedMail): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(mail), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  private open(sealed: string): QueuedMail {
    const blob = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, blob.subarray(0, 12));
    decipher.setAuthTag(blob.subarray(12, 28));
    return JSON.parse(Buffer.concat([decipher.update(blob.subarray(28)), decipher.final()]).toString('utf8')) as QueuedMail;
  }
}
