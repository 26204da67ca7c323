import { auditServer } from 'graphql-http';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config';
import { wsClient } from '../helpers/ws';
import { startTestServer, type TestServer } from '../helpers/server';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

/** GraphQL over HTTP and WebSocket semantics (api-contract.md, "HTTP behaviour"). */
test("graphql-http's server audit: no MUST and no SHOULD failure", async () => {
  const results = await auditServer({ url: t.url });
  const failed = results.filter((r) => r.status === 'error' || r.status === 'warn');
  const report = await Promise.all(failed.map(async (r) => `${r.status} ${r.id} ${r.name}: ${r.status !== 'ok' ? r.reason : ''}`));
  expect(report).toEqual([]);
});

async function post(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(t.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

test('a document that does not parse, or has more tokens than allowed, is 400 GRAPHQL_PARSE_FAILED (never 5xx)', async () => {
  const syntax = await post({ query: '{ me { id }' });
  expect(syntax.status).toBe(400);
  expect(syntax.body.errors[0].extensions.code).toBe('GRAPHQL_PARSE_FAILED');
  const huge = await post({ query: `{ ${Array.from({ length: 2100 }, () => '__typename').join(' ')} }` });
  expect(huge.status).toBe(400);
  expect(huge.body.errors[0].extensions.code).toBe('GRAPHQL_PARSE_FAILED');
  expect(huge.body.errors[0].message).toMatch(/tokens/);
  // With the media type of GraphQL over HTTP, also 400; a client asking for application/json only gets 200 (the spec's legacy rule).
  expect((await post({ query: '{' }, { accept: 'application/graphql-response+json' })).status).toBe(400);
  expect((await post({ query: '{' }, { accept: 'application/json' })).status).toBe(200);
});

test('x-request-id: echoed when sent, made when not, and carried by the log lines of the request', async () => {
  const lines: string[] = [];
  const logged = await startTestServer({ LOG_LEVEL: 'info' }, { logLines: lines });
  try {
    const res = await fetch(logged.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-abc.123' },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    expect(res.headers.get('x-request-id')).toBe('req-abc.123');
    const made = await fetch(logged.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ me { id } }' }) });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    // A header that is not a sane token is replaced, not logged.
    const odd = await fetch(logged.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'a b\u00e9' },
      body: '{"query":"{ me { id } }"}',
    });
    expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const graphqlLines = lines.map((l) => JSON.parse(l) as { msg: string; reqId?: string; op?: string }).filter((l) => l.msg === 'graphql');
    expect(graphqlLines.map((l) => l.reqId)).toEqual(['req-abc.123', made.headers.get('x-request-id'), odd.headers.get('x-request-id')]);
  } finally {
    await logged.stop();
  }
});

test('/metrics labels GraphQL traffic route="/graphql"', async () => {
  await post({ query: '{ me { id } }' });
  const text = await (await fetch(`${t.base}/metrics`)).text();
  expect(text).toMatch(/tessera_http_requests_total\{route="\/graphql",status="2xx"\} [1-9]/);
});

test('CORS: browsers on CORS_ORIGINS get a preflight answer and the headers; other origins do not', async () => {
  const withCors = await startTestServer({ CORS_ORIGINS: 'https://shop.example.com,http://localhost:5173' });
  try {
    const preflight = await fetch(withCors.url, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://shop.example.com');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    const other = await fetch(withCors.url, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  } finally {
    await withCors.stop();
  }
  expect(() => loadConfig({ CORS_ORIGINS: 'shop.example.com' })).toThrow(/CORS_ORIGINS/);
});

describe('the WebSocket', () => {
  test('a bad document is an error for that operation only: the socket stays open and the next operation is answered', async () => {
    const client = wsClient(t.url);
    try {
      const bad = await new Promise<unknown[]>((resolve) => {
        client.subscribe({ query: '{ me { id }' }, { next: () => undefined, error: (e) => resolve(e as unknown[]), complete: () => resolve([]) });
      });
      expect((bad as Array<{ extensions?: { code?: string } }>)[0].extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
      const invalid = await new Promise<unknown[]>((resolve) => {
        client.subscribe({ query: '{ nope }' }, { next: () => undefined, error: (e) => resolve(e as unknown[]), complete: () => resolve([]) });
      });
      expect((invalid as Array<{ extensions?: { code?: string } }>)[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      const good = await new Promise<unknown>((resolve, reject) => {
        client.subscribe({ query: '{ __typename }' }, { next: (r) => resolve(r.data), error: reject, complete: () => undefined });
      });
      expect(good).toEqual({ __typename: 'Query' });
    } finally {
      await client.dispose();
    }
  });

  /** The close code a connection with these connection parameters ends with. */
  const closeCodeFor = (connectionParams: Record<string, unknown>) =>
    new Promise<number>((resolve) => {
      const client = createClient({
        url: t.url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        connectionParams,
        retryAttempts: 0,
        lazy: false,
        onNonLazyError: () => undefined,
        on: { closed: (event) => resolve((event as { code: number }).code) },
      });
      client.on('error', () => undefined);
    });

  test('a token that does not authenticate is refused at connection_init with 4403', async () => {
    expect(await closeCodeFor({ authorization: 'Bearer not-a-token' })).toBe(4403);
    // Nor is a token smuggled in as something else than a string.
    expect(await closeCodeFor({ authorization: ['Bearer not-a-token'] })).toBe(4403);
  });

  test('queries and mutations over the WebSocket are logged (with a request ID) and counted like HTTP ones', async () => {
    const lines: string[] = [];
    const logged = await startTestServer({ LOG_LEVEL: 'info' }, { logLines: lines });
    const client = wsClient(logged.url);
    try {
      await new Promise<unknown>((resolve, reject) => {
        client.subscribe(
          {
            query: 'mutation($input: LoginInput!) { login(input: $input) { token errors { code } } }',
            variables: { input: { email: 'nobody@example.com', password: 'x', client: 'WEB' } },
          },
          { next: resolve, error: reject, complete: () => undefined },
        );
      });
      await client.dispose();
      const entry = await (async () => {
        for (let i = 0; i < 50; i++) {
          const found = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'graphql' && l.op === 'login');
          if (found) return found;
          await new Promise((r) => setTimeout(r, 20));
        }
        return undefined;
      })();
      expect(entry).toMatchObject({ op: 'login', type: 'mutation', transport: 'ws', reqId: expect.any(String) });
      const text = await (await fetch(`${logged.base}/metrics`)).text();
      expect(text).toMatch(/tessera_graphql_operations_total\{operation="login",type="mutation",outcome="ok"\} 1/);
    } finally {
      await logged.stop();
    }
  });
});

// Found by the fuzz test (fuzz.test.ts); each said plainly, never as ours.
test('a subscription sent over HTTP is 400 BAD_REQUEST pointing to the WebSocket (not a null with INTERNAL_SERVER_ERROR)', async () => {
  const r = await post({ query: 'subscription { seatUsageChanged(organizationId: "123e4567-e89b-42d3-a456-426614174000") { total } }' });
  expect(r.status).toBe(400);
  expect(r.body.errors[0].extensions.code).toBe('BAD_REQUEST');
  expect(r.body.errors[0].message).toMatch(/WebSocket/);
});

test("Apollo's own request errors (a persisted-query hash that does not match) are BAD_REQUEST", async () => {
  const r = await post({ query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: 'abc' } } });
  expect(r.status).toBe(400);
  expect(r.body.errors[0].extensions.code).toBe('BAD_REQUEST');
});

test('a document nested deeper than allowed is 400 GRAPHQL_PARSE_FAILED, over HTTP and the WebSocket, without runtime text', async () => {
  const deep = `{ licenseStatus(deviceId: ${'['.repeat(1950)}"x"${']'.repeat(1950)}) { canUse } }`;
  const r = await post({ query: deep });
  expect(r.status).toBe(400);
  expect(r.body.errors[0].extensions.code).toBe('GRAPHQL_PARSE_FAILED');
  expect(JSON.stringify(r.body)).not.toMatch(/call stack/i);
  const client = wsClient(t.url);
  try {
    const error = await new Promise<unknown>((resolve) => {
      client.subscribe({ query: deep.replace(/^\{/, 'subscription {') }, { next: () => undefined, error: resolve, complete: () => resolve(undefined) });
    });
    expect(JSON.stringify(error)).toMatch(/GRAPHQL_PARSE_FAILED/);
  } finally {
    await client.dispose();
  }
});
