/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate` values a
 * caller sends and that travel on to the device as MQTT 5 user properties of the same names. Pure
 * functions, no SDK: the api uses them even with tracing off, to pass a caller's context through.
 */

export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

/** A validated pair of W3C values, as they go over HTTP, MQTT and into Redis. */
export interface TraceHeaders {
  traceparent: string;
  tracestate?: string | undefined;
}

export interface ParsedTraceparent {
  traceId: string;
  spanId: string;
  /** The trace-flags byte; bit 0 is "sampled". */
  flags: number;
}

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\s]*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** What we keep of a tracestate (the spec asks vendors to pass on at least 512 characters). */
export const MAX_TRACESTATE_LENGTH = 512;
const MAX_TRACESTATE_MEMBERS = 32;
const KEY_RE = /^(?:[a-z0-9][_0-9a-z*/-]{0,255}|[a-z0-9][_0-9a-z*/-]{0,240}@[a-z][_0-9a-z*/-]{0,13})$/;
const VALUE_RE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** The parts of a traceparent, or undefined when it is not a valid one (then a new trace starts). */
export function parseTraceparent(value: unknown): ParsedTraceparent | undefined {
  if (typeof value !== 'string' || value.length < 55 || value.length > 256) return undefined;
  const m = TRACEPARENT_RE.exec(value.trim());
  if (m === null) return undefined;
  const [, version, traceId = '', spanId = '', flags = '', rest] = m;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, flags: parseInt(flags, 16) };
}

export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${flags & 1 ? '01' : '00'}`;
}

/** A tracestate as the spec allows it (list members key=value, at most 32, at most 512 characters), else undefined. */
export function parseTracestate(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TRACESTATE_LENGTH) return undefined;
  const members: string[] = [];
  for (const raw of value.split(',')) {
    const member = raw.trim();
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq <= 0 || !KEY_RE.test(member.slice(0, eq)) || !VALUE_RE.test(member.slice(eq + 1))) return undefined;
    members.push(member);
  }
  if (members.length === 0 || members.length > MAX_TRACESTATE_MEMBERS) return undefined;
  return members.join(',');
}

/**
 * The trace context of a request's `traceparent` / `tracestate` (header values, user properties): undefined
 * when the traceparent is missing or malformed (never an error); an invalid tracestate is dropped alone.
 */
export function traceHeadersFrom(traceparent: unknown, tracestate: unknown): TraceHeaders | undefined {
  const first = (v: unknown): unknown => (Array.isArray(v) ? (v.length === 1 ? (v as unknown[])[0] : undefined) : v);
  const parent = first(traceparent);
  const parsed = parseTraceparent(parent);
  if (parsed === undefined) return undefined;
  const state = tracestate === undefined ? undefined : parseTracestate(Array.isArray(tracestate) ? tracestate.join(',') : tracestate);
  return {
    traceparent: formatTraceparent(parsed.traceId, parsed.spanId, parsed.flags),
    ...(state !== undefined ? { tracestate: state } : {}),
  };
}

/** One string for a Redis field: the traceparent, and the tracestate after a newline when there is one. */
export function encodeTraceHeaders(trace: TraceHeaders): string {
  return trace.tracestate === undefined ? trace.traceparent : `${trace.traceparent}\n${trace.tracestate}`;
}

export function decodeTraceHeaders(value: string | undefined): TraceHeaders | undefined {
  if (value === undefined || value === '') return undefined;
  const nl = value.indexOf('\n');
  return nl < 0 ? traceHeadersFrom(value, undefined) : traceHeadersFrom(value.slice(0, nl), value.slice(nl + 1));
}
