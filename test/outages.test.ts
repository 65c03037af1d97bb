import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { startCluster, type TestCluster } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';

/**
 * Redis or the broker down: calls fail fast with 503 UNAVAILABLE (never hang until their timeout), the pods
 * report not-ready, and they serve again once the dependency is back.
 */
const PK = 'a1Outage';
const b64 = (s: string) => Buffer.from(s).toString('base64');
let cluster: TestCluster;
let device: TestDevice;

beforeAll(async () => {
  cluster = await startCluster({ env: { REDIS_COMMAND_TIMEOUT_MS: '500' } });
  device = await startDevice(cluster.mosquitto.url, PK, 'pump-1', ({ payload }) => payload);
  await cluster.connectDevice(PK, 'pump-1');
});
afterAll(async () => {
  await device.close();
  await cluster.stop();
});

async function callOnce(timeoutMs = 8000) {
  const started = Date.now();
  const res = await cluster.call(PK, 'pump-1', { payload: b64('ping'), timeoutMs });
  return { status: res.status, body: (await res.json()) as { rrpcCode?: string; error?: { code: string } }, elapsed: Date.now() - started };
}

async function ready(url: string) {
  return (await fetch(`${url}/readyz`)).status === 200;
}

/** Creating a job and a batch: each answer's status, code and time taken. */
async function createJobAndBatch() {
  const timed = async (path: string, body: unknown) => {
    const started = Date.now();
    const res = await cluster.api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code, elapsed: Date.now() - started };
  };
  return Promise.all([
    timed(`/v1/devices/${PK}/pump-1/rrpc/jobs`, { payload: b64('job'), ttlMs: 60_000 }),
    timed('/v1/rrpc/batches', { devices: [{ productKey: PK, deviceName: 'pump-1' }], payload: b64('batch') }),
  ]);
}

describe('Redis stalled (SIGSTOP)', () => {
  it('fails calls and webhooks with 503 instead of waiting for the call timeout, then recovers', async () => {
    expect((await callOnce()).status).toBe(200);
    cluster.redis.signal('SIGSTOP');
    try {
      const during = await callOnce(8000);
      expect(during.status).toBe(503);
      expect(during.body.error?.code).toBe('UNAVAILABLE');
      expect(during.elapsed).toBeLessThan(8000); // the call's own timeout was never reached
      const hook = await cluster.webhook({
        event: 'client.connected',
        clientid: 'x|y|',
        username: `pump-2&${PK}`,
        connected_at: Date.now(),
        keepalive: 60,
      });
      expect(hook.status).toBe(503);
      // Jobs and batches (BullMQ's calls included) answer 503 within about the command timeout (500 ms here).
      for (const created of await createJobAndBatch()) {
        expect(created).toMatchObject({ status: 503, code: 'UNAVAILABLE' });
        expect(created.elapsed).toBeLessThan(4000);
      }
      // Readiness follows a bounded PING: a stopped Redis keeps its TCP connection, yet the pods are not ready.
      for (const url of [cluster.apis[0]!.url, cluster.ingests[0]!.url]) {
        const res = await fetch(`${url}/readyz`);
        expect(res.status).toBe(503);
        expect(await res.json()).toMatchObject({ checks: { redis: false } });
      }
    } finally {
      cluster.redis.signal('SIGCONT');
    }
    await waitFor(async () => (await callOnce()).status === 200, 10_000, 'calls to succeed again');
  });
});

describe('Redis crashed (SIGKILL + restart)', () => {
  it('answers 503 while it is down, reports not ready, and serves again after the restart', async () => {
    await cluster.redis.kill('SIGKILL');
    const during = await callOnce();
    expect(during.status).toBe(503);
    expect(during.body.error?.code).toBe('UNAVAILABLE');
    await waitFor(async () => !(await ready(cluster.apis[0]!.url)), 5000, 'api to report not ready');
    expect(await (await fetch(`${cluster.apis[0]!.url}/readyz`)).json()).toMatchObject({ checks: { redis: false } });
    // Not 500 INTERNAL from BullMQ ("Stream isn't writeable"): the same 503 as every other route.
    for (const created of await createJobAndBatch()) expect(created).toMatchObject({ status: 503, code: 'UNAVAILABLE' });
    await cluster.redis.restart();
    await waitFor(() => ready(cluster.apis[0]!.url), 10_000, 'api ready again');
    await waitFor(() => ready(cluster.ingests[0]!.url), 10_000, 'ingest ready again');
    // The restarted Redis lost everything (no persistence in the test server): presence, and the device registry
    // too, so the call finds no registered device. (A production Redis persists: the registry is durable data.)
    expect((await callOnce()).body.error?.code).toBe('DEVICE_NOT_FOUND');
    await cluster.devices.register([{ productKey: PK, deviceName: 'pump-1' }]);
    expect((await callOnce()).body.rrpcCode).toBe('OFFLINE');
    // The broker's next webhook restores presence.
    await cluster.connectDevice(PK, 'pump-1');
    const after = await callOnce();
    expect(after.status).toBe(200);
    expect(after.body.rrpcCode).toBe('SUCCESS');
  });
});

describe('broker down', () => {
  it('fails calls with 503 at once, and serves again when the broker is back', async () => {
    await cluster.mosquitto.kill('SIGKILL');
    await waitFor(async () => !(await ready(cluster.apis[0]!.url)), 5000, 'api to notice the broker is gone');
    const before = Date.now();
    const during = await callOnce(8000);
    expect(during.status).toBe(503);
    expect(during.body.error?.code).toBe('UNAVAILABLE');
    expect(Date.now() - before).toBeLessThan(8000);
    await cluster.mosquitto.restart();
    await waitFor(() => ready(cluster.apis[0]!.url), 15_000, 'api ready again');
    await waitFor(() => ready(cluster.ingests[0]!.url), 15_000, 'ingest re-subscribed');
    // The test device does not reconnect by itself; a new connection and its webhook bring it back.
    await device.close();
    device = await startDevice(cluster.mosquitto.url, PK, 'pump-1', ({ payload }) => payload);
    await cluster.connectDevice(PK, 'pump-1');
    expect((await callOnce()).status).toBe(200);
  });
});
