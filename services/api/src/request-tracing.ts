import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { RequestHandler, Response } from 'express';
import { SpanKind, SpanStatusCode, encodeTraceHeaders, traceHeadersFrom, type Span, type TraceHeaders, type Tracing } from '@rrpc/tracing';

/**
 * The trace context of one HTTP request (docs/tracing.md). `trace` is what the request's call, job or batch
 * continues: our server span's context with tracing on, else the caller's `traceparent` / `tracestate`
 * passed through. A malformed traceparent is ignored (a new trace starts), never an error.
 */
export interface RequestTrace {
  trace: TraceHeaders | undefined;
  /** Runs `fn` with the server span active (log lines carry its ids). */
  run<T>(fn: () => T): T;
  end(status: number, route?: string): void;
}

export type RequestTracer = (method: string, route: string, headers: IncomingHttpHeaders) => RequestTrace | undefined;

const passThrough = (trace: TraceHeaders): RequestTrace => ({ trace, run: (fn) => fn(), end: () => undefined });

/** Undefined for a request with nothing to trace (tracing off and no traceparent): no allocation then. */
export function requestTracer(tracing: Tracing | undefined): RequestTracer {
  if (tracing === undefined) {
    return (_method, _route, headers) => {
      if (headers.traceparent === undefined) return undefined;
      const passed = traceHeadersFrom(headers.traceparent, headers.tracestate);
      return passed === undefined ? undefined : passThrough(passed);
    };
  }
  return (method, route, headers) => {
    const parent = headers.traceparent === undefined ? undefined : traceHeadersFrom(headers.traceparent, headers.tracestate);
    const span: Span = tracing.startSpan(route === '' ? method : `${method} ${route}`, {
      kind: SpanKind.SERVER,
      parent,
      attributes: route === '' ? { 'http.request.method': method } : { 'http.request.method': method, 'http.route': route },
    });
    return {
      trace: tracing.headersOf(span),
      run: (fn) => tracing.withSpan(span, fn),
      end(status, finalRoute) {
        if (finalRoute !== undefined && finalRoute !== route) {
          span.updateName(`${method} ${finalRoute}`);
          span.setAttribute('http.route', finalRoute);
        }
        span.setAttribute('http.response.status_code', status);
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      },
    };
  };
}

/** The status the server span records: the answer's, or 499 when the client went away before it. */
export function answeredStatus(res: ServerResponse): number {
  return res.writableFinished ? res.statusCode : 499;
}

const TRACED_PATHS = /^\/(?:v1|compat)\//;

/**
 * Express: a server span for every request to /v1/... and /compat/... (the fast call route makes its own),
 * ended when the answer is sent, named by the route that matched.
 */
export function traceRequests(tracer: RequestTracer): RequestHandler {
  return (req, res, next) => {
    if (!TRACED_PATHS.test(req.path)) return next();
    // Named by the route that matched, once known (finish); the path itself names devices (high cardinality).
    const traced = tracer(req.method, '', req.headers);
    if (traced === undefined) return next();
    res.locals['trace'] = traced.trace;
    // 'close' comes after the answer, or when the client went away without one: the span always ends.
    res.once('close', () => {
      const layer: unknown = req.route;
      const route = typeof layer === 'object' && layer !== null ? (layer as { path?: unknown }).path : undefined;
      traced.end(answeredStatus(res), typeof route === 'string' ? route : undefined);
    });
    traced.run(() => next());
  };
}

/** traceOf as stored with a job or batch (the worker's calls continue it, however much later). */
export function storedTrace(res: Response): string | undefined {
  const trace = traceOf(res);
  return trace === undefined ? undefined : encodeTraceHeaders(trace);
}

/** The trace context traceRequests gave this request (undefined: none). */
export function traceOf(res: Response): TraceHeaders | undefined {
  return res.locals['trace'] as TraceHeaders | undefined;
}
