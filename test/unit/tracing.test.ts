import { startTracing, tracingEnabled } from '../../src/platform/tracing';

describe('tracing switch', () => {
  it('is on only with an OTLP endpoint, and OTEL_SDK_DISABLED=true wins', () => {
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: '' })).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).toBe(false);
    expect(tracingEnabled({ OTEL_SERVICE_NAME: 'tessera' })).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'TRUE' })).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'false' })).toBe(true);
  });

  it('starts nothing when off', () => {
    expect(startTracing({})).toBeUndefined();
  });

  it('loads the SDK under Jest too, and shuts down (twice) without a collector', async () => {
    const tracing = startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
    expect(tracing?.endpoint).toBe('http://127.0.0.1:9');
    await tracing!.shutdown();
    await tracing!.shutdown();
  });
});
