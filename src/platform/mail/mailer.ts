import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type { EntityManager } from 'typeorm';
import type { Logger } from '../logger';
import type { MailOutbox, QueuedMail } from './outbox';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** The message's kind, for logs and metrics (never its content). */
  kind: string;
  /** A link the message carries; logged only when mail goes to files (no SMTP_URL), for development. */
  link?: string;
}

/**
 * What services send mail through: `send(tx, message)` queues it in the durable outbox inside the
 * caller's transaction (see outbox.ts); the outbox's worker delivers it through a `MailTransport`.
 */
export class Mailer {
  constructor(readonly outbox: MailOutbox) {}

  async send(tx: EntityManager, message: MailMessage, extra: Pick<QueuedMail, 'reminder'> = {}): Promise<void> {
    await this.outbox.send(tx, message, extra);
  }

  /** Waits until every mail due now has been delivered (or has failed and waits for its retry). */
  drain(): Promise<void> {
    return this.outbox.drain();
  }
}

/**
 * Delivery of one message, once: with SMTP_URL, nodemailer's SMTP transport; otherwise the message
 * is written as an `.eml` file under DATA_DIR/mail/ and its link is logged, so that a developer can
 * follow it. A failure is thrown: the outbox retries it.
 */
export class MailTransport {
  private readonly transport: Transporter;

  constructor(
    private readonly options: { smtpUrl?: string; from: string; mailDir: string; logLinks?: boolean },
    private readonly logger: Logger,
  ) {
    this.transport = options.smtpUrl
      ? // Bounded waits: a hung SMTP server fails the attempt (the outbox retries it) rather than holding it.
        nodemailer.createTransport({ url: options.smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 })
      : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  }

  get toFiles(): boolean {
    return !this.options.smtpUrl;
  }

  /** The domain of MAIL_FROM, for Message-IDs. */
  get domain(): string {
    return /@([^>\s]+)>?\s*$/.exec(this.options.from)?.[1] ?? 'localhost';
  }

  async deliver(message: QueuedMail): Promise<void> {
    const info = await this.transport.sendMail({
      from: this.options.from,
      to: message.to,
      subject: message.subject,
      text: message.text,
      html: message.html,
      messageId: message.messageId,
    });
    if (this.toFiles) {
      await fs.mkdir(this.options.mailDir, { recursive: true });
      const file = path.join(this.options.mailDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${message.kind}-${randomBytes(3).toString('hex')}.eml`);
      await fs.writeFile(file, (info as unknown as { message: Buffer }).message, { mode: 0o600 });
      this.logger.info(
        { kind: message.kind, file, link: this.options.logLinks === false ? undefined : message.link },
        'mail written to file (no SMTP_URL set)',
      );
    } else {
      this.logger.info({ kind: message.kind, messageId: message.messageId }, 'mail sent');
    }
  }

  close(): void {
    this.transport.close();
  }
}
