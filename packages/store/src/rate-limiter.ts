import type { Redis } from 'ioredis';
import { guard, mapRedisError } from './connection.js';
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
 * Several limits are taken in one round trip (a pipeline); a limit taken before another refuses stays
 * taken, which errs on the side of the limit.
 */
export class RateLimiter {
  private readonly redis: Redis & ScriptCommands;

  constructor(redis: Redis) {
    this.redis = withScripts(redis);
  }

  async take(limits: readonly RateLimit[]): Promise<RateDecision> {
    const active = limits.filter((l) => l.perSecond > 0);
    if (active.length === 0) return { allowed: true };
    const pipeline = this.redis.pipeline() as ReturnType<Redis['pipeline']> & { rrpcRateLimit(key: string, ...args: Array<string | number>): unknown };
    for (const l of active) {
      const burst = Math.max(1, Math.floor(l.burst ?? l.perSecond));
      pipeline.rrpcRateLimit(l.key, (1000 / l.perSecond).toFixed(6), burst);
    }
    const replies = (await guard(pipeline.exec())) ?? [];
    let retryAfterMs = 0;
    let refused = -1;
    for (const [i, [error, value]] of replies.entries()) {
      if (error) throw mapRedisError(error);
      const [ok, wait] = value as [number, number];
      if (ok !== 1 && Number(wait) >= retryAfterMs) {
        retryAfterMs = Number(wait);
        refused = i;
      }
    }
    if (refused < 0) return { allowed: true };
    return { allowed: false, retryAfterMs, refused: limits.indexOf(active[refused]!) };
  }
}
