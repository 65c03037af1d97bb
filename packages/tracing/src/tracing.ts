/**
 * OpenTelemetry for one service: a tracer provider of its own (not the global one, so several services in
 * one test process keep their names), an OTLP/HTTP exporter (protobuf or JSON) and the standard samplers.
 * startTracing returns undefined when no endpoint is configured or the SDK is disabled: callers test for
 * undefined and create no spans at all, so the hot path pays nothing.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  DiagLogLevel,
  context,
  createTraceState,
  diag,
  trace,
  type Attributes,
  type Link,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from '@rrpc/config';
import { formatTraceparent, parseTraceparent, type TraceHeaders } from './trace-context.js';

/** The OTEL_* settings, read and validated by @rrpc/config (which owns the variables and their vocabularies). */
export type TracingSettings = TracingConfig;

export { SpanKind, SpanStatusCode, type Attributes, type Span };

function samplerOf(settings: TracingSettings): Sampler {
  const ratio = () => new TraceIdRatioBasedSampler(settings.samplerArg);
  switch (settings.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

let contextManagerSet = false;

/** The span context of a W3C pair, as a remote parent. */
export function spanContextOf(headers: TraceHeaders): SpanContext | undefined {
  const parsed = parseTraceparent(headers.traceparent);
  if (parsed === undefined) return undefined;
  return {
    traceId: parsed.traceId,
    spanId: parsed.spanId,
    traceFlags: parsed.flags & 1,
    isRemote: true,
    ...(headers.tracestate !== undefined ? { traceState: createTraceState(headers.tracestate) } : {}),
  };
}

export interface SpanStart {
  kind: SpanKind;
  /** The parent (a caller's, a stored one); undefined: a new trace. */
  parent?: TraceHeaders | undefined;
  attributes?: Attributes;
  /** Epoch ms (fractions allowed); default now. */
  startTime?: number;
  links?: Link[];
}

export class Tracing {
  readonly tracer: Tracer;
  readonly serviceName: string;

  constructor(
    private readonly provider: BasicTracerProvider,
    serviceName: string,
  ) {
    this.serviceName = serviceName;
    this.tracer = provider.getTracer('rrpc');
  }

  startSpan(name: string, start: SpanStart): Span {
    const parentContext = start.parent === undefined ? undefined : spanContextOf(start.parent);
    const ctx = parentContext === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parentContext);
    return this.tracer.startSpan(
      name,
      {
        kind: start.kind,
        ...(start.attributes ? { attributes: start.attributes } : {}),
        ...(start.startTime !== undefined ? { startTime: start.startTime } : {}),
        ...(start.links ? { links: start.links } : {}),
        root: parentContext === undefined,
      },
      ctx,
    );
  }

  /** The W3C pair naming `span` as the parent (sent to the device, stored with a job, put on a callback). */
  headersOf(span: Span): TraceHeaders {
    const sc = span.spanContext();
    const state = sc.traceState?.serialize();
    return { traceparent: formatTraceparent(sc.traceId, sc.spanId, sc.traceFlags), ...(state ? { tracestate: state } : {}) };
  }

  /**
   * Runs `fn` with `span` active, so that log lines carry its trace_id and span_id. Only recorded spans are
   * made active: an unsampled call does not switch the async context on (AsyncLocalStorage costs CPU).
   */
  withSpan<T>(span: Span, fn: () => T): T {
    if (!span.isRecording()) return fn();
    return context.with(trace.setSpan(context.active(), span), fn);
  }

  /** Ends a span, marking it failed when `error` is given. */
  end(span: Span, error?: unknown): void {
    if (error !== undefined) {
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : typeof error === 'string' ? error : JSON.stringify(error),
      });
    }
    span.end();
  }

  forceFlush(): Promise<void> {
    return this.provider.forceFlush();
  }

  /**
   * Exports what is left and stops; gives up after `graceMs` (a receiver that is down must not hold a pod's
   * shutdown: the exporter would retry for up to 30 s).
   */
  async shutdown(graceMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`spans not exported within ${graceMs} ms`)), graceMs);
      timer.unref();
    });
    try {
      await Promise.race([this.provider.shutdown(), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Where the SDK's own warnings go (an export the collector refused or could not take, a full queue). */
export interface WarningLogger {
  warn(obj: object, msg?: string): void;
}

/** The service's tracing, or undefined when it is off (no endpoint, or OTEL_SDK_DISABLED=true). */
export function startTracing(
  settings: TracingSettings,
  service: { name: string; instanceId: string },
  logger?: WarningLogger,
): Tracing | undefined {
  if (settings.disabled || settings.endpoint === undefined) return undefined;
  if (logger !== undefined) {
    // Process-wide, like the SDK's diag channel itself: warnings and errors only.
    const warn = (message: string, ...args: unknown[]) =>
      logger.warn({ otel: args.map(String).join(' ').slice(0, 500) }, `OpenTelemetry: ${message}`.slice(0, 300));
    const quiet = () => undefined;
    diag.setLogger(
      { error: warn, warn, info: quiet, debug: quiet, verbose: quiet },
      { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
    );
  }
  const url = `${settings.endpoint.replace(/\/+$/, '')}/v1/traces`;
  const exporter = settings.protocol === 'http/json' ? new JsonTraceExporter({ url }) : new ProtobufTraceExporter({ url });
  const serviceName = settings.serviceName ?? service.name;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': serviceName,
      'service.instance.id': service.instanceId,
      'service.namespace': 'rrpc',
    }),
    sampler: samplerOf(settings),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  if (!contextManagerSet) {
    // Process-wide (one per process; several services in one test process share it).
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    contextManagerSet = true;
  }
  return new Tracing(provider, serviceName);
}

/**
 * `trace_id` and `span_id` of the active span, for log lines (an empty object when there is none). A new
 * object every time: pino merges the line's own fields into what its mixin returns.
 */
export function activeTraceFields(): Record<string, string> {
  const sc = trace.getSpanContext(context.active());
  return sc === undefined ? {} : { trace_id: sc.traceId, span_id: sc.spanId };
}

/** The trace id inside a traceparent ("00-<trace id>-<span id>-<flags>"). */
export function traceIdOf(headers: TraceHeaders): string {
  return headers.traceparent.slice(3, 35);
}

/** The OpenTelemetry messaging attributes of an MQTT message. */
export function mqttAttributes(operation: 'send' | 'process', topic: string, messageId: string | undefined, clientId: string): Attributes {
  return {
    'messaging.system': 'mqtt',
    'messaging.operation.type': operation,
    'messaging.operation.name': operation === 'send' ? 'publish' : 'process',
    'messaging.destination.name': topic,
    ...(messageId !== undefined ? { 'messaging.message.id': messageId } : {}),
    'messaging.client_id': clientId,
  };
}
