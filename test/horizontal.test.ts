import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';

/**
 * Two api pods and two ingest replicas that share nothing but Redis and the broker (shared subscription):
 * every call gets its own device's answer, whichever ingest hears it and whichever pod made it.
 */
const PK = 'a1Scale';
const DEVICES = 8;
const CALLS_PER_POD = 150;

let cluster: TestCluster;
const devices: TestDevice[] = [];

async function metric(url: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}

beforeAll(async () => {
  cluster = await startCluster({ apis: 2, ingests: 2, sharedSubscription: true });
  for (let i = 0; i < DEVICES; i++) {
    const name = `node-${String(i).padStart(2, '0')}`;
    // Each device answers with its own name, the message ID and the request bytes.
    devices.push(
      await startDevice(cluster.mosquitto.url, PK, name, ({ payload, messageId }) => `${name}|${messageId}|${payload.toString()}`),
    );
    await cluster.connectDevice(PK, name);
  }
});
afterAll(async () => {
  await Promise.all(devices.map((d) => d.close()));
  await cluster.stop();
});

describe('two api pods, two ingest replicas', () => {
  it('matches every answer to its own call under concurrency', async () => {
    const jobs: Array<Promise<void>> = [];
    const failures: string[] = [];
    for (let pod = 0; pod < 2; pod++) {
      for (let i = 0; i < CALLS_PER_POD; i++) {
        const deviceName = `node-${String(i % DEVICES).padStart(2, '0')}`;
        const nonce = `pod${pod}-call${i}`;
        jobs.push(
          (async () => {
            const res = await cluster.call(PK, deviceName, { payload: Buffer.from(nonce).toString('base64'), timeoutMs: 10_000 }, pod);
            const body = (await res.json()) as { rrpcCode: string; messageId: string; payload: string };
            const expected = `${deviceName}|${body.messageId}|${nonce}`;
            if (res.status !== 200 || Buffer.from(body.payload, 'base64').toString() !== expected) {
              failures.push(`${nonce}: ${res.status} ${JSON.stringify(body)}`);
            }
          })(),
        );
      }
    }
    await Promise.all(jobs);
    expect(failures).toEqual([]);

    // Both ingests took part (the broker split the shared subscription), and neither saw an answer twice.
    const matched = await Promise.all(cluster.ingests.map((i) => metric(i.url, 'rrpc_responses_ingested_total', 'result="matched"')));
    expect(matched[0]! + matched[1]!).toBe(2 * CALLS_PER_POD);
    expect(matched[0]).toBeGreaterThan(0);
    expect(matched[1]).toBeGreaterThan(0);
    const duplicates = await Promise.all(cluster.ingests.map((i) => metric(i.url, 'rrpc_responses_ingested_total', 'result="duplicate"')));
    expect(duplicates).toEqual([0, 0]);
    // Each pod counted its own calls only.
    for (const pod of cluster.apis) expect(await metric(pod.url, 'rrpc_calls_total', 'outcome="success"')).toBe(CALLS_PER_POD);
  });

  it('lets a call made on one pod be collected on the other', async () => {
    const res = await cluster.call(PK, 'node-00', { payload: Buffer.from('x').toString('base64') }, 0);
    const { messageId } = (await res.json()) as { messageId: string };
    const other = await cluster.api(`/v1/rrpc/${messageId}`, { pod: 1 });
    expect(other.status).toBe(200);
    expect(await other.json()).toMatchObject({ messageId, rrpcCode: 'SUCCESS', deviceName: 'node-00' });
  });

  it('keeps one reply subscription per pod, whatever the number of calls', async () => {
    const { Redis } = await import('ioredis');
    const admin = new Redis(cluster.redis.url);
    const channels = (await admin.pubsub('CHANNELS', '*')) as string[];
    await admin.quit();
    expect(channels.sort()).toEqual(['rrpc:reply:api-0', 'rrpc:reply:api-1']);
  });
});
