import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type ManagedServer } from '@rrpc/testing';
import { Keys } from './keys.js';
import { connectRedis, createRedis } from './connection.js';
import { RateLimiter } from './rate-limiter.js';
import type { RedisClient } from './connection.js';

let server: ManagedServer;
let redis: RedisClient;
const keys = new Keys('rl');

beforeAll(async () => {
  server = await startRedis();
  redis = createRedis({ url: server.url, commandTimeoutMs: 1000, connectionName: 'test' });
  await connectRedis(redis);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

describe('RateLimiter (rate-limit-1.lua)', () => {
  it('allows a burst, then refuses with the wait until the next token', async () => {
    const limiter = new RateLimiter(redis);
    const limit = { key: keys.apiKeyRateLimit('burst'), perSecond: 2, burst: 3 };
    const decisions = [];
    for (let i = 0; i < 4; i++) decisions.push(await limiter.take([limit]));
    expect(decisions.slice(0, 3).every((d) => d.allowed)).toBe(true);
    const refused = decisions[3]!;
    expect(refused.allowed).toBe(false);
    if (!refused.allowed) {
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(500);
    }
  });

  it('is shared by every connection (every pod) and leaves a key with a TTL only', async () => {
    const other = createRedis({ url: server.url, commandTimeoutMs: 1000, connectionName: 'test' });
    await connectRedis(other);
    const a = new RateLimiter(redis);
    const b = new RateLimiter(other);
    const limit = { key: keys.deviceRateLimit({ productKey: 'a1pk', deviceName: 'dev-1' }), perSecond: 1, burst: 2 };
    expect((await a.take([limit])).allowed).toBe(true);
    expect((await b.take([limit])).allowed).toBe(true);
    expect((await a.take([limit])).allowed).toBe(false);
    const ttl = await redis.pttl(limit.key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2000);
    other.disconnect();
  });

  it('names the limit that refused; a limit of 0 is no limit', async () => {
    const limiter = new RateLimiter(redis);
    const open = { key: keys.apiKeyRateLimit('open'), perSecond: 0 };
    const tight = { key: keys.apiKeyRateLimit('tight'), perSecond: 1, burst: 1 };
    expect((await limiter.take([open, tight])).allowed).toBe(true);
    const second = await limiter.take([open, tight]);
    expect(second).toMatchObject({ allowed: false, refused: 1 });
    expect(await redis.exists(open.key)).toBe(0);
  });
});

describe('RateLimiter leases (several tokens at once)', () => {
  it('grants what fits, then refuses with a wait', async () => {
    const limiter = new RateLimiter(redis);
    const limit = { key: keys.apiKeyRateLimit('lease'), perSecond: 10, burst: 10 };
    expect(await limiter.lease(limit, 6)).toEqual({ granted: 6, retryAfterMs: 0 });
    const second = await limiter.lease(limit, 6);
    expect(second.granted).toBeGreaterThanOrEqual(4);
    expect(second.granted).toBeLessThanOrEqual(5); // 4 left, plus at most one refilled meanwhile
    const third = await limiter.lease(limit, 6);
    if (third.granted === 0) expect(third.retryAfterMs).toBeGreaterThan(0);
    else expect(third.granted).toBeLessThanOrEqual(1);
  });
});
