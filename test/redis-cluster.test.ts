import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadApiConfig, loadIngestConfig } from '@rrpc/config';
import { createApiService, type ApiService } from '@rrpc/api';
import { createIngestService, type IngestService } from '@rrpc/response-ingest';
import { createLogger } from '@rrpc/runtime';
import { Keys, MessageIds, slotOf } from '@rrpc/store';
import { startMosquitto, startRedisCluster, type ManagedRedisCluster, type ManagedServer } from '@rrpc/testing';
import { API_KEY, WEBHOOK_TOKEN, connectedEvent } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';

/**
 * A real Redis Cluster of three primaries: every script touches one slot (the call's key shares its
 * device's slot), notifications go over sharded pub/sub, and calls work across two pods and two ingests.
 */
const PK = 'a1Cluster';
const logger = createLogger('test', 'silent');
let redis: ManagedRedisCluster;
let mosquitto: ManagedServer;
const apis: Array<{ service: ApiService; url: string }> = [];
const ingests: Array<{ service: IngestService; url: string }> = [];
const devices: TestDevice[] = [];
const names = Array.from({ length: 12 }, (_, i) => `unit-${String(i).padStart(2, '0')}`);

beforeAll(async () => {
  [redis, mosquitto] = await Promise.all([startRedisCluster(), startMosquitto()]);
  const env = {
    REDIS_CLUSTER_NODES: redis.nodes.join(','),
    MQTT_URL: mosquitto.url,
    RRPC_API_KEYS: API_KEY,
    RRPC_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    PORT: '0',
  };
  for (let i = 0; i < 2; i++) {
    const ingest = createIngestService(loadIngestConfig({ ...env, RRPC_INSTANCE_ID: `cl-ingest-${i}` }), logger);
    ingests.push({ service: ingest, url: `http://127.0.0.1:${await ingest.start()}` });
    const api = createApiService(loadApiConfig({ ...env, RRPC_INSTANCE_ID: `cl-api-${i}` }), logger);
    apis.push({ service: api, url: `http://127.0.0.1:${await api.start()}` });
  }
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
});
