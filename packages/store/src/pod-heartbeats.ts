import { Keys } from './keys.js';
import { guard, type RedisClient } from './connection.js';

export interface PodReport<T> {
  kind: string;
  instanceId: string;
  seenAt: number;
  summary: T;
}

/** Every pod reports this often; a report lives three intervals, so a pod that died drops out after 15 s. */
export const POD_REPORT_INTERVAL_MS = 5000;
const POD_REPORT_TTL_MS = 3 * POD_REPORT_INTERVAL_MS;

/** At most this many pods are listed (a cluster has a few dozen). */
const MAX_PODS = 500;

/**
 * Every pod's latest self-report (the console's health page): one key per pod with a TTL, and an index of
 * pods by expiry that every write and read trims, so a pod that died drops out on its own. All keys share the
 * hash tag {pods}: one Redis Cluster slot.
 */
export class PodHeartbeats<T> {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly ttlMs: number = POD_REPORT_TTL_MS,
  ) {}

  async report(kind: string, instanceId: string, summary: T, now = Date.now()): Promise<void> {
    const member = `${kind}/${instanceId}`;
    const value = JSON.stringify({ kind, instanceId, seenAt: now, summary } satisfies PodReport<T>);
    await guard(
      this.redis
        .multi()
        .set(this.keys.pod(member), value, 'PX', this.ttlMs)
        .zadd(this.keys.podIndex, now + this.ttlMs, member)
        .zremrangebyscore(this.keys.podIndex, '-inf', now)
        .pexpire(this.keys.podIndex, this.ttlMs)
        .exec(),
    );
  }

  async list(now = Date.now()): Promise<Array<PodReport<T>>> {
    await guard(this.redis.zremrangebyscore(this.keys.podIndex, '-inf', now));
    const members = await guard(this.redis.zrange(this.keys.podIndex, 0, MAX_PODS - 1));
    if (members.length === 0) return [];
    const values = await guard(this.redis.mget(...members.map((m) => this.keys.pod(m))));
    return values
      .filter((v): v is string => v !== null)
      .map((v) => JSON.parse(v) as PodReport<T>)
      .sort((a, b) => a.kind.localeCompare(b.kind) || a.instanceId.localeCompare(b.instanceId));
  }
}
