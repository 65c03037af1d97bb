import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { OtlpReceiver } from './otlp-receiver.js';
import { SpanKind, activeTraceFields, startTracing, type TracingSettings } from './tracing.js';

const base: TracingSettings = {
  disabled: false,
  endpoint: undefined,
  protocol: 'http/json',
  sampler: 'parentbased_always_on',
  samplerArg: 1,
  serviceName: undefined,
};
const service = { name: 'rrpc-test', instanceId: 'test-0' };
const receivers: OtlpReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
});

async function receiver(): Promise<{ receiver: OtlpReceiver; endpoint: string }> {
  const r = new OtlpReceiver();
  receivers.push(r);
  return { receiver: r, endpoint: await r.start() };
}

describe('startTracing', () => {
  it('is off (undefined: no SDK, no spans) without an endpoint, and with OTEL_SDK_DISABLED', async () => {
    expect(startTracing(base, service)).toBeUndefined();
    const { endpoint } = await receiver();
    expect(startTracing({ ...base, endpoint, disabled: true }, service)).toBeUndefined();
  });

  it('exports spans with the service name, continuing a remote parent', async () => {
    const { receiver: r, endpoint } = await receiver();
    const tracing = startTracing({ ...base, endpoint }, service);
    expect(tracing).toBeDefined();
    const parent = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'a=1' };
    const span = tracing!.startSpan('unit', { kind: SpanKind.INTERNAL, parent });
    const headers = tracing!.headersOf(span);
    expect(headers.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(headers.tracestate).toBe('a=1');
    span.end();
    await tracing!.shutdown();
    expect(r.spans).toHaveLength(1);
    expect(r.spans[0]).toMatchObject({
      service: 'rrpc-test',
      name: 'unit',
      parentSpanId: '00f067aa0ba902b7',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    });
  });

  it('samples nothing with always_off, yet hands out a traceparent (flag 00) to pass on', async () => {
    const { receiver: r, endpoint } = await receiver();
    const tracing = startTracing({ ...base, endpoint, sampler: 'traceidratio', samplerArg: 0 }, service)!;
    const span = tracing.startSpan('unsampled', { kind: SpanKind.SERVER });
    expect(span.isRecording()).toBe(false);
    expect(tracing.headersOf(span).traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    span.end();
    await tracing.shutdown();
    expect(r.exports).toHaveLength(0);
  });

  it("logs the SDK's warnings, such as an export nobody took", async () => {
    const warnings: string[] = [];
    // The SDK's own variable (read by its BatchSpanProcessor): export after 50 ms, not 5 s.
    process.env['OTEL_BSP_SCHEDULE_DELAY'] = '50';
    const tracing = startTracing({ ...base, endpoint: 'http://127.0.0.1:1' }, service, { warn: (_obj, msg) => warnings.push(msg ?? '') })!;
    delete process.env['OTEL_BSP_SCHEDULE_DELAY'];
    tracing.startSpan('lost', { kind: SpanKind.INTERNAL }).end();
    await waitFor(() => warnings.some((w) => w.startsWith('OpenTelemetry: ')), 25_000, 'an OpenTelemetry warning');
    await tracing.shutdown().catch(() => undefined);
  });

  it('makes a recorded span active for log fields inside withSpan only', async () => {
    const { endpoint } = await receiver();
    const tracing = startTracing({ ...base, endpoint }, service)!;
    const span = tracing.startSpan('logged', { kind: SpanKind.INTERNAL });
    expect(activeTraceFields()).toEqual({});
    const inside = await tracing.withSpan(span, async () => {
      await new Promise((r) => setTimeout(r, 5));
      return activeTraceFields();
    });
    expect(inside).toEqual({ trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId });
    expect(activeTraceFields()).toEqual({});
    span.end();
    await tracing.shutdown();
  });
});
