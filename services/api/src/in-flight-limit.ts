import { RrpcError } from '@rrpc/errors';
import type { CallRunner } from './call-runner.js';

/**
 * Load shedding: at most `max` calls in flight in this pod; the next ones end at once with 503
 * UNAVAILABLE and Retry-After, before memory or the event loop give out. A load balancer or the
 * client retries them, on this pod or another.
 */
export function inFlightLimit(run: CallRunner, max: number): CallRunner & { readonly inFlight: () => number } {
  let inFlight = 0;
  const limited: CallRunner = async (request, principal) => {
    if (inFlight >= max) {
      throw new RrpcError('UNAVAILABLE', { message: `This pod has ${max} calls in flight, its limit; retry shortly.`, headers: { 'Retry-After': '1' } });
    }
    inFlight++;
    try {
      return await run(request, principal);
    } finally {
      inFlight--;
    }
  };
  return Object.assign(limited, { inFlight: () => inFlight });
}
