import { RrpcError } from '@rrpc/errors';
import type { Keys, RateLimiter } from '@rrpc/store';
import type { CallRunner } from './call-runner.js';
import { currentPrincipal } from './request-principal.js';

export interface RateLimitOptions {
  limiter: RateLimiter;
  keys: Keys;
  /** Calls per second per API key, cluster-wide (a key's own rate= overrides it); 0: no limit. */
  perKey: number;
  /** Calls per second per device, cluster-wide (Alibaba allows 50 downlink messages a second); 0: no limit. */
  perDevice: number;
}

/**
 * Per-key and per-device call rates, in Redis and shared by every pod: a call over either limit ends with
 * 429 RATE_LIMITED and a Retry-After header, before anything is recorded or published.
 */
export function rateLimitedCalls(run: CallRunner, options: RateLimitOptions): CallRunner {
  return async (request) => {
    const principal = currentPrincipal();
    const perKey = principal?.ratePerSecond ?? options.perKey;
    const limits = [
      { key: options.keys.apiKeyRateLimit(principal?.keyId ?? 'anonymous'), perSecond: perKey },
      { key: options.keys.deviceRateLimit(request.device), perSecond: options.perDevice },
    ];
    const decision = await options.limiter.take(limits);
    if (!decision.allowed) {
      const which = decision.refused === 0 ? 'this API key' : `device ${request.device.productKey}/${request.device.deviceName}`;
      const perSecond = limits[decision.refused]?.perSecond;
      throw new RrpcError('RATE_LIMITED', {
        message: `Too many calls for ${which} (limit ${perSecond} a second); retry after ${decision.retryAfterMs} ms.`,
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))) },
      });
    }
    return run(request);
  };
}
