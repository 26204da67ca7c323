import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import Redis from 'ioredis';
import { ConfigError } from '../config';
import type { Logger } from './logger';

/**
 * Publish/subscribe between the parts of the server, and between instances. Messages are small
 * signals ("this pool changed", "this lease ended"): subscribers read the current state from the
 * database when told, so that a lost or merged message is healed by the next one. One instance:
 * in-process. Several instances: Redis pub/sub (REDIS_URL).
 */
export interface EventBus {
  publish(channel: string, message: string): void;
  /** Calls `listener` for every message on `channel` until the returned function is called. */
  subscribe(channel: string, listener: (message: string) => void): () => void;
  close(): Promise<void>;
}

export class LocalEventBus implements EventBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  publish(channel: string, message: string): void {
    this.emitter.emit(channel, message);
  }

  subscribe(channel: string, listener: (message: string) => void): () => void {
    this.emitter.on(channel, listener);
    return () => this.emitter.off(channel, listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/**
 * Redis pub/sub: one connection publishes, one subscribes to the channels that have listeners.
 * What this instance publishes reaches its own subscribers at once, without Redis (so that they
 * keep hearing while Redis is down); the copy that comes back through Redis carries this
 * instance's ID and is dropped. When the subscriber connection comes back after a loss, every pool
 * and account channel is told "changed", so that subscribers re-read what they may have missed.
 */
export class RedisEventBus implements EventBus {
  private readonly local = new LocalEventBus();
  private readonly counts = new Map<string, number>();
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly origin = randomUUID();
  private connectedBefore = false;
  /** The latest connection error, for ready()'s message. */
  private lastError: (Error & { code?: string }) | undefined;

  constructor(
    url: string,
    private readonly logger: Logger,
  ) {
    // Publishing never waits for a Redis that is away: local subscribers were told already.
    this.pub = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    this.sub = new Redis(url, { lazyConnect: false });
    for (const client of [this.pub, this.sub]) {
      client.on('error', (err: Error & { code?: string }) => {
        this.lastError = err;
        this.logger.warn({ err: err.message }, 'redis connection error');
      });
    }
    this.sub.on('message', (channel: string, raw: string) => {
      const cut = raw.indexOf('|');
      if (cut >= 0 && raw.slice(0, cut) === this.origin) return; // ours, told locally already
      // Without an origin: an instance of an older version (during a rolling upgrade).
      this.local.publish(channel, cut >= 0 ? raw.slice(cut + 1) : raw);
    });
    this.sub.on('ready', () => {
      if (this.connectedBefore) {
        this.logger.info('redis is back: subscribers re-read their state');
        for (const channel of this.counts.keys()) if (!channel.startsWith('tessera:lease:')) this.local.publish(channel, 'changed');
      }
      this.connectedBefore = true;
    });
  }

  /** Resolves once both connections are up (the subscriber must be, or messages are missed). */
  async ready(): Promise<void> {
    try {
      await Promise.all([this.pub.ping(), this.sub.ping()]);
    } catch (err) {
      // "Reached the max retries per request limit" says nothing of where: the setting and the address do.
      const { host, port } = this.pub.options;
      const failed = err as Error & { code?: string };
      const cause = failed.name === 'MaxRetriesPerRequestError' && this.lastError ? this.lastError : failed;
      const why = cause.code && /^E[A-Z]+$/.test(cause.code) ? cause.code : cause.message;
      throw new ConfigError(`REDIS_URL: cannot connect to ${host ?? 'localhost'}:${port ?? 6379} (${why})`, undefined, { cause: err });
    }
  }

  publish(channel: string, message: string): void {
    this.local.publish(channel, message);
    if (this.pub.status !== 'ready') return; // away: other instances heal on the next message or on reconnect
    this.pub.publish(channel, `${this.origin}|${message}`).catch((err: Error) => this.logger.warn({ err: err.message, channel }, 'redis publish failed'));
  }
  subscribe(channel: string, listener: (message: string) => void): () => void {
    const off = this.local.subscribe(channel, listener);
    const n = (this.counts.get(channel) ?? 0) + 1;
    this.counts.set(channel, n);
    if (n === 1) void this.sub.subscribe(channel).catch((err: Error) => this.logger.warn({ err: err.message, channel }, 'redis subscribe failed'));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      off();
      const left = (this.counts.get(channel) ?? 1) - 1;
      if (left === 0) {
        this.counts.delete(channel);
        void this.sub.unsubscribe(channel).catch(() => undefined);
      } else this.counts.set(channel, left);
    };
  }

  async close(): Promise<void> {
    await this.local.close();
    this.pub.disconnect();
    this.sub.disconnect();
  }
}

export const channels = {
  /** Seats or licenses of a pool (its owner account) changed. */
  pool: (poolAccountId: string) => `tessera:pool:${poolAccountId}`,
  /** A lease ended. */
  lease: (leaseId: string) => `tessera:lease:${leaseId}`,
  /** An account's tokens or rights changed: its subscriptions re-check who may listen. */
  account: (accountId: string) => `tessera:account:${accountId}`,
};

/**
 * What services tell after commit. Pool signals are coalesced per pool on the publishing side: a
 * storm of acquires on one pool becomes at most one message per `windowMs` (first at once, then
 * one trailing message), each saying only "changed".
 */
export class Events {
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly lastSent = new Map<string, number>();
  private readonly poolListeners: Array<(poolAccountId: string) => void> = [];

  constructor(
    readonly bus: EventBus,
    private readonly windowMs = 100,
  ) {}

  /** In-process: called on this instance for the pool changes it makes, coalesced like the messages (the wait-list listens). */
  onPoolChanged(listener: (poolAccountId: string) => void): void {
    this.poolListeners.push(listener);
  }

  poolChanged(poolAccountId: string): void {
    const channel = channels.pool(poolAccountId);
    if (this.pending.has(channel)) return;
    const since = Date.now() - (this.lastSent.get(channel) ?? 0);
    const send = () => {
      this.pending.delete(channel);
      this.lastSent.set(channel, Date.now());
      this.bus.publish(channel, 'changed');
      for (const listener of this.poolListeners) listener(poolAccountId);
    };
    if (since >= this.windowMs) send();
    else {
      const timer = setTimeout(send, this.windowMs - since);
      timer.unref();
      this.pending.set(channel, timer);
    }
  }

  leasesEnded(leases: Array<{ id: string; poolAccountId: string }>): void {
    for (const l of leases) this.bus.publish(channels.lease(l.id), 'ended');
    for (const pool of new Set(leases.map((l) => l.poolAccountId))) this.poolChanged(pool);
  }

  accountChanged(accountId: string): void {
    this.bus.publish(channels.account(accountId), 'changed');
  }

  async close(): Promise<void> {
    for (const t of this.pending.values()) clearTimeout(t);
    this.pending.clear();
    await this.bus.close();
  }
}
