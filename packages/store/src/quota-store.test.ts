import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type ManagedServer } from '@rrpc/testing';
import { Keys } from './keys.js';
import { connectRedis, createRedis, type RedisClient } from './connection.js';
import { QuotaStore } from './quota-store.js';

let server: ManagedServer;
let redis: RedisClient;
const keys = new Keys('q');
const caps = { jobs: 2, devices: 10, bytes: 1000 };

beforeAll(async () => {
  server = await startRedis();
  redis = createRedis({ url: server.url, commandTimeoutMs: 1000, connectionName: 'test' });
  await connectRedis(redis);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

const job = (id: string, bytes: number, until = Date.now() + 60_000) => ({ kind: 'job' as const, id, jobs: 1, devices: 0, bytes, until });

describe('QuotaStore (quota-reserve-2.lua, quota-release-2.lua)', () => {
  it('takes holdings up to each cap, refuses beyond with the cap named, and gives them back once', async () => {
    const quotas = new QuotaStore(redis, keys);
    const a = await quotas.reserve('k1', job('a', 100), caps);
    const b = await quotas.reserve('k1', job('b', 100), caps);
    expect(a.taken && b.taken).toBe(true);
    const c = await quotas.reserve('k1', job('c', 100), caps);
    expect(c).toMatchObject({ taken: false, cap: 'jobs', used: 2, limit: 2 });
    expect(c.taken === false && c.retryAfterMs).toBeGreaterThanOrEqual(1000);
    // A retry of a holding already taken changes nothing.
    expect((await quotas.reserve('k1', job('a', 100), caps)).taken).toBe(true);
    expect(await quotas.usage('k1')).toEqual({ jobs: 2, devices: 0, bytes: 200 });
    if (!a.taken) throw new Error('unreachable');
    await quotas.release('k1', a.member);
    await quotas.release('k1', a.member);
    expect(await quotas.usage('k1')).toEqual({ jobs: 1, devices: 0, bytes: 100 });
    expect(
      await quotas.reserve('k1', { kind: 'batch', id: 'x', jobs: 0, devices: 11, bytes: 1, until: Date.now() + 60_000 }, caps),
    ).toMatchObject({ taken: false, cap: 'devices' });
    expect(
      await quotas.reserve('k1', { kind: 'batch', id: 'y', jobs: 0, devices: 1, bytes: 901, until: Date.now() + 60_000 }, caps),
    ).toMatchObject({ taken: false, cap: 'bytes', used: 100 });
    // Another key's caps are its own.
    expect((await quotas.reserve('k2', job('a', 900), caps)).taken).toBe(true);
  });

  it('gives back by itself a holding past its latest end (a release that never came), and the keys expire', async () => {
    const quotas = new QuotaStore(redis, keys);
    expect((await quotas.reserve('k3', job('lost-1', 10, Date.now() + 300), caps)).taken).toBe(true);
    expect((await quotas.reserve('k3', job('lost-2', 10, Date.now() + 300), caps)).taken).toBe(true);
    expect((await quotas.reserve('k3', job('next', 10), caps)).taken).toBe(false);
    expect(await redis.pttl(keys.apiKeyUsage('k3'))).toBeGreaterThan(0);
    expect(await redis.pttl(keys.apiKeyHoldings('k3'))).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 400));
    expect((await quotas.reserve('k3', job('next', 10), caps)).taken).toBe(true);
    expect(await quotas.usage('k3')).toEqual({ jobs: 1, devices: 0, bytes: 10 });
  });
});
