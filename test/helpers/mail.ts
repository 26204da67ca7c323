import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface CaughtMail {
  /** The Message-ID header: the outbox's stable ID of the message. */
  messageId: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  parsed: ParsedMail;
}

/** A real SMTP server on a free loopback port that keeps what it receives, for the server under test. */
export class MailCatcher {
  readonly messages: CaughtMail[] = [];
  private waiters: Array<() => void> = [];
  private server!: SMTPServer;
  port = 0;

  /** Starts listening, on `port` when given (a restart after `stop()` keeps the server's SMTP_URL valid). */
  async start(port = 0): Promise<this> {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, session, callback) => {
        simpleParser(stream)
          .then((parsed) => {
            this.messages.push({
              messageId: parsed.messageId ?? '',
              to: session.envelope.rcptTo.map((r) => r.address).join(','),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
              parsed,
            });
            const w = this.waiters;
            this.waiters = [];
            w.forEach((f) => f());
            callback();
          })
          .catch(callback);
      },
    });
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', () => resolve()));
    this.port = (this.server.server.address() as { port: number }).port;
    return this;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Waits for a message to `to` matching `filter` (5 s at most). */
  async waitFor(to: string, filter: (m: CaughtMail) => boolean = () => true, timeoutMs = 5000): Promise<CaughtMail> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((m) => m.to.toLowerCase() === to.toLowerCase() && filter(m));
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no mail to ${to} within ${timeoutMs} ms; got: ${this.messages.map((m) => `${m.to}: ${m.subject}`).join('; ')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  for(to: string): CaughtMail[] {
    return this.messages.filter((m) => m.to.toLowerCase() === to.toLowerCase());
  }

  clear(): void {
    this.messages.length = 0;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The token in a link `…/path?token=…` found in a mail's text part. */
export function tokenFrom(mail: CaughtMail, pathName: string): string {
  const match = new RegExp(`${pathName}\\?token=([A-Za-z0-9_%-]+)`).exec(mail.text);
  if (!match) throw new Error(`no ${pathName} link in: ${mail.text}`);
  return decodeURIComponent(match[1]);
}
