/**
 * `npm start --trace`: a built-in OTLP/HTTP receiver the services export their spans to, printing each call's
 * trace as a tree once its spans stop arriving (docs/tracing.md).
 */
import { OtlpReceiver, formatSpanTree, type CollectedSpan } from '@rrpc/tracing';

/** How long a trace must be quiet before it is printed (the services export every 500 ms with --trace). */
const QUIET_MS = 1500;

export interface TracePrinter {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string;
  /** Environment for the services: this receiver, OTLP/JSON, short export delay. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startTracePrinter(print: (text: string) => void): Promise<TracePrinter> {
  const receiver = new OtlpReceiver();
  const endpoint = await receiver.start();
  const pending = new Map<string, { spans: CollectedSpan[]; timer: NodeJS.Timeout }>();
  const flush = (traceId: string) => {
    const entry = pending.get(traceId);
    pending.delete(traceId);
    // Calls only (a trace with a publish): readiness polls and status reads would be noise.
    if (entry !== undefined && entry.spans.some((s) => s.kind === 4)) print(formatSpanTree(entry.spans));
  };
  receiver.onSpans((spans) => {
    for (const span of spans) {
      const entry = pending.get(span.traceId) ?? { spans: [], timer: setTimeout(flush, QUIET_MS, span.traceId) };
      entry.spans.push(span);
      entry.timer.refresh();
      pending.set(span.traceId, entry);
    }
  });
  return {
    endpoint,
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      OTEL_BSP_SCHEDULE_DELAY: '500',
    },
    async stop() {
      for (const traceId of [...pending.keys()]) {
        clearTimeout(pending.get(traceId)?.timer);
        flush(traceId);
      }
      await receiver.stop();
    },
  };
}
