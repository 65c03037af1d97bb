import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';

/**
 * Brokers without MQTT 5 or shared subscriptions (the embedded aedes broker): MQTT_PROTOCOL_VERSION=4 and
 * RRPC_SHARED_SUBSCRIPTION=false. Every ingest replica hears every answer (the first claim wins), and on
 * custom topics each replica tells the platform's own request from the answer by order.
 */
const PK = 'a1V311';
let cluster: TestCluster;
const devices: TestDevice[] = [];

beforeAll(async () => {
  cluster = await startCluster({ apis: 1, ingests: 2, sharedSubscription: false, protocolVersion: 4 });
});
afterAll(async () => {
  await Promise.all(devices.map((d) => d.close()));
  await cluster.stop();
});

describe('MQTT 3.1.1 broker, plain subscriptions, two ingest replicas', () => {
  it('answers system-topic calls once', async () => {
    devices.push(await startDevice(cluster.mosquitto.url, PK, 'old-1', ({ payload }) => `re:${payload.toString()}`));
    await cluster.connectDevice(PK, 'old-1');
    for (let i = 0; i < 20; i++) {
      const res = await cluster.call(PK, 'old-1', { payload: Buffer.from(String(i)).toString('base64'), timeoutMs: 3000 });
      const body = (await res.json()) as { payload: string };
      expect(Buffer.from(body.payload, 'base64').toString()).toBe(`re:${i}`);
    }
  });

  it('on custom topics, returns the device echo and never the platform’s own request', async () => {
    const topic = `/${PK}/old-2/user/cmd`;
    devices.push(await startDevice(cluster.mosquitto.url, PK, 'old-2', ({ payload }) => payload, [topic]));
    await cluster.connectDevice(PK, 'old-2');
    const ok = await cluster.call(PK, 'old-2', { payload: Buffer.from('same').toString('base64'), timeoutMs: 3000, topic });
    expect(ok.status).toBe(200);
    expect(Buffer.from(((await ok.json()) as { payload: string }).payload, 'base64').toString()).toBe('same');

    const silentTopic = `/${PK}/old-3/user/cmd`;
    devices.push(await startDevice(cluster.mosquitto.url, PK, 'old-3', () => undefined, [silentTopic]));
    await cluster.connectDevice(PK, 'old-3');
    const silent = await cluster.call(PK, 'old-3', {
      payload: Buffer.from('same').toString('base64'),
      timeoutMs: 1000,
      topic: silentTopic,
    });
    expect(silent.status).toBe(504);
  });
});
