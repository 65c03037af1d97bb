import type { Keys, RateLimiter } from '@rrpc/store';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A batch's device calls spend its API key's rate, one token per call at the time the call is made: when the
 * key's limit is spent, the batch waits for the next token (it slows down; it does not fail). The limit is
 * the key's own Redis limit, shared with its synchronous calls on every api pod.
 */
export class KeyRateSpender {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly keys: Keys,
  ) {}

  /** Waits until one token of `owner`'s limit (`perSecond`; 0: none) is taken. */
  async spend(owner: string, perSecond: number): Promise<void> {
    if (perSecond <= 0 || owner === '') return;
    const limit = { key: this.keys.apiKeyRateLimit(owner), perSecond };
    for (;;) {
      const decision = await this.limiter.take([limit]);
      if (decision.allowed) return;
      await sleep(Math.max(5, decision.retryAfterMs));
    }
  }
}
