export {
  MAX_TRACESTATE_LENGTH,
  TRACEPARENT,
  TRACESTATE,
  decodeTraceHeaders,
  encodeTraceHeaders,
  formatTraceparent,
  parseTraceparent,
  parseTracestate,
  traceHeadersFrom,
  type ParsedTraceparent,
  type TraceHeaders,
} from './trace-context.js';
export {
  SpanKind,
  SpanStatusCode,
  Tracing,
  activeTraceFields,
  mqttAttributes,
  spanContextOf,
  startTracing,
  traceIdOf,
  type Attributes,
  type Span,
  type SpanStart,
  type TracingSettings,
  type WarningLogger,
} from './tracing.js';
export { OtlpReceiver, formatSpanTree, spansOfExport, type CollectedSpan, type ReceivedExport } from './otlp-receiver.js';
