import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { verifyCallback } from '@rrpc/jobs';
import {
  CALLBACK_SECRET,
  b64,
  startDeviceGroup,
  startReceiver,
  startWorkerCluster,
  type DeviceGroup,
  type WorkerCluster,
} from './support/worker-cluster.js';

/**
 * Persistent calls (jobs) on real Redis, Mosquitto, api, ingest and worker: delivered when the device connects
 * (presence event, no polling), one at a time in creation order, retried on device timeouts, expired, cancelled,
 * with signed callbacks retried against a local receiver; Idempotency-Key and connectTimeoutMs on sync calls.
 */
const PK = 'a1Jobs';
let cluster: WorkerCluster;
let group: DeviceGroup;
const silent = new Set<string>(['quiet-1']);

beforeAll(async () => {
  // The local receivers listen on 127.0.0.1: an internal address, allowed here as an operator would allow an internal receiver.
  cluster = await startWorkerCluster({ env: { RRPC_CALLBACK_ALLOWED_HOSTS: '127.0.0.1' } });
  group = await startDeviceGroup(cluster.mosquitto.url, PK, 50, (dn) => !silent.has(dn));
  // The devices that get jobs or calls while offline are registered up front (registry on), as production's are.
  const offline = ['cancel-1', 'cb-2', 'idem-1', 'idem-2', 'late-1', 'never-1', 'order-1', 'quiet-1', 'quiet-2', 'wait-1', 'wait-2'];
  await cluster.devices.register(offline.map((deviceName) => ({ productKey: PK, deviceName })));
});
afterAll(async () => {
  await group.close();
  await cluster.stop();
});

type Job = {
  id: string;
  state: string;
  attempts: number;
  result: { rrpcCode: string; payload?: string; messageId?: string } | null;
  callback?: { state: string; attempts: number };
};

const jobsPath = (dn: string) => `/v1/devices/${PK}/${dn}/rrpc/jobs`;
async function createJob(dn: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return cluster.json<Job>(jobsPath(dn), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}
async function job(dn: string, id: string): Promise<Job> {
  return (await cluster.json<Job>(`${jobsPath(dn)}/${id}`)).body;
}
async function until(dn: string, id: string, state: string, ms = 15_000): Promise<Job> {
  await waitFor(async () => (await job(dn, id)).state === state, ms, `job ${id} ${state}`);
  return job(dn, id);
}
const heard = (dn: string) => group.requests.get(dn) ?? [];

describe('persistent calls', () => {
  it('waits for an offline device and delivers when it connects', async () => {
    const created = await createJob('late-1', { payload: b64('hello'), ttlMs: 60_000 });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ state: 'QUEUED', attempts: 0, result: null });
    expect(created.headers.get('location')).toBe(`${jobsPath('late-1')}/${created.body.id}`);
    await new Promise((r) => setTimeout(r, 300));
    expect(heard('late-1')).toHaveLength(0);
    expect((await job('late-1', created.body.id)).state).toBe('QUEUED');
    await cluster.connectDevice(PK, 'late-1');
    const done = await until('late-1', created.body.id, 'SUCCEEDED');
    expect(done.attempts).toBe(1);
    expect(done.result).toMatchObject({ rrpcCode: 'SUCCESS', payload: b64('hello') });
    expect(done.result?.messageId).toBe(heard('late-1')[0]?.messageId);
    expect(heard('late-1')).toHaveLength(1);
    const listed = await cluster.json<{ jobs: Job[] }>(`${jobsPath('late-1')}?state=SUCCEEDED`);
    expect(listed.body.jobs.map((j) => j.id)).toEqual([created.body.id]);
  });

  it("delivers a device's jobs one at a time, in creation order", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createJob('order-1', { payload: b64(`m${i}`), ttlMs: 60_000 })).body.id);
    await cluster.connectDevice(PK, 'order-1');
    for (const id of ids) await until('order-1', id, 'SUCCEEDED');
    expect(heard('order-1').map((r) => r.payload)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    // The device answers after 50 ms; a job sent before the previous one was answered would show here.
    expect(group.maxInFlightPerDevice.get('order-1')).toBe(1);
    expect(new Set(heard('order-1').map((r) => r.messageId)).size).toBe(5);
  });

  it('ends as EXPIRED when the device does not come in time', async () => {
    const created = await createJob('never-1', { payload: b64('x'), ttlMs: 1500 });
    const expired = await until('never-1', created.body.id, 'EXPIRED');
    expect(expired.attempts).toBe(0);
    expect(heard('never-1')).toHaveLength(0);
  });

  it('retries device timeouts up to maxAttempts, then ends as TIMEOUT', async () => {
    await cluster.connectDevice(PK, 'quiet-1');
    const created = await createJob('quiet-1', { payload: b64('knock'), timeoutMs: 1000, maxAttempts: 3, ttlMs: 60_000 });
    const ended = await until('quiet-1', created.body.id, 'TIMEOUT', 20_000);
    expect(ended.attempts).toBe(3);
    expect(ended.result).toMatchObject({ rrpcCode: 'TIMEOUT' });
    expect(heard('quiet-1')).toHaveLength(3);
    expect(new Set(heard('quiet-1').map((r) => r.messageId)).size).toBe(3);
  });

  it('cancels a waiting job; the next job of the device still runs; a finished job cannot be cancelled', async () => {
    const first = (await createJob('cancel-1', { payload: b64('first'), ttlMs: 60_000 })).body.id;
    const second = (await createJob('cancel-1', { payload: b64('second'), ttlMs: 60_000 })).body.id;
    const cancelled = await cluster.json<Job>(`${jobsPath('cancel-1')}/${first}`, { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.state).toBe('CANCELLED');
    await cluster.connectDevice(PK, 'cancel-1');
    await until('cancel-1', second, 'SUCCEEDED');
    expect(heard('cancel-1').map((r) => r.payload)).toEqual(['second']);
    expect((await job('cancel-1', first)).state).toBe('CANCELLED');
    const again = await cluster.json(`${jobsPath('cancel-1')}/${second}`, { method: 'DELETE' });
    expect(again.status).toBe(409);
    expect((await cluster.json(`${jobsPath('cancel-1')}/job_doesnotexist1`, { method: 'DELETE' })).status).toBe(404);
  });

  it('rejects bad jobs', async () => {
    expect((await createJob('bad-1', { payload: 'not base64!' })).status).toBe(400);
    expect((await createJob('bad-1', { payload: b64('x'), maxAttempts: 0 })).status).toBe(400);
    expect((await createJob('bad-1', { payload: b64('x'), expiresAt: '2001-01-01T00:00:00Z' })).status).toBe(400);
    expect((await createJob('bad-1', { payload: b64('x'), callbackUrl: 'ftp://x' })).status).toBe(400);
  });
});

describe('callbacks', () => {
  it('posts the finished job, signed, retrying non-2xx answers with backoff', async () => {
    const receiver = await startReceiver((n) => (n < 2 ? 500 : 200));
    try {
      await cluster.connectDevice(PK, 'cb-1');
      const created = await createJob('cb-1', { payload: b64('ping'), ttlMs: 60_000, callbackUrl: receiver.url });
      await until('cb-1', created.body.id, 'SUCCEEDED');
      await waitFor(async () => (await job('cb-1', created.body.id)).callback?.state === 'DELIVERED', 15_000, 'callback delivered');
      const shown = await job('cb-1', created.body.id);
      expect(shown.callback).toMatchObject({ state: 'DELIVERED', attempts: 3 });
      expect(Object.keys(shown.callback ?? {}).sort()).toEqual(['attempts', 'deliveredAt', 'lastAttemptAt', 'state']);
      expect(receiver.received.map((r) => r.status)).toEqual([500, 500, 200]);
      for (const r of receiver.received) {
        expect(await verifyCallback(CALLBACK_SECRET, r.body, r.signature)).toBe(true);
        expect(await verifyCallback('another-secret-0123456789', r.body, r.signature)).toBe(false);
        expect(await verifyCallback(CALLBACK_SECRET, r.body.replace('SUCCEEDED', 'FAILED'), r.signature)).toBe(false);
        expect(r.signature).toMatch(/^t=\d{13},id=[0-9a-f-]{36},v2=[0-9a-f]{64}$/);
        expect(r.signature).toContain(`id=${String(r.headers['x-rrpc-delivery-id'])},`);
      }
      // Every attempt is its own delivery (a receiver's replay store must not reject a retry).
      expect(new Set(receiver.received.map((r) => r.headers['x-rrpc-delivery-id'])).size).toBe(3);
      expect(JSON.parse(receiver.received[2]?.body ?? '{}')).toMatchObject({
        id: created.body.id,
        state: 'SUCCEEDED',
        result: { rrpcCode: 'SUCCESS', payload: b64('ping') },
      });
    } finally {
      await receiver.close();
    }
  });

  it('gives up after RRPC_CALLBACK_MAX_ATTEMPTS and shows it on the job', async () => {
    const receiver = await startReceiver(() => 503);
    try {
      const created = await createJob('cb-2', { payload: b64('x'), ttlMs: 1000, callbackUrl: receiver.url });
      await until('cb-2', created.body.id, 'EXPIRED');
      await waitFor(async () => (await job('cb-2', created.body.id)).callback?.state === 'FAILED', 15_000, 'callback failed');
      const failed = await job('cb-2', created.body.id);
      expect(failed.callback).toMatchObject({ state: 'FAILED', attempts: 4 });
      // The receiver's answer (503) is not shown: a callback URL is no probe into the network.
      expect(Object.keys(failed.callback ?? {}).sort()).toEqual(['attempts', 'lastAttemptAt', 'state']);
      expect(receiver.received).toHaveLength(4);
    } finally {
      await receiver.close();
    }
  });
});

describe('Idempotency-Key', () => {
  it("replays a synchronous call's answer; the device hears one request", async () => {
    await cluster.connectDevice(PK, 'idem-1');
    const send = () =>
      cluster.api(`/v1/devices/${PK}/idem-1/rrpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'unlock-door-42' },
        body: JSON.stringify({ payload: b64('unlock'), timeoutMs: 3000 }),
      });
    const first = await send();
    const firstBody = await first.text();
    expect(first.status).toBe(200);
    const second = await send();
    expect(second.status).toBe(200);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await second.text()).toBe(firstBody);
    expect(heard('idem-1')).toHaveLength(1);
    // The same key with another request is refused.
    const other = await cluster.api(`/v1/devices/${PK}/idem-1/rrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'unlock-door-42' },
      body: JSON.stringify({ payload: b64('lock'), timeoutMs: 3000 }),
    });
    expect(other.status).toBe(409);
    expect(heard('idem-1')).toHaveLength(1);
  });

  it('answers 409 to a duplicate while the first is in flight, then replays', async () => {
    await cluster.connectDevice(PK, 'quiet-2');
    silent.add('quiet-2');
    const send = () =>
      cluster.api(`/v1/devices/${PK}/quiet-2/rrpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'k-inflight' },
        body: JSON.stringify({ payload: b64('x'), timeoutMs: 1500 }),
      });
    const first = send();
    await waitFor(() => heard('quiet-2').length === 1, 5000, 'first request');
    const during = await send();
    expect(during.status).toBe(409);
    expect(during.headers.get('retry-after')).toBe('1');
    expect((await first).status).toBe(504);
    const after = await send();
    expect(after.status).toBe(504);
    expect(after.headers.get('idempotent-replayed')).toBe('true');
    expect(heard('quiet-2')).toHaveLength(1);
  });

  it('creates one job for retried job requests', async () => {
    const a = await createJob('idem-2', { payload: b64('once'), ttlMs: 60_000 }, { 'idempotency-key': 'job-once' });
    const b = await createJob('idem-2', { payload: b64('once'), ttlMs: 60_000 }, { 'idempotency-key': 'job-once' });
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.body.id).toBe(a.body.id);
    await cluster.connectDevice(PK, 'idem-2');
    await until('idem-2', a.body.id, 'SUCCEEDED');
    expect(heard('idem-2')).toHaveLength(1);
    const listed = await cluster.json<{ jobs: Job[] }>(jobsPath('idem-2'));
    expect(listed.body.jobs).toHaveLength(1);
  });
});

describe('connectTimeoutMs', () => {
  it('waits for an offline device to connect, then calls it', async () => {
    const pending = cluster.call(PK, 'wait-1', { payload: b64('hi'), timeoutMs: 3000, connectTimeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    expect(heard('wait-1')).toHaveLength(0);
    await cluster.connectDevice(PK, 'wait-1');
    const res = await pending;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { payload: string }).payload).toBe(b64('hi'));
  });

  it('answers OFFLINE when the device does not connect in time; 0 (the default) does not wait', async () => {
    const waited = await cluster.call(PK, 'wait-2', { payload: b64('hi'), connectTimeoutMs: 500 });
    expect(waited.status).toBe(404);
    expect(((await waited.json()) as { rrpcCode: string }).rrpcCode).toBe('OFFLINE');
    expect((await cluster.call(PK, 'wait-2', { payload: b64('hi'), connectTimeoutMs: 60_001 })).status).toBe(400);
  });
});
