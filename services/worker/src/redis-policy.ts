import { Cluster } from 'ioredis';
import type { RedisClient } from '@rrpc/store';

/** Raised when Redis would evict keys under memory pressure: queued work would silently disappear. */
export class EvictionPolicyError extends Error {
  constructor(readonly policy: string) {
    super(
      `Redis runs with maxmemory-policy "${policy}"; the worker needs "noeviction", or Redis may drop queued jobs ` +
        'and batches when memory fills up. Set it (CONFIG SET maxmemory-policy noeviction, and in redis.conf or your ' +
        'managed Redis parameter group) and start the worker again.',
    );
    this.name = 'EvictionPolicyError';
  }
}

/**
 * Reads maxmemory-policy from INFO (CONFIG is often disabled on managed Redis) and refuses anything but
 * noeviction; on a Redis Cluster, on every primary.
 */
export async function checkNoEviction(redis: RedisClient): Promise<void> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    const info = await node.info('memory');
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
    if (policy === undefined) throw new Error('Redis INFO memory did not report maxmemory_policy; cannot check it is noeviction');
    if (policy !== 'noeviction') throw new EvictionPolicyError(policy);
  }
}
