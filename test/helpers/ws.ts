import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface Subscription<T> {
  events: T[];
  errors: unknown[];
  completed: boolean;
  /** Waits until `count` events have arrived (5 s at most). */
  waitForCount(count: number, timeoutMs?: number): Promise<T[]>;
  waitForEnd(timeoutMs?: number): Promise<void>;
  close(): void;
}

/** A real graphql-ws client on the server's /graphql WebSocket, with the token in connection params. */
export function wsClient(url: string, token?: string): Client {
  return createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
  });
}

export function subscribe<T>(client: Client, query: string, variables: Record<string, unknown>, field: string): Subscription<T> {
  const sub: Subscription<T> = {
    events: [],
    errors: [],
    completed: false,
    async waitForCount(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (sub.events.length < count) {
        if (Date.now() > deadline)
          throw new Error(`expected ${count} events, got ${sub.events.length}: ${JSON.stringify(sub.events)} errors ${JSON.stringify(sub.errors)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return sub.events;
    },
    async waitForEnd(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!sub.completed && sub.errors.length === 0) {
        if (Date.now() > deadline) throw new Error('the subscription did not end');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => undefined,
  };
  sub.close = client.subscribe<Record<string, T>>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors) sub.errors.push(...result.errors);
        else if (result.data) sub.events.push(result.data[field]);
      },
      error: (err) => sub.errors.push(err),
      complete: () => {
        sub.completed = true;
      },
    },
  );
  return sub;
}
