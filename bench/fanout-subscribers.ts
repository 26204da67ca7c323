/**
 * The subscribers of `bench:fanout`, in a worker thread of their own: the thousands of pushes they
 * parse must not share an event loop with the probe whose latency is measured. Posts
 * `{ ready, subscribed, refused }` once every subscription answered, then `{ pushes }` when asked.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

interface Plan {
  url: string;
  organizationId: string;
  /** Per connection: the token and how many subscriptions it holds. */
  connections: Array<{ token: string; subscriptions: number }>;
}

const plan = workerData as Plan;
const clients: Client[] = [];
let pushes = 0;
let subscribed = 0;
let refused = 0;
let left = plan.connections.reduce((n, c) => n + c.subscriptions, 0);

for (const connection of plan.connections) {
  const client = createClient({
    url: plan.url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${connection.token}` },
    retryAttempts: 0,
  });
  clients.push(client);
  for (let k = 0; k < connection.subscriptions; k++) {
    let first = true;
    client.subscribe(
      { query: 'subscription($id: ID!) { seatUsageChanged(organizationId: $id) { inUse } }', variables: { id: plan.organizationId } },
      {
        next: () => {
          if (!first) return void pushes++;
          first = false;
          subscribed++;
          if (--left === 0) parentPort!.postMessage({ ready: true, subscribed, refused });
        },
        error: () => {
          refused++;
          if (--left === 0) parentPort!.postMessage({ ready: true, subscribed, refused });
        },
        complete: () => undefined,
      },
    );
  }
}

parentPort!.on('message', (message: string) => {
  if (message === 'pushes') parentPort!.postMessage({ pushes });
  if (message === 'stop') {
    for (const c of clients) void c.dispose();
    parentPort!.close();
  }
});
