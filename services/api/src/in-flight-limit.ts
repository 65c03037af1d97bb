import { RrpcError } from '@rrpc/errors';
import type { CallRunner } from './call-runner.js';
import { ANONYMOUS } from './api-keys.js';

/**
 * Load shedding: at most `max` calls in flight in this pod, and at most `maxPerKey` of them for one API key
 * (its fair share: one key cannot take the whole pod from the others); the next ones end at once with 503
 * UNAVAILABLE and Retry-After, before memory or the event loop give out. A load balancer or the client
 * retries them, on this pod or another. A call waiting in connectTimeoutMs is in flight.
 */
export function inFlightLimit(run: CallRunner, max: number, maxPerKey = max): CallRunner & { readonly inFlight: () => number } {
  let inFlight = 0;
  /** Calls in flight per key id; a key with none has no entry. */
  const perKey = new Map<string, number>();
  // Not async: a pending call holds one derived promise here, no suspended frame.
  const limited: CallRunner = (request, principal) => {
    if (inFlight >= max) {
      return Promise.reject(
        new RrpcError('UNAVAILABLE', {
          message: `This pod has ${max} calls in flight, its limit; retry shortly.`,
          headers: { 'Retry-After': '1' },
        }),
      );
    }
    const keyId = (principal ?? ANONYMOUS).keyId;
    const mine = perKey.get(keyId) ?? 0;
    if (mine >= maxPerKey) {
      return Promise.reject(
        new RrpcError('UNAVAILABLE', {
          message: `This API key has ${maxPerKey} calls in flight on this pod, its share; retry shortly.`,
          headers: { 'Retry-After': '1' },
        }),
      );
    }
    inFlight++;
    perKey.set(keyId, mine + 1);
    const release = () => {
      inFlight--;
      const left = (perKey.get(keyId) ?? 1) - 1;
      if (left > 0) perKey.set(keyId, left);
      else perKey.delete(keyId);
    };
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
