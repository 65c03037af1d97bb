import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, waitFor } from '@rrpc/testing';
import { b64, startDeviceGroup, startWorkerCluster, type DeviceGroup, type WorkerCluster } from './support/worker-cluster.js';

/**
 * Batches on real Redis, Mosquitto, api, ingest and workers: 1,000 devices under a concurrency limit, a batch by
 * product (the devices online now), a persistent batch that waits for an offline device, and a worker process
 * killed with SIGKILL mid-batch whose batch another worker process completes without sending any device a
 * second request. Devices are answered by a few MQTT connections with wildcard subscriptions (one per product).
 */
let cluster: WorkerCluster;
const groups: DeviceGroup[] = [];

beforeAll(async () => {
  cluster = await startWorkerCluster();
});
afterAll(async () => {
  await Promise.allSettled(groups.map((g) => g.close()));
  await cluster.stop();
});

type Batch = { id: string; state: string; total: number; done: number; counts: Record<string, number> };
type Item = { index: number; productKey: string; deviceName: string; rrpcCode: string | null; payload?: string; messageId?: string };

async function connectAll(devices: Array<{ productKey: string; deviceName: string }>) {
  for (let i = 0; i < devices.length; i += 50) {
    await Promise.all(devices.slice(i, i + 50).map((d) => cluster.connectDevice(d.productKey, d.deviceName)));
  }
}
async function createBatch(body: Record<string, unknown>) {
  return cluster.json<Batch>('/v1/rrpc/batches', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}
async function batch(id: string) {
  return (await cluster.json<Batch>(`/v1/rrpc/batches/${id}`)).body;
}
async function allResults(id: string, limit: number): Promise<Item[]> {
  const items: Item[] = [];
  let cursor: string | null = '0';
  while (cursor !== null) {
    const page: { body: { results: Item[]; nextCursor: string | null } } = await cluster.json(
      `/v1/rrpc/batches/${id}/results?cursor=${cursor}&limit=${limit}`,
    );
    items.push(...page.body.results);
    cursor = page.body.nextCursor;
  }
  return items;
}

describe('batches', () => {
  it('calls 1,000 devices with at most `concurrency` calls in flight', async () => {
    const products = ['a1BatchG0', 'a1BatchG1', 'a1BatchG2', 'a1BatchG3'];
    const devices = Array.from({ length: 1000 }, (_, i) => ({
      productKey: products[i % 4] ?? '',
      deviceName: `dev-${String(i).padStart(4, '0')}`,
    }));
    const shared = { inFlight: 0, max: 0 };
    const mine = await Promise.all(products.map((pk) => startDeviceGroup(cluster.mosquitto.url, pk, 20, () => true, shared)));
    groups.push(...mine);
    await connectAll(devices);
    const created = await createBatch({ devices, payload: b64('fw?'), timeoutMs: 5000, concurrency: 25 });
    expect(created.status).toBe(202);
    expect(created.body.total).toBe(1000);
    await waitFor(async () => (await batch(created.body.id)).state === 'DONE', 60_000, 'batch done');
    const done = await batch(created.body.id);
    expect(done).toMatchObject({ state: 'DONE', total: 1000, done: 1000, counts: { SUCCESS: 1000 } });
    // A request is unanswered at the devices for part of its call's time in flight, so the devices' count of
    // unanswered requests never exceeds the calls the worker has in flight: at most the batch's concurrency.
    expect(shared.max).toBeLessThanOrEqual(25);
    expect(shared.max).toBeGreaterThan(1);
    const heard = mine.reduce((n, g) => n + [...g.requests.values()].reduce((m, l) => m + l.length, 0), 0);
    expect(heard).toBe(1000);
    const items = await allResults(created.body.id, 300);
    expect(items).toHaveLength(1000);
    expect(items.map((i) => i.index)).toEqual(devices.map((_, i) => i));
    expect(items.every((i) => i.rrpcCode === 'SUCCESS' && i.payload === b64('fw?'))).toBe(true);
    expect(items[7]).toMatchObject({ productKey: devices[7]?.productKey, deviceName: devices[7]?.deviceName });
  });

  it('takes every online device of a product, and reports offline named devices as OFFLINE', async () => {
    const pk = 'a1BatchP';
    const g = await startDeviceGroup(cluster.mosquitto.url, pk, 0);
    groups.push(g);
    await connectAll(['prod-1', 'prod-2', 'prod-3'].map((deviceName) => ({ productKey: pk, deviceName })));
    await cluster.connectDevice(pk, 'prod-4');
    await cluster.disconnectDevice(pk, 'prod-4');
    const byProduct = await createBatch({ productKey: pk, payload: b64('all'), concurrency: 2 });
    expect(byProduct.body.total).toBe(3);
    await waitFor(async () => (await batch(byProduct.body.id)).state === 'DONE', 15_000, 'product batch');
    expect((await batch(byProduct.body.id)).counts).toEqual({ SUCCESS: 3 });

    await cluster.devices.register([{ productKey: pk, deviceName: 'prod-9' }]); // registered, never connected
    const named = await createBatch({
      devices: [
        { productKey: pk, deviceName: 'prod-1' },
        { productKey: pk, deviceName: 'prod-9' },
      ],
      payload: b64('x'),
    });
    await waitFor(async () => (await batch(named.body.id)).state === 'DONE', 15_000, 'named batch');
    expect((await batch(named.body.id)).counts).toEqual({ SUCCESS: 1, OFFLINE: 1 });
    expect((await createBatch({ payload: b64('x') })).status).toBe(400);
    expect(
      (
        await createBatch({
          devices: [
            { productKey: pk, deviceName: 'prod-1' },
            { productKey: pk, deviceName: 'prod-1' },
          ],
          payload: b64('x'),
        })
      ).status,
    ).toBe(400);
  });

  it('waits for offline devices when persistent', async () => {
    const pk = 'a1BatchW';
    const g = await startDeviceGroup(cluster.mosquitto.url, pk, 0);
    groups.push(g);
    await cluster.connectDevice(pk, 'wait-1');
    await cluster.devices.register([{ productKey: pk, deviceName: 'wait-2' }]); // registered, not connected yet
    const created = await createBatch({
      devices: [
        { productKey: pk, deviceName: 'wait-1' },
        { productKey: pk, deviceName: 'wait-2' },
      ],
      payload: b64('later'),
      persistent: true,
      ttlMs: 60_000,
    });
    await waitFor(async () => (await batch(created.body.id)).done === 1, 15_000, 'online device done');
    const partial = await allResults(created.body.id, 10);
    expect(partial[1]).toMatchObject({ deviceName: 'wait-2', rrpcCode: null });
    expect((await batch(created.body.id)).state).toBe('RUNNING');
    await cluster.connectDevice(pk, 'wait-2');
    await waitFor(async () => (await batch(created.body.id)).state === 'DONE', 15_000, 'persistent batch done');
    expect((await batch(created.body.id)).counts).toEqual({ SUCCESS: 2 });
    expect(g.requests.get('wait-2')).toHaveLength(1);
  });
});

describe('worker processes', () => {
  it('completes a batch after its worker is killed with SIGKILL; no device hears a request twice', async () => {
    // Only worker processes take this batch's work: stop the in-process worker first.
    await Promise.all(cluster.workers.splice(0).map((w) => w.stop(1000)));
    const pk = 'a1BatchK';
    const g = await startDeviceGroup(cluster.mosquitto.url, pk, 40);
    groups.push(g);
    const devices = Array.from({ length: 300 }, (_, i) => ({ productKey: pk, deviceName: `k-${String(i).padStart(3, '0')}` }));
    await connectAll(devices);
    const first = await cluster.spawnWorker();
    const created = await createBatch({ devices, payload: b64('kill'), timeoutMs: 2000, concurrency: 10 });
    await waitFor(async () => (await batch(created.body.id)).done >= 60, 30_000, '60 results');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const before = (await batch(created.body.id)).done;
    expect(before).toBeLessThan(300);
    await cluster.spawnWorker();
    await waitFor(async () => (await batch(created.body.id)).state === 'DONE', 40_000, 'batch done after takeover');
    const done = await batch(created.body.id);
    expect(done.total).toBe(300);
    expect(done.done).toBe(300);
    const items = await allResults(created.body.id, 1000);
    for (const item of items) {
      const heard = g.requests.get(item.deviceName) ?? [];
      expect(heard.length).toBeLessThanOrEqual(1);
      // A device that heard the request answered it: its result is SUCCESS (read back from the call's record
      // when the worker that sent it died); one that heard nothing had nothing sent (or, killed in between,
      // a recorded but unpublished call that ended as TIMEOUT).
      if (heard.length === 1) expect(item).toMatchObject({ rrpcCode: 'SUCCESS', messageId: heard[0]?.messageId });
      else expect(item.rrpcCode).toBe('TIMEOUT');
    }
    expect(done.counts['SUCCESS']).toBeGreaterThanOrEqual(290);
  }, 90_000);

  it('refuses to start on a Redis whose maxmemory-policy is not noeviction', async () => {
    const lru = await startRedis(['--maxmemory-policy', 'allkeys-lru']);
    try {
      const failed = await cluster.spawnWorker({ REDIS_URL: lru.url }).then(
        () => undefined,
        (error: { code?: number; output?: string }) => error,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.output).toContain('maxmemory-policy "allkeys-lru"');
      expect(failed?.output).toContain('noeviction');
    } finally {
      await lru.stop();
    }
  });
});
