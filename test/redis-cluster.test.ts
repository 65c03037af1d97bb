import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadApiConfig, loadIngestConfig, loadWorkerConfig } from '@rrpc/config';
import { createApiService, type ApiService } from '@rrpc/api';
import { createWorkerService, type WorkerService } from '@rrpc/worker';
import { createIngestService, type IngestService } from '@rrpc/response-ingest';
import { createLogger } from '@rrpc/runtime';
import { Keys, MessageIds, ReconcileStore, slotOf } from '@rrpc/store';
import { TEST_SECRETS_KEY, startMosquitto, startRedisCluster, waitFor, type ManagedRedisCluster, type ManagedServer } from '@rrpc/testing';
import { connectTestRegistry, registryOptionsOf, type TestRegistry } from './support/registry.js';
import { API_KEY, WEBHOOK_TOKEN, connectedEvent, subscriptionEvent } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';
import { WORKER_ENV } from './support/worker-cluster.js';

/**
 * A real Redis Cluster of three primaries: every script touches one slot (the call's key shares its
 * device's slot), notifications go over sharded pub/sub, and calls work across two pods and two ingests.
 * The worker's BullMQ queues run on the cluster too. REDIS_URL points at a closed port: nothing may use it.
 */
const PK = 'a1Cluster';
const logger = createLogger('test', 'silent');
let redis: ManagedRedisCluster;
let mosquitto: ManagedServer;
const apis: Array<{ service: ApiService; url: string }> = [];
const ingests: Array<{ service: IngestService; url: string }> = [];
let worker: WorkerService | undefined;
const devices: TestDevice[] = [];
const names = Array.from({ length: 12 }, (_, i) => `unit-${String(i).padStart(2, '0')}`);
let registry: TestRegistry;

beforeAll(async () => {
  [redis, mosquitto] = await Promise.all([startRedisCluster(), startMosquitto()]);
  const env = {
    REDIS_URL: 'redis://127.0.0.1:1',
    REDIS_CLUSTER_NODES: redis.nodes.join(','),
    MQTT_URL: mosquitto.url,
    RRPC_API_KEYS: API_KEY,
    RRPC_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    RRPC_SECRETS_KEY: TEST_SECRETS_KEY,
    PORT: '0',
  };
  for (let i = 0; i < 2; i++) {
    const ingest = createIngestService(loadIngestConfig({ ...env, RRPC_INSTANCE_ID: `cl-ingest-${i}` }), logger);
    ingests.push({ service: ingest, url: `http://127.0.0.1:${await ingest.start()}` });
    const api = createApiService(loadApiConfig({ ...env, RRPC_INSTANCE_ID: `cl-api-${i}` }), logger);
    apis.push({ service: api, url: `http://127.0.0.1:${await api.start()}` });
  }
  // The registry on the cluster too: the devices this file brings online (or calls while offline) are registered.
  registry = connectTestRegistry(registryOptionsOf(env));
  await registry.register([...names, 'spare-01', 'later-01', 'nobody-99'].map((deviceName) => ({ productKey: PK, deviceName })));
  worker = createWorkerService(loadWorkerConfig({ ...env, ...WORKER_ENV, RRPC_INSTANCE_ID: 'cl-worker-0' }), logger);
  await worker.start();
  for (const name of names) {
    devices.push(await startDevice(mosquitto.url, PK, name, ({ payload, messageId }) => `${name}|${messageId}|${payload.toString()}`));
    const res = await fetch(`${ingests[0]!.url}/hooks/emqx`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
      body: JSON.stringify(connectedEvent(PK, name, Date.now())),
    });
    expect(res.status).toBe(200);
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(devices.map((d) => d.close()));
  await registry?.close();
  await worker?.stop(1000);
  await Promise.allSettled([...apis, ...ingests].map((s) => s.service.stop()));
  await Promise.allSettled([redis?.stop(), mosquitto?.stop()]);
});

async function commandStats() {
  const client = new Cluster(redis.nodes.map((n) => ({ host: n.split(':')[0]!, port: Number(n.split(':')[1]) })));
  await new Promise((resolve) => client.once('ready', resolve));
  expect(client.nodes('master')).toHaveLength(3);
  let spublish = 0;
  let publish = 0;
  let nodesWithKeys = 0;
  for (const node of client.nodes('master')) {
    const stats = await node.info('commandstats');
    spublish += Number(/cmdstat_spublish:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    publish += Number(/cmdstat_publish:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    if ((await node.dbsize()) > 0) nodesWithKeys++;
  }
  await client.quit();
  return { spublish, publish, nodesWithKeys };
}

describe('Redis Cluster (3 primaries)', () => {
  it('keeps each call in its device’s slot', () => {
    const keys = new Keys('rrpc');
    const ids = new MessageIds();
    const tag = (key: string) => /\{([^}]*)\}/.exec(key)?.[1] ?? '';
    const slots = new Set<number>();
    for (const deviceName of names) {
      const device = { productKey: PK, deviceName };
      const slot = slotOf(tag(keys.presence(device)));
      slots.add(slot);
      expect(slotOf(tag(keys.call(ids.next(keys.deviceSlot(device)))))).toBe(slot);
    }
    expect(slots.size).toBeGreaterThan(1);
  });

  it('answers calls across two pods and two ingests, each its own, notifying over sharded pub/sub', async () => {
    const before = await commandStats();
    const results = await Promise.all(
      Array.from({ length: 120 }, async (_, i) => {
        const deviceName = names[i % names.length]!;
        const pod = apis[i % 2]!;
        const res = await fetch(`${pod.url}/v1/devices/${PK}/${deviceName}/rrpc`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ payload: Buffer.from(`n${i}`).toString('base64'), timeoutMs: 10_000 }),
        });
        const body = (await res.json()) as { messageId: string; payload: string };
        return res.status === 200 && Buffer.from(body.payload, 'base64').toString() === `${deviceName}|${body.messageId}|n${i}`;
      }),
    );
    expect(results.filter((ok) => !ok)).toHaveLength(0);
    const after = await commandStats();
    // One SPUBLISH per answer (to the primary owning the pod's channel); no cluster-wide PUBLISH for calls.
    expect(after.spublish - before.spublish).toBe(120);
    expect(after.publish - before.publish).toBe(0);
    expect(after.nodesWithKeys).toBeGreaterThan(1);
  });

  it('shows presence and stored outcomes, and refuses offline devices', async () => {
    const presence = await fetch(`${apis[1]!.url}/v1/devices/${PK}/${names[3]}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(await presence.json()).toMatchObject({ status: 'ONLINE' });
    const call = await fetch(`${apis[0]!.url}/v1/devices/${PK}/${names[5]}/rrpc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ payload: 'eA==' }),
    });
    const { messageId } = (await call.json()) as { messageId: string };
    const outcome = await fetch(`${apis[1]!.url}/v1/rrpc/${messageId}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(await outcome.json()).toMatchObject({ rrpcCode: 'SUCCESS', deviceName: names[5] });
    const offline = await fetch(`${apis[0]!.url}/v1/devices/${PK}/nobody-99/rrpc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ payload: 'eA==' }),
    });
    expect(await offline.json()).toMatchObject({ rrpcCode: 'OFFLINE' });
  });

  it('sends a device’s online events as SPUBLISHes to the channels’ primaries, never a cluster-wide PUBLISH', async () => {
    const before = await commandStats();
    const res = await fetch(`${ingests[0]!.url}/hooks/emqx`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
      body: JSON.stringify(connectedEvent(PK, 'spare-01', Date.now())),
    });
    expect(res.status).toBe(200);
    const after = await commandStats();
    // One on the online channel (wakes waiting jobs and calls), one on the changes channel (live views).
    expect(after.spublish - before.spublish).toBe(2);
    expect(after.publish - before.publish).toBe(0);
  });

  it("records a subscription in the device's slot and wakes waiters with one SPUBLISH; the reconcile walk covers every primary", async () => {
    const before = await commandStats();
    const res = await fetch(`${ingests[0]!.url}/hooks/emqx`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
      body: JSON.stringify(subscriptionEvent('subscribed', PK, 'spare-01', `/sys/${PK}/spare-01/rrpc/request/+`, Date.now())),
    });
    expect(await res.json()).toMatchObject({ result: 'subscribed' });
    const after = await commandStats();
    expect(after.spublish - before.spublish).toBe(1);
    expect(after.publish - before.publish).toBe(0);
    const shown = await fetch(`${apis[0]!.url}/v1/devices/${PK}/spare-01`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(await shown.json()).toMatchObject({ subscriptions: [`/sys/${PK}/spare-01/rrpc/request/+`] });

    const client = new Cluster(redis.nodes.map((n) => ({ host: n.split(':')[0]!, port: Number(n.split(':')[1]) })));
    await new Promise((resolve) => client.once('ready', resolve));
    try {
      const store = new ReconcileStore(client, new Keys('rrpc'));
      const seen = new Set<string>();
      for (let page = 0; page < 1000; page++) {
        const { devices, done } = await store.presencePage(5);
        for (const d of devices) seen.add(d.deviceName);
        if (done) break;
      }
      for (const name of [...names, 'spare-01']) expect(seen.has(name), name).toBe(true);
    } finally {
      await client.quit();
    }
  });

  it('runs persistent calls and batches with BullMQ on the cluster', async () => {
    const headers = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
    const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> });
    // A job for a device that is not connected yet: queued, then delivered when its presence event arrives.
    const created = await json(
      await fetch(`${apis[1]!.url}/v1/devices/${PK}/later-01/rrpc/jobs`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ payload: 'aGk=', ttlMs: 60_000 }),
      }),
    );
    expect(created).toMatchObject({ status: 202, body: { state: 'QUEUED' } });
    devices.push(await startDevice(mosquitto.url, PK, 'later-01', ({ payload }) => `late|${payload.toString()}`));
    const connected = await fetch(`${ingests[1]!.url}/hooks/emqx`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
      body: JSON.stringify(connectedEvent(PK, 'later-01', Date.now())),
    });
    expect(connected.status).toBe(200);
    const jobUrl = `${apis[0]!.url}/v1/devices/${PK}/later-01/rrpc/jobs/${String(created.body['id'])}`;
    await waitFor(async () => (await json(await fetch(jobUrl, { headers }))).body['state'] === 'SUCCEEDED', 15_000, 'job SUCCEEDED');
    const job = await json(await fetch(jobUrl, { headers }));
    expect(job.body['result']).toMatchObject({ rrpcCode: 'SUCCESS', payload: Buffer.from('late|hi').toString('base64') });

    // A batch over devices in different slots.
    const batchDevices = names.slice(0, 6).map((deviceName) => ({ productKey: PK, deviceName }));
    const batch = await json(
      await fetch(`${apis[0]!.url}/v1/rrpc/batches`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ devices: batchDevices, payload: 'Yg==', timeoutMs: 5000, concurrency: 3 }),
      }),
    );
    expect(batch.status).toBe(202);
    const batchUrl = `${apis[1]!.url}/v1/rrpc/batches/${String(batch.body['id'])}`;
    await waitFor(async () => (await json(await fetch(batchUrl, { headers }))).body['state'] === 'DONE', 15_000, 'batch DONE');
    expect((await json(await fetch(batchUrl, { headers }))).body).toMatchObject({ total: 6, done: 6, counts: { SUCCESS: 6 } });
  });
});
