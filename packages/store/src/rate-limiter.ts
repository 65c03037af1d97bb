import { guard } from './connection.js';
import { withScripts, type ScriptCommands } from './scripts.js';

/** One rate limit to take a token from: calls per second, with `burst` calls allowed at once. */
export interface RateLimit {
  /** The limit's Redis key, from Keys.apiKeyRateLimit or Keys.deviceRateLimit. */
  key: string;
  perSecond: number;
  /** Default: one second's worth of calls (at least 1). */
  burst?: number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number; refused: number };

/**
 * Cluster-wide rate limits in Redis (rate-limit-1.lua, GCRA: one key per limit, expiring when idle).
 * Several limits are taken at once; a token taken from one limit while another refuses stays taken,
 * which errs on the side of the limit.
 */
export class RateLimiter {
  private readonly redis: ScriptCommands;

  constructor(redis: Parameters<typeof withScripts>[0]) {
    this.redis = withScripts(redis);
  }

  /**
   * Takes up to `wanted` tokens from one limit at once (a lease the caller spends locally).
   * Returns how many were granted (0: refused, with the wait before one token would pass).
   */
  async lease(limit: RateLimit, wanted: number): Promise<{ granted: number; retryAfterMs: number }> {
    const [granted, wait] = await guard(
      this.redis.rrpcRateLimit(
        limit.key,
        (1000 / limit.perSecond).toFixed(6),
        Math.max(1, Math.floor(limit.burst ?? limit.perSecond)),
        Math.max(1, Math.floor(wanted)),
      ),
    );
    return { granted: Number(granted), retryAfterMs: Number(wait) };
  }

  async take(limits: readonly RateLimit[]): Promise<RateDecision> {
    const active = limits.map((l, index) => ({ ...l, index })).filter((l) => l.perSecond > 0);
    if (active.length === 0) return { allowed: true };
    // Separate commands, written back to back before any reply is read (one round trip on a single Redis);
    // on a Redis Cluster each goes to its own slot's node.
    const replies = await Promise.all(
      active.map((l) =>
        guard(this.redis.rrpcRateLimit(l.key, (1000 / l.perSecond).toFixed(6), Math.max(1, Math.floor(l.burst ?? l.perSecond)))),
      ),
    );
    let retryAfterMs = 0;
    let refused = -1;
    replies.forEach(([ok, wait], i) => {
      if (Number(ok) < 1 && Number(wait) >= retryAfterMs) {
        retryAfterMs = Number(wait);
        refused = active[i]!.index;
      }
    });
    return refused < 0 ? { allowed: true } : { allowed: false, retryAfterMs, refused };
  }
}
