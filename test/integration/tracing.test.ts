import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startChild, stopChild, type Child } from '../helpers/child-server';
import { createTestDatabase, dropTestDatabase } from '../helpers/server';

/**
 * Optional tracing (src/platform/tracing.ts): with OTEL_EXPORTER_OTLP_ENDPOINT set, the built server
 * exports spans of HTTP, GraphQL and SQL over OTLP/HTTP to a real receiver, in one trace per request,
 * and flushes what is left when it stops; without it, no OpenTelemetry SDK module is even loaded.
 */
jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');

/** A span as the OTLP/HTTP JSON encoding carries it (only what the tests look at). */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }>;
}

interface ReceivedSpan extends OtlpSpan {
  serviceName: string | undefined;
}

const SPAN_KIND_SERVER = 2;

function attr(span: OtlpSpan, ...keys: string[]): string | undefined {
  for (const key of keys) {
    const found = span.attributes?.find((a) => a.key === key);
    if (found) return String(found.value.stringValue ?? found.value.intValue);
  }
  return undefined;
}

/** A real OTLP/HTTP trace receiver: POST /v1/traces with a JSON body; keeps every span. */
class Receiver {
  readonly spans: ReceivedSpan[] = [];
  readonly contentTypes = new Set<string>();
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      this.contentTypes.add(String(req.headers['content-type']));
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans?: Array<{
            resource?: { attributes?: OtlpSpan['attributes'] };
            scopeSpans?: Array<{ spans?: OtlpSpan[] }>;
          }>;
        };
        for (const rs of body.resourceSpans ?? []) {
          const serviceName = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue;
          for (const ss of rs.scopeSpans ?? []) for (const span of ss.spans ?? []) this.spans.push({ ...span, serviceName });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch {
        res.writeHead(400).end();
      }
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  summary(): string {
    return this.spans.map((s) => `${s.traceId.slice(0, 8)} ${s.kind} ${s.name}`).join('\n');
  }
}

/** The three layers of one GraphQL request in one trace: the HTTP server span, a GraphQL span, a SQL span. */
function layers(spans: ReceivedSpan[]) {
  return {
    http: spans.find(
      (s) =>
        s.kind === SPAN_KIND_SERVER &&
        attr(s, 'http.request.method', 'http.method') === 'POST' &&
        /\/graphql$/.test(attr(s, 'url.path', 'http.target', 'http.route') ?? ''),
    ),
    // The operation's span ("query", "mutation …"; graphql.parse and graphql.validate are its siblings).
    graphql: spans.find((s) => attr(s, 'graphql.operation.type') !== undefined),
    // A query's span (pg-pool's connect spans carry no statement): the account lookup when there is one.
    pg:
      spans.find((s) => /FROM "accounts"/.test(attr(s, 'db.query.text', 'db.statement') ?? '')) ??
      spans.find((s) => attr(s, 'db.system.name', 'db.system') === 'postgresql' && attr(s, 'db.query.text', 'db.statement') !== undefined),
  };
}

async function until<T>(what: string, check: () => T | undefined, describe: () => string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = check();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; received so far:\n${describe()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** POSTs a GraphQL document as the child of a given W3C trace (traceparent), so that its spans are found by trace ID. */
async function gql(url: string, traceId: string, parentSpanId: string, query: string): Promise<{ data?: Record<string, unknown>; errors?: unknown[] }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${parentSpanId}-01` },
    body: JSON.stringify({ query }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
}

const RESET = 'mutation { requestPasswordReset(email: "nobody@example.com") { ok } }';

describe('tracing', () => {
  it('loads no OpenTelemetry SDK module when OTEL_EXPORTER_OTLP_ENDPOINT is unset (the whole command line)', () => {
    expect(fs.existsSync(CLI)).toBe(true);
    // At exit, after cli.js loaded everything it imports (the server, express, graphql, pg): which @opentelemetry packages are loaded?
    const probe = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-tracing-')), 'probe.js');
    fs.writeFileSync(
      probe,
      `process.on('exit', () => {
        const loaded = new Set(Object.keys(require.cache).map((f) => /node_modules[\\\\/](@opentelemetry[\\\\/][^\\\\/]+)/.exec(f)?.[1]).filter(Boolean));
        process.stderr.write('OTEL-LOADED ' + JSON.stringify([...loaded].map((n) => n.replace('\\\\', '/'))) + '\\n');
      });`,
    );
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
    const loaded = (extra: Record<string, string>): string[] => {
      const r = spawnSync(process.execPath, ['-r', probe, CLI, '--version'], { env: { ...env, ...extra }, encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
      const line = /OTEL-LOADED (.*)/.exec(r.stderr)?.[1];
      expect(line).toBeDefined();
      return JSON.parse(line!) as string[];
    };
    const off = loaded({});
    // @opentelemetry/api alone may be loaded by other dependencies (prom-client's exemplars); it is a no-op without an SDK.
    expect(off.filter((n) => n !== '@opentelemetry/api')).toEqual([]);
    // The probe does see them when tracing is on (so the empty list above means something).
    const on = loaded({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
    expect(on).toEqual(expect.arrayContaining(['@opentelemetry/sdk-trace-node', '@opentelemetry/instrumentation-pg', '@opentelemetry/instrumentation-http']));
    // And OTEL_SDK_DISABLED=true keeps it off even with an endpoint.
    expect(loaded({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_SDK_DISABLED: 'true' }).filter((n) => n !== '@opentelemetry/api')).toEqual([]);
    fs.rmSync(path.dirname(probe), { recursive: true, force: true });
  });

  describe('with OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
    const receiver = new Receiver();
    let endpoint: string;
    let databaseUrl: string;
    const children: Child[] = [];

    /** The built server exporting to the receiver, with spans batched for `scheduleDelayMs`. */
    async function tracedServer(scheduleDelayMs: number): Promise<Child> {
      const child = await startChild({
        DATABASE_URL: databaseUrl,
        PORT: '0',
        JOBS: 'off',
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_BSP_SCHEDULE_DELAY: String(scheduleDelayMs),
        OTEL_SERVICE_NAME: 'tessera-tracing-test',
      });
      children.push(child);
      return child;
    }

    async function sigterm(c: Child): Promise<number | null> {
      const exited = new Promise<number | null>((resolve) => c.proc.once('exit', (code) => resolve(code)));
      c.proc.kill('SIGTERM');
      return exited;
    }

    beforeAll(async () => {
      endpoint = await receiver.start();
      databaseUrl = await createTestDatabase();
    });

    afterAll(async () => {
      for (const child of children) await stopChild(child);
      await receiver.close();
      if (databaseUrl) await dropTestDatabase(databaseUrl);
    });

    it('exports an HTTP, a GraphQL and a SQL span of one request in one trace, then exits 0 on SIGTERM', async () => {
      const c = await tracedServer(200);
      // A probe first: probes are not traced.
      const probeTrace = randomBytes(16).toString('hex');
      const probe = await fetch(c.url.replace(/\/graphql$/, '/healthz'), { headers: { traceparent: `00-${probeTrace}-${randomBytes(8).toString('hex')}-01` } });
      expect(probe.status).toBe(200);

      const traceId = randomBytes(16).toString('hex');
      const callerSpan = randomBytes(8).toString('hex');
      const answer = await gql(c.url, traceId, callerSpan, RESET);
      expect(answer).toEqual({ data: { requestPasswordReset: { ok: true } } });

      const found = await until(
        'HTTP, GraphQL and SQL spans of the request',
        () => {
          const { http, graphql, pg } = layers(receiver.trace(traceId));
          return http && graphql && pg && /FROM "accounts"/.test(attr(pg, 'db.query.text', 'db.statement') ?? '') ? { http, graphql, pg } : undefined;
        },
        () => receiver.summary(),
      );
      // The request's server span continues the caller's trace (W3C traceparent); the SQL query descends from the GraphQL operation, that from the request.
      expect(found.http.parentSpanId).toBe(callerSpan);
      expect(found.http.name).toBe('POST /graphql');
      const spans = receiver.trace(traceId);
      const ancestors = (span: OtlpSpan): string[] => {
        const chain: string[] = [];
        for (let at = span.parentSpanId; at; at = spans.find((s) => s.spanId === at)?.parentSpanId) chain.push(at);
        return chain;
      };
      expect(ancestors(found.pg)).toEqual(expect.arrayContaining([found.graphql.spanId, found.http.spanId]));
      expect(ancestors(found.graphql)).toContain(found.http.spanId);
      expect(new Set(spans.map((s) => s.serviceName))).toEqual(new Set(['tessera-tracing-test']));
      // Statement parameters are not recorded (the email address stays out of the trace).
      expect(JSON.stringify(spans)).not.toContain('nobody@example.com');
      expect([...receiver.contentTypes]).toEqual([expect.stringMatching(/^application\/json/)]);
      // Nothing else was traced: not the probe, not the queries made on behalf of no request (the job queue's
      // polling), not the GraphQL parses at start (schema, persisted operations).
      expect(receiver.trace(probeTrace)).toEqual([]);
      expect(new Set(receiver.spans.map((s) => s.traceId))).toEqual(new Set([traceId]));

      expect(await sigterm(c)).toBe(0);
    });

    it('flushes the spans still buffered when it stops (SIGTERM), before it exits 0', async () => {
      // Batches leave only every 10 minutes: what reaches the receiver before the exit was flushed by the shutdown.
      const c = await tracedServer(600_000);
      const traceId = randomBytes(16).toString('hex');
      expect(await gql(c.url, traceId, randomBytes(8).toString('hex'), RESET)).toEqual({ data: { requestPasswordReset: { ok: true } } });
      expect(receiver.trace(traceId)).toEqual([]);
      expect(await sigterm(c)).toBe(0);
      const { http, graphql, pg } = layers(receiver.trace(traceId));
      expect(http).toBeDefined();
      expect(graphql).toBeDefined();
      expect(pg).toBeDefined();
    });
  });
});
