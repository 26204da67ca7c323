/**
 * Optional tracing with OpenTelemetry: spans of HTTP requests, Express routes, GraphQL operations and
 * SQL queries, exported over OTLP/HTTP (JSON) when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces-only
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set.
 *
 * Off, it costs nothing: this module imports no OpenTelemetry package at all, and startTracing
 * returns before requiring one. On, it must run before http, express, graphql and pg are first
 * required (the instrumentations patch them as they load): src/platform/tracing-preload.ts, the first
 * import of src/cli.ts, calls it.
 *
 * The SDK reads the standard variables itself: OTEL_EXPORTER_OTLP_(TRACES_)HEADERS, _TIMEOUT,
 * _COMPRESSION; OTEL_BSP_* (batching); OTEL_TRACES_SAMPLER(_ARG); OTEL_SPAN_*_LIMIT;
 * OTEL_RESOURCE_ATTRIBUTES; OTEL_SERVICE_NAME (default here: tessera); OTEL_LOG_LEVEL (the SDK's
 * own diagnostics, on the console); OTEL_SDK_DISABLED=true turns tracing off.
 */

import type * as Api from '@opentelemetry/api';
import type * as Exporter from '@opentelemetry/exporter-trace-otlp-http';
import type * as Instrumentation from '@opentelemetry/instrumentation';
import type * as Express from '@opentelemetry/instrumentation-express';
import type * as GraphQL from '@opentelemetry/instrumentation-graphql';
import type * as Http from '@opentelemetry/instrumentation-http';
import type * as Pg from '@opentelemetry/instrumentation-pg';
import type * as Resources from '@opentelemetry/resources';
import type * as TraceNode from '@opentelemetry/sdk-trace-node';

export type TracingEnv = Record<string, string | undefined>;

export interface Tracing {
  /** Where spans go (the OTLP endpoint as configured). */
  endpoint: string;
  /** Exports the spans still buffered and stops tracing (later spans are dropped). */
  shutdown(): Promise<void>;
}

const GRAPHQL_SCOPE = '@opentelemetry/instrumentation-graphql';

/** Requests whose spans would only be noise: probes and scrapes, every few seconds. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** Whether the environment asks for tracing: an OTLP endpoint is set, and the SDK is not disabled. */
export function tracingEnabled(env: TracingEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/**
 * Starts tracing when the environment asks for it (see tracingEnabled); otherwise does nothing and
 * returns undefined, without loading any OpenTelemetry module. Synchronous, so that it can run
 * before the instrumented modules are required.
 */
export function startTracing(env: TracingEnv, options: { serviceVersion?: string } = {}): Tracing | undefined {
  if (!tracingEnabled(env)) return undefined;

  // Required here, not imported above: loading them is the cost that tracing switched off avoids.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const api = require('@opentelemetry/api') as typeof Api;
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof Exporter;
  const { registerInstrumentations } = require('@opentelemetry/instrumentation') as typeof Instrumentation;
  const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express') as typeof Express;
  const { GraphQLInstrumentation } = require('@opentelemetry/instrumentation-graphql') as typeof GraphQL;
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof Http;
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof Pg;
  const resources = require('@opentelemetry/resources') as typeof Resources;
  const { BatchSpanProcessor, NodeTracerProvider } = require('@opentelemetry/sdk-trace-node') as typeof TraceNode;
  /* eslint-enable @typescript-eslint/no-require-imports */

  const logLevel = env.OTEL_LOG_LEVEL?.trim();
  if (logLevel) {
    // NONE, ERROR, WARN, INFO, DEBUG, VERBOSE or ALL (anything else: INFO), as the SDK's own variable means it.
    const named: unknown = api.DiagLogLevel[logLevel.toUpperCase() as keyof typeof Api.DiagLogLevel];
    api.diag.setLogger(new api.DiagConsoleLogger(), { logLevel: typeof named === 'number' ? named : api.DiagLogLevel.INFO });
  }

  // Ours first: OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (the environment detector) override it.
  const resource = resources
    .resourceFromAttributes({
      'service.name': env.OTEL_SERVICE_NAME?.trim() || 'tessera',
      ...(options.serviceVersion ? { 'service.version': options.serviceVersion } : {}),
    })
    .merge(resources.detectResources({ detectors: [resources.processDetector, resources.hostDetector, resources.envDetector] }));

  // OTLP over HTTP with a JSON body; the endpoint, headers, timeout and compression come from OTEL_EXPORTER_OTLP_*.
  const exporter = new OTLPTraceExporter();
  const batch = new BatchSpanProcessor(exporter);
  // GraphQL parses outside any request (the schema and the persisted operations, at start) would each be
  // a trace of their own: dropped. Everything else goes to the batch (OTEL_BSP_*).
  const processor: TraceNode.SpanProcessor = {
    onStart: (span, parentContext) => batch.onStart(span, parentContext),
    onEnd: (span) => {
      if (span.parentSpanContext === undefined && span.instrumentationScope.name === GRAPHQL_SCOPE) return;
      batch.onEnd(span);
    },
    forceFlush: () => batch.forceFlush(),
    shutdown: () => batch.shutdown(),
  };
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  // The global tracer provider, AsyncLocalStorage context and W3C trace-context/baggage propagation.
  provider.register();

  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.has((req.url ?? '').split('?')[0]),
      }),
      new ExpressInstrumentation(),
      // No spans for resolvers that only read a property; variable values are never recorded (passwords, keys).
      new GraphQLInstrumentation({ ignoreTrivialResolveSpans: true, mergeItems: true }),
      // Only queries made on behalf of something traced (a request): the job queue's polling stays out.
      // Statement parameters are not recorded (enhancedDatabaseReporting is off).
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  });

  let stopped: Promise<void> | undefined;
  return {
    endpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT!.trim(),
    shutdown() {
      stopped ??= (async () => {
        unregister();
        await provider.shutdown();
      })();
      return stopped;
    },
  };
}
