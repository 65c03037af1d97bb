import { RrpcError } from '@rrpc/errors';
import type { CallRunner } from './call-runner.js';

/**
 * Load shedding: at most `max` calls in flight in this pod; the next ones end at once with 503
 * UNAVAILABLE and Retry-After, before memory or the event loop give out. A load balancer or the
 * client retries them, on this pod or another.
 */
export function inFlightLimit(run: CallRunner, max: number): CallRunner & { readonly inFlight: () => number } {
  let inFlight = 0;
  const release = () => {
    inFlight--;
  };
  // Not async: a pending call holds one derived promise here, no suspended frame.
  const limited: CallRunner = (request, principal) => {
    if (inFlight >= max) {
      return Promise.reject(new RrpcError('UNAVAILABLE', { message: `This pod has ${max} calls in flight, its limit; retry shortly.`, headers: { 'Retry-After': '1' } }));
    }
    inFlight++;
    let pending: ReturnType<CallRunner>;
    try {
      pending = run(request, principal);
    } catch (error) {
      release();
      return Promise.reject(error);
    }
    pending.then(release, release);
    return pending;
  };
  return Object.assign(limited, { inFlight: () => inFlight });
}
