import { RrpcError } from '@rrpc/errors';
import type { Holding, QuotaCaps, QuotaStore } from '@rrpc/store';
import type { Principal } from './api-keys.js';
import { ownerOf } from './request-principal.js';

const WHAT: Record<keyof QuotaCaps, string> = {
  jobs: 'unfinished jobs',
  devices: 'devices in running batches',
  bytes: 'bytes of request payload held by unfinished jobs and running batches',
};

/**
 * Per-key caps on what a key holds (jobs, batch devices, payload bytes): a key's own caps from the keys file,
 * else the defaults from the environment. Over a cap: 429 RATE_LIMITED saying which cap, with Retry-After.
 */
export class KeyQuotas {
  constructor(
    private readonly quotas: QuotaStore,
    private readonly defaults: QuotaCaps,
  ) {}

  capsOf(principal: Principal | undefined): QuotaCaps {
    const own = principal?.caps ?? {};
    return {
      jobs: own.jobs ?? this.defaults.jobs,
      devices: own.batchDevices ?? this.defaults.devices,
      bytes: own.bytes ?? this.defaults.bytes,
    };
  }

  /** Takes the holding for the principal's key, or refuses; returns its member (kept on the record for its release). */
  async hold(principal: Principal | undefined, holding: Holding): Promise<string> {
    const decision = await this.quotas.reserve(ownerOf(principal), holding, this.capsOf(principal));
    if (decision.taken) return decision.member;
    const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    throw new RrpcError('RATE_LIMITED', {
      message: `This API key holds ${decision.used} ${WHAT[decision.cap]}, and this request would take it over its cap of ${decision.limit}; retry when some have finished.`,
      headers: { 'Retry-After': String(seconds) },
    });
  }

  /** Gives a holding of `owner`'s back (the record it was taken for was not created after all, or was cancelled). */
  async release(owner: string, member: string): Promise<void> {
    await this.quotas.release(owner, member);
  }
}
