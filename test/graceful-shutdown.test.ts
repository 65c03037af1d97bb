import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SECRETS_KEY, freePort, startMosquitto, startRedis, waitFor, type ManagedServer } from '@rrpc/testing';
import { connectTestRegistry } from './support/registry.js';
import { API_KEY, WEBHOOK_TOKEN, connectedEvent } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';

/**
 * SIGTERM with calls in flight: the pod stops being ready, refuses new calls with 503, lets the calls in
 * flight finish with their answers, closes its connections and exits 0.
 */
const root = new URL('..', import.meta.url).pathname;
const PK = 'a1Drain';
let redis: ManagedServer;
let mosquitto: ManagedServer;
let device: TestDevice;
const children: ChildProcess[] = [];

function startService(service: string, port: number) {
  const child = spawn(process.execPath, [`services/${service}/dist/main.js`], {
    cwd: root,
    env: {
      PATH: process.env['PATH'] ?? '',
      REDIS_URL: redis.url,
      MQTT_URL: mosquitto.url,
      PORT: String(port),
      RRPC_API_KEYS: API_KEY,
      RRPC_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      RRPC_SECRETS_KEY: TEST_SECRETS_KEY,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Start-up failures print here: show them in the test output.
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(`[${service}] ${d.toString()}`));
  children.push(child);
  return child;
}

beforeAll(async () => {
  [redis, mosquitto] = await Promise.all([startRedis(), startMosquitto()]);
  // The device answers after 1.5 s, so calls are still in flight when SIGTERM arrives.
  const registry = connectTestRegistry({ redisUrl: redis.url });
  await registry.register([{ productKey: PK, deviceName: 'slow-1' }]);
  await registry.close();
  device = await startDevice(mosquitto.url, PK, 'slow-1', () => undefined);
  device.client.removeAllListeners('message');
  device.client.on('message', (topic, payload) => {
    device.requests.push({ topic, payload });
    const id = topic.split('/').pop();
    setTimeout(() => device.client.publish(`/sys/${PK}/slow-1/rrpc/response/${id}`, Buffer.concat([Buffer.from('done:'), payload])), 1500);
  });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await device.close();
  await Promise.all([redis.stop(), mosquitto.stop()]);
});

describe('api SIGTERM with calls in flight', () => {
  it('finishes the calls in flight, refuses new ones, and exits 0', async () => {
    const [apiPort, ingestPort] = [await freePort(), await freePort()];
    const ingest = startService('response-ingest', ingestPort);
    const api = startService('api', apiPort);
    const base = `http://127.0.0.1:${apiPort}`;
    await waitFor(async () => (await fetch(`http://127.0.0.1:${ingestPort}/readyz`)).status === 200, 30_000, 'ingest ready');
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, 30_000, 'api ready');
    await fetch(`http://127.0.0.1:${ingestPort}/hooks/emqx`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
      body: JSON.stringify(connectedEvent(PK, 'slow-1', Date.now())),
    });

    const call = (n: number) =>
      fetch(`${base}/v1/devices/${PK}/slow-1/rrpc`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ payload: Buffer.from(`c${n}`).toString('base64'), timeoutMs: 10_000 }),
      });
    const inFlight = [call(1), call(2), call(3)];
    await waitFor(() => device.requests.length === 3, 5000, 'requests to reach the device');
    const exited = new Promise<number | null>((resolve) => api.once('exit', (code) => resolve(code)));
    api.kill('SIGTERM');

    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 503, 2000, 'api to report not ready');
    const refused = await call(4);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { code: 'UNAVAILABLE' } });

    const answers = await Promise.all(
      inFlight.map(
        async (p) =>
          [(await p).status, Buffer.from(((await (await p).json()) as { payload: string }).payload, 'base64').toString()] as const,
      ),
    );
    expect(answers.map(([s]) => s)).toEqual([200, 200, 200]);
    expect(answers.map(([, body]) => body).sort()).toEqual(['done:c1', 'done:c2', 'done:c3']);
    expect(await exited).toBe(0);
    expect(device.requests).toHaveLength(3);

    const ingestExit = new Promise<number | null>((resolve) => ingest.once('exit', (code) => resolve(code)));
    ingest.kill('SIGTERM');
    expect(await ingestExit).toBe(0);
  });
});
