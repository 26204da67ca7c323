/**
 * The first import of the command line (src/cli.ts): starts tracing when OTEL_EXPORTER_OTLP_ENDPOINT
 * is set, before anything else is loaded, so that the instrumentations see http, express, graphql
 * and pg being required. Without the variable it only reads the environment (no OpenTelemetry module
 * is loaded).
 */
import fs from 'node:fs';
import path from 'node:path';
import { startTracing, tracingEnabled, type Tracing } from './tracing';

/** How long a shutdown waits for the last spans to be exported (a collector that is down must not hold it up). */
const FLUSH_TIMEOUT_MS = 5_000;

/** Tessera's version from package.json (src/platform/ from source, dist/src/platform/ when built). */
function serviceVersion(): string | undefined {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tessera') return pkg.version;
    } catch {
      // None here: look further up.
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

const tracing: Tracing | undefined = tracingEnabled(process.env) ? startTracing(process.env, { serviceVersion: serviceVersion() }) : undefined;

/** Exports the spans still buffered (at most FLUSH_TIMEOUT_MS); the server's shutdown awaits it before exiting. */
export async function flushTracing(): Promise<void> {
  if (!tracing) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, FLUSH_TIMEOUT_MS);
    timer.unref();
  });
  try {
    await Promise.race([tracing.shutdown().catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
