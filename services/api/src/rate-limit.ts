import { RrpcError } from '@rrpc/errors';
import type { Keys, RateLimiter } from '@rrpc/store';
import type { CallRunner } from './call-runner.js';
import type { Principal } from './api-keys.js';

export interface RateLimitOptions {
  limiter: RateLimiter;
  keys: Keys;
  /** Calls per second per API key, cluster-wide (a key's own rate= overrides it); 0: no limit. */
  perKey: number;
  /** Calls per second per device, cluster-wide (Alibaba allows 50 downlink messages a second); 0: no limit. */
  perDevice: number;
}

/** Tokens leased from a key's cluster-wide limit, spent by this pod. */
interface Lease {
  tokens: number;
  expiresAt: number;
  pending: Promise<void> | undefined;
  retryAfterMs: number;
  refusedUntil: number;
  /** Calls waiting for a token now: a lease asks for at least this many. */
  waiting: number;
}

/** A lease covers this share of a second's calls, and unspent tokens lapse after this long. */
const LEASE_SHARE = 1 / 20;
const LEASE_TTL_MS = 250;

/**
 * Per-key and per-device call rates, in Redis and shared by every pod: a call over either limit ends with
 * 429 RATE_LIMITED and a Retry-After header, before anything is recorded or published.
 *
 * - The device limit is taken inside call-begin (the device's slot), at no extra round trip.
 * - The key limit is leased: a pod takes a twentieth of a second's tokens in one command and spends them
 *   locally, so a busy key costs a Redis command every ~20 calls instead of one per call. Leased tokens
 *   are real tokens of the shared limit, so all pods together never exceed it; tokens a pod leaves unspent
 *   lapse after 250 ms (the limit errs on the strict side).
 */
export function rateLimitedCalls(run: CallRunner, options: RateLimitOptions & { keyRate?: KeyRate }): CallRunner {
  const keyRate = options.keyRate ?? keyRateLimits(options);
  // Not async: with a leased token at hand (most calls), the call is made at once and holds nothing here.
  return (request, principal) => {
    const call = options.perDevice > 0 ? { ...request, deviceRate: { perSecond: options.perDevice } } : request;
    const waiting = keyRate.take(principal);
    if (waiting === undefined) return run(call, principal);
    return waiting.then(() => run(call, principal));
  };
}

/** One token of an API key's rate, for anything the key does that costs like a call. */
export interface KeyRate {
  /**
   * Takes a token of the principal's rate: undefined when one was at hand (or the key has no limit),
   * else a promise that resolves once one is taken, or rejects with 429 RATE_LIMITED and Retry-After.
   */
  take(principal: Principal | undefined): Promise<void> | undefined;
}

/** The leased per-key limit (see rateLimitedCalls): calls, job and batch creation and unknown outcome reads spend it. */
export function keyRateLimits(options: Pick<RateLimitOptions, 'limiter' | 'keys' | 'perKey'>): KeyRate {
  const leases = new Map<string, Lease>();

  function leaseOf(keyId: string): Lease {
    let lease = leases.get(keyId);
    if (!lease) {
      lease = { tokens: 0, expiresAt: 0, pending: undefined, retryAfterMs: 0, refusedUntil: 0, waiting: 0 };
      leases.set(keyId, lease);
    }
    return lease;
  }

  /** A token from this pod's lease at once (true), if it holds one. */
  function spendLeased(lease: Lease): boolean {
    if (lease.tokens > 0 && Date.now() < lease.expiresAt) {
      lease.tokens--;
      return true;
    }
    return false;
  }

  /** The lease is spent: wait for the next one, or refuse with RATE_LIMITED. */
  async function waitForToken(lease: Lease, keyId: string, perSecond: number): Promise<void> {
    lease.waiting++;
    try {
      if (await leaseFor(lease, keyId, perSecond)) return;
    } finally {
      lease.waiting--;
    }
    const retryAfterMs = Math.max(lease.retryAfterMs, lease.refusedUntil - Date.now(), 1);
    throw new RrpcError('RATE_LIMITED', {
      message: `Too many calls for this API key (limit ${perSecond} a second); retry after ${retryAfterMs} ms.`,
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
    });
  }

  /** Waits for leases until this call has a token (true) or the key's limit refuses (false). */
  async function leaseFor(lease: Lease, keyId: string, perSecond: number): Promise<boolean> {
    for (let attempt = 0; attempt < 4; attempt++) {
      if (spendLeased(lease)) return true;
      if (Date.now() < lease.refusedUntil) return false;
      if (!lease.pending) {
        const current = lease;
        const wanted = Math.max(Math.ceil(perSecond * LEASE_SHARE), current.waiting);
        current.pending = options.limiter
          .lease({ key: options.keys.apiKeyRateLimit(keyId), perSecond }, wanted)
          .then(({ granted, retryAfterMs }) => {
            current.tokens = granted;
            current.expiresAt = Date.now() + LEASE_TTL_MS;
            current.retryAfterMs = retryAfterMs;
            current.refusedUntil = granted === 0 ? Date.now() + Math.min(retryAfterMs, LEASE_TTL_MS) : 0;
          })
          .finally(() => {
            current.pending = undefined;
          });
      }
      await lease.pending;
    }
    return false;
  }

  return {
    take(principal) {
      const perKey = principal?.ratePerSecond ?? options.perKey;
      if (perKey <= 0) return undefined;
      const keyId = principal?.keyId ?? 'anonymous';
      const lease = leaseOf(keyId);
      if (spendLeased(lease)) return undefined;
      return waitForToken(lease, keyId, perKey);
    },
  };
}
