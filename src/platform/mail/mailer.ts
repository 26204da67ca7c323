import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from '../logger';

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
 * Outgoing mail. With SMTP_URL, nodemailer's SMTP transport; otherwise each message is written as an
 * `.eml` file under DATA_DIR/mail/ and its link is logged, so that a developer can follow it.
 * `send` is called after commit; failures are retried with backoff and then logged.
 */
export class Mailer {
  private readonly transport: Transporter;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly options: { smtpUrl?: string; from: string; mailDir: string; logLinks?: boolean },
    private readonly logger: Logger,
  ) {
    this.transport = options.smtpUrl
      ? nodemailer.createTransport(options.smtpUrl)
      : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  }

  get toFiles(): boolean {
    return !this.options.smtpUrl;
  }

  /** Starts delivery and returns at once; `drain()` waits for everything started. */
  send(message: MailMessage): void {
    const p = this.deliver(message).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  close(): void {
    this.transport.close();
  }

  private async deliver(message: MailMessage): Promise<void> {
    const envelope = { from: this.options.from, to: message.to, subject: message.subject, text: message.text, html: message.html };
    for (let attempt = 1; attempt <= 4; attempt++) {
      try {
        const info = await this.transport.sendMail(envelope);
        if (this.toFiles) {
          await fs.mkdir(this.options.mailDir, { recursive: true });
          const file = path.join(
            this.options.mailDir,
            `${new Date().toISOString().replace(/[:.]/g, '-')}-${message.kind}-${randomBytes(3).toString('hex')}.eml`,
          );
          await fs.writeFile(file, (info as unknown as { message: Buffer }).message, { mode: 0o600 });
          this.logger.info(
            { kind: message.kind, file, link: this.options.logLinks === false ? undefined : message.link },
            'mail written to file (no SMTP_URL set)',
          );
        } else {
          this.logger.info({ kind: message.kind }, 'mail sent');
        }
        return;
      } catch (err) {
        if (attempt === 4) {
          this.logger.error({ err, kind: message.kind }, 'mail could not be delivered');
          return;
        }
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      }
    }
  }
}
