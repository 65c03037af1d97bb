import { RrpcError } from '@rrpc/errors';
import type { Caller, CallOutcome, CallRequest } from '@rrpc/caller';
import type { ApiMetrics, CallOutcome as OutcomeLabel } from '@rrpc/metrics';

export type CallRunner = (request: CallRequest) => Promise<CallOutcome>;

const LABEL: Record<CallOutcome['rrpcCode'], OutcomeLabel> = {
  SUCCESS: 'success',
  TIMEOUT: 'timeout',
  OFFLINE: 'offline',
  HALFCONN: 'halfconn',
};

/** Every route's way to make a call: the caller, counted in the call metrics. */
export function meteredCalls(caller: Caller, metrics: ApiMetrics): CallRunner {
  return async (request) => {
    metrics.callsInFlight.inc();
    const started = performance.now();
    try {
      const outcome = await caller.call(request);
      const label = LABEL[outcome.rrpcCode];
      metrics.callsTotal.labels(label).inc();
      metrics.callDuration.labels(label).observe(outcome.durationMs / 1000);
      return outcome;
    } catch (error) {
      const label: OutcomeLabel = error instanceof RrpcError && error.code === 'UNAVAILABLE' ? 'unavailable' : 'error';
      metrics.callsTotal.labels(label).inc();
      metrics.callDuration.labels(label).observe((performance.now() - started) / 1000);
      throw error;
    } finally {
      metrics.callsInFlight.dec();
    }
  };
}
