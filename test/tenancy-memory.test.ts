import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { b64, startWorkerCluster, type WorkerCluster } from './support/worker-cluster.js';

/**
 * What one request can add to Redis (issue 12: a 219 KiB persistent batch to 1,000 never-connected devices
 * added 190 MiB, every job holding its own copy of the payload, with no TTL until it ended). Measured on the
 * test's private redis-server with INFO memory: a maximal-payload persistent batch now stores its payload once
 * and a few hundred bytes per device; every job and batch key has a TTL from the moment it is written.
 * TENANCY_BATCH_DEVICES (default 1,000; up to 10,000, the largest batch) sets the batch's size.
 */
const DEVICES = Math.min(10_000, Number(process.env['TENANCY_BATCH_DEVICES'] ?? 1000));
const MAX_PAYLOAD = 256 * 1024; // RRPC_MAX_PAYLOAD_BYTES's default
/** The bound this test holds the batch to: the payload once, plus this much per device (measured: see docs/tenancy.md). */
const PER_DEVICE_BOUND = 4 * 1024;
const PER_JOB_BOUND = 3 * 1024;
const PK = 'a1Memory';

let cluster: WorkerCluster;
let redis: Redis;

beforeAll(async () => {
  cluster = await startWorkerCluster({
    env: { RRPC_MAX_JOBS_PER_KEY: '0', RRPC_MAX_BATCH_DEVICES_PER_KEY: '0', RRPC_MAX_BYTES_PER_KEY: '0', RRPC_RATE_LIMIT_PER_KEY: '0' },
  });
  redis = new Redis(cluster.redis.url);
});
afterAll(async () => {
  redis?.disconnect();
  await cluster?.stop();
});

async function usedMemory(): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1]);
}

/** Every RRPC key except BullMQ's own (removed by BullMQ) and the set of devices with jobs (emptied by the worker). */
async function keysWithoutTtl(): Promise<string[]> {
  const missing: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'rrpc:*', 'COUNT', 1000);
    cursor = next;
    const ttls = await Promise.all(keys.map((k) => redis.pttl(k)));
    keys.forEach((k, i) => {
      // The device registry's records and product indexes have an owner that deletes them (DELETE /v1/devices), no TTL.
      const registry = k.endsWith(':device') || /^rrpc:\{p:[^}]+\}:devices$/.test(k);
      if (ttls[i] === -1 && !registry && !k.includes(':{bull}:') && k !== 'rrpc:jobs:devices') missing.push(k);
    });
  } while (cursor !== '0');
  return missing;
}

const post = (path: string, body: unknown) =>
  cluster.json(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('Redis memory per job and per batch device', () => {
  it(`a maximal-payload persistent batch to ${DEVICES} never-connected devices stores its payload once`, async () => {
    const payload = Buffer.alloc(MAX_PAYLOAD, 7).toString('base64');
    const devices = Array.from({ length: DEVICES }, (_, i) => ({ productKey: PK, deviceName: `never-${i}` }));
    await cluster.devices.register(devices);
    const before = await usedMemory();
    const created = await post('/v1/rrpc/batches', { devices, payload, persistent: true, ttlMs: 3_600_000, concurrency: 200 });
    expect(created.status).toBe(202);
    const id = String(created.body['id']);
    // Every device is offline: each item becomes a job waiting for its device.
    await waitFor(async () => (await redis.hlen(`rrpc:{b:${id}}:items`)) === DEVICES, DEVICES * 50, 'every item waiting as a job');
    await waitFor(async () => (await redis.zcard(`rrpc:{bull}:jobs:delayed`)) >= DEVICES, DEVICES * 50, 'every job parked');
    const added = (await usedMemory()) - before;
    const perDevice = (added - payload.length) / DEVICES;
    console.log(
      `persistent batch: ${DEVICES} devices, payload ${payload.length} B (base64): +${added} B in Redis, ${Math.round(perDevice)} B per device`,
    );
    if (process.env['TENANCY_BREAKDOWN']) {
      const sizes = new Map<string, { n: number; bytes: number }>();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', 'rrpc:*', 'COUNT', 1000);
        cursor = next;
        for (const k of keys) {
          const kind = k
            .replace(/never-\d+/, 'D')
            .replace(/job_[A-Za-z0-9]+/, 'J')
            .replace(/:\d+$/, ':N')
            .replace(/bat_[A-Za-z0-9]+/, 'B')
            .replace(/j-J/, 'j-J');
          const e = sizes.get(kind) ?? { n: 0, bytes: 0 };
          e.n++;
          e.bytes += Number(await redis.memory('USAGE', k, 'SAMPLES', '0'));
          sizes.set(kind, e);
        }
      } while (cursor !== '0');
      console.log(
        [...sizes]
          .sort((a, b) => b[1].bytes - a[1].bytes)
          .slice(0, 20)
          .map(([k, v]) => `${k}: ${v.n} keys, ${v.bytes} B`)
          .join('\n'),
      );
    }
    expect(added).toBeLessThan(payload.length * 1.25 + DEVICES * PER_DEVICE_BOUND);
    expect(await keysWithoutTtl()).toEqual([]);
  });

  it('a job adds a bounded record, with a TTL from the moment it is written', async () => {
    const count = 200;
    await cluster.devices.register(Array.from({ length: count }, (_, i) => ({ productKey: PK, deviceName: `job-${i}` })));
    const before = await usedMemory();
    for (let i = 0; i < count; i++) {
      const res = await post(`/v1/devices/${PK}/job-${i}/rrpc/jobs`, { payload: b64('x'.repeat(64)), ttlMs: 3_600_000 });
      expect(res.status).toBe(202);
    }
    await waitFor(async () => (await redis.zcard(`rrpc:{bull}:jobs:delayed`)) >= DEVICES + count, 30_000, 'every job parked');
    const perJob = ((await usedMemory()) - before) / count;
    console.log(`job (64-byte payload): ${Math.round(perJob)} B per job`);
    expect(perJob).toBeLessThan(PER_JOB_BOUND);
    expect(await keysWithoutTtl()).toEqual([]);
  });
});
