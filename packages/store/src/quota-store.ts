import { Keys } from './keys.js';
import { withScripts, type ScriptCommands } from './scripts.js';
import { guard, type RedisClient } from './connection.js';

/** What a job or a batch holds of its key's caps until it finishes (or, at the latest, until `until`). */
export interface Holding {
  kind: 'job' | 'batch';
  id: string;
  jobs: number;
  devices: number;
  bytes: number;
  /** The latest the holding can last (ms since the epoch): past it, it is given back by itself. */
  until: number;
}

/** A key's caps; 0: none. */
export interface QuotaCaps {
  jobs: number;
  devices: number;
  bytes: number;
}

export type QuotaDecision =
  { taken: true; member: string } | { taken: false; cap: keyof QuotaCaps; used: number; limit: number; retryAfterMs: number };

/**
 * Per-key caps on what a key holds in Redis at once: unfinished jobs, devices of running batches, and the
 * request payload bytes they keep. A holding is taken when a job or batch is created and given back when it
 * finishes; one whose release never comes is dropped at its latest end, so the totals cannot leak.
 */
export class QuotaStore {
  private readonly redis: RedisClient & ScriptCommands;

  constructor(
    redis: RedisClient,
    readonly keys: Keys,
  ) {
    this.redis = withScripts(redis);
  }

  /** The member a holding is stored as (kept on the job or batch record, so that its release names it). */
  static member(h: Omit<Holding, 'until'>): string {
    return `${h.kind}|${h.id}|${h.jobs}|${h.devices}|${h.bytes}`;
  }

  async reserve(owner: string, holding: Holding, caps: QuotaCaps): Promise<QuotaDecision> {
    const member = QuotaStore.member(holding);
    const reply = await guard(
      this.redis.rrpcQuotaReserve(
        this.keys.apiKeyUsage(owner),
        this.keys.apiKeyHoldings(owner),
        member,
        Math.ceil(holding.until),
        caps.jobs,
        caps.devices,
        caps.bytes,
      ),
    );
    if (reply[0] === 1) return { taken: true, member };
    return {
      taken: false,
      cap: String(reply[1]) as keyof QuotaCaps,
      used: Number(reply[2]),
      limit: Number(reply[3]),
      retryAfterMs: Number(reply[4]),
    };
  }

  /** Gives a holding back; safe to repeat. */
  async release(owner: string, member: string): Promise<void> {
    await guard(this.redis.rrpcQuotaRelease(this.keys.apiKeyUsage(owner), this.keys.apiKeyHoldings(owner), member));
  }

  /** What the key holds now (for tests and operators). */
  async usage(owner: string): Promise<QuotaCaps> {
    const [jobs, devices, bytes] = await guard(this.redis.hmget(this.keys.apiKeyUsage(owner), 'jobs', 'devices', 'bytes'));
    return { jobs: Number(jobs ?? 0), devices: Number(devices ?? 0), bytes: Number(bytes ?? 0) };
  }
}
