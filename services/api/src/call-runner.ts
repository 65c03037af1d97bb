import { RrpcError } from '@rrpc/errors';
import type { Caller, CallOutcome, CallRequest } from '@rrpc/caller';
import { labelChildren, type ApiMetrics, type CallOutcome as OutcomeLabel } from '@rrpc/metrics';
import { traceIdOf } from '@rrpc/tracing';

import { ANONYMOUS, type Principal } from './api-keys.js';

/** A call as the api's routes make it: the caller's request, and how long to wait for an offline device. */
export interface ApiCallRequest extends CallRequest {
  /** Wait up to this long for an offline device to connect (connect-wait.ts); absent or 0: do not wait. */
  connectTimeoutMs?: number | undefined;
}

/** Makes a call on behalf of a principal (the API key; undefined only where auth is disabled). */
export type CallRunner = (request: ApiCallRequest, principal: Principal | undefined) => Promise<CallOutcome>;

const LABEL: Record<CallOutcome['rrpcCode'], OutcomeLabel> = {
  SUCCESS: 'success',
  TIMEOUT: 'timeout',
  OFFLINE: 'offline',
  HALFCONN: 'halfconn',
  NOT_SUBSCRIBED: 'not_subscribed',
};

/** Error codes with an outcome label of their own; every other failure counts as "error". */
const ERROR_LABEL: Partial<Record<string, OutcomeLabel>> = { UNAVAILABLE: 'unavailable', RATE_LIMITED: 'rate_limited' };

/**
 * Counts every call in the call metrics (outermost: refusals by the limits count too). Label children are
 * made once, not looked up per call.
 */
export function meteredCalls(run: CallRunner, metrics: ApiMetrics): CallRunner {
  if (metrics.exemplars) return exemplarCalls(run, metrics);
  const total = labelChildren(metrics.callsTotal);
  const duration = labelChildren(metrics.callDuration);
  const count = (label: OutcomeLabel, seconds: number) => {
    total(label).inc();
    duration(label).observe(seconds);
  };
  // Not async: a call waiting for its device holds one derived promise here, no suspended frame.
  const counted = (outcome: CallOutcome): CallOutcome => {
    metrics.callsInFlight.dec();
    count(LABEL[outcome.rrpcCode], outcome.durationMs / 1000);
    return outcome;
  };
  return (request, principal) => {
    metrics.callsInFlight.inc();
    const started = performance.now();
    const failed = (error: unknown): never => {
      metrics.callsInFlight.dec();
      count((error instanceof RrpcError && ERROR_LABEL[error.code]) || 'error', (performance.now() - started) / 1000);
      throw error;
    };
    try {
      return run(request, principal).then(counted, failed);
    } catch (error) {
      return Promise.reject(error).catch(failed);
    }
  };
}

/**
 * meteredCalls with tracing on: the counter and histogram get the call's trace as their exemplar (OpenMetrics),
 * when the call's trace is sampled (an unsampled trace id leads nowhere).
 */
function exemplarCalls(run: CallRunner, metrics: ApiMetrics): CallRunner {
  return (request, principal) => {
    metrics.callsInFlight.inc();
    const started = performance.now();
    const trace = request.trace;
    // prom-client types exemplar labels as the metric's own label names; exemplars have their own.
    const exemplarLabels = trace?.traceparent.endsWith('-01')
      ? ({ trace_id: traceIdOf(trace), span_id: trace.traceparent.slice(36, 52) } as unknown as Record<'outcome', string>)
      : undefined;
    const count = (label: OutcomeLabel, seconds: number) => {
      metrics.callsInFlight.dec();
      const labels = { outcome: label };
      metrics.callsTotal.inc(exemplarLabels ? { labels, value: 1, exemplarLabels } : { labels, value: 1 });
      metrics.callDuration.observe(exemplarLabels ? { labels, value: seconds, exemplarLabels } : { labels, value: seconds });
    };
    const failed = (error: unknown): never => {
      count((error instanceof RrpcError && ERROR_LABEL[error.code]) || 'error', (performance.now() - started) / 1000);
      throw error;
    };
    try {
      return run(request, principal).then((outcome) => {
        count(LABEL[outcome.rrpcCode], outcome.durationMs / 1000);
        return outcome;
      }, failed);
    } catch (error) {
      return Promise.reject(error).catch(failed);
    }
  };
}

/**
 * Reports every call that ended TIMEOUT (the device was marked ONLINE, or the call would not have been
 * sent) for the ingest to check against the broker; the successful path costs nothing more.
 */
export function timeoutReports(
  run: CallRunner,
  report: (device: CallRequest['device']) => Promise<void>,
  onError: (error: unknown) => void,
): CallRunner {
  const seen =
    (device: CallRequest['device']) =>
    (outcome: CallOutcome): CallOutcome => {
      if (outcome.rrpcCode === 'TIMEOUT') report(device).catch(onError);
      return outcome;
    };
  return (request, principal) => run(request, principal).then(seen(request.device));
}

/** The innermost runner: the caller itself. The call's record is owned by the principal's key. */
export function callerCalls(caller: Caller): CallRunner {
  return (request, principal) => caller.call({ ...request, owner: (principal ?? ANONYMOUS).keyId });
}
