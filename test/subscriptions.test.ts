import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { deviceCustomRequestFilter, deviceRequestFilter } from '@rrpc/topics';
import { API_KEY, connectedEvent, disconnectedEvent, subscriptionEvent } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';
import { b64, startWorkerCluster, type WorkerCluster } from './support/worker-cluster.js';

/**
 * Issue 14 on real Redis, Mosquitto, api, ingest and worker: with RRPC_TRACK_SUBSCRIPTIONS a call to a
 * connected device that is not subscribed to the request topic ends NOT_SUBSCRIBED at once (nothing
 * published), a device that connected moments ago is waited for (woken by its subscription event),
 * subscription events are ordered and bound to the session, and jobs wait for the subscription.
 * Also session binding (issue 11) and clean vs abnormal disconnect reasons.
 */
const PK = 'a1Subs';
const GRACE_MS = 1500;
const TIMEOUT_MS = 8000;
let cluster: WorkerCluster;
const devices: TestDevice[] = [];

beforeAll(async () => {
  cluster = await startWorkerCluster({ env: { RRPC_TRACK_SUBSCRIPTIONS: 'true', RRPC_SUBSCRIBE_GRACE_MS: String(GRACE_MS) } });
});
afterAll(async () => {
  await Promise.all(devices.map((d) => d.close()));
  await cluster.stop();
});

const sysFilter = (dn: string) => deviceRequestFilter({ productKey: PK, deviceName: dn });
const customTopic = (dn: string) => `/${PK}/${dn}/user/get`;

/** A device on the broker that answers "ack:<payload>", connected (webhook) long enough ago that no grace applies. */
async function device(dn: string, customTopics: string[] = []): Promise<TestDevice> {
  const d = await startDevice(cluster.mosquitto.url, PK, dn, ({ payload }) => `ack:${payload.toString()}`, customTopics);
  devices.push(d);
  await hook(connectedEvent(PK, dn, Date.now() - 10_000));
  return d;
}

async function hook(body: unknown): Promise<string> {
  const res = await cluster.webhook(body);
  expect(res.status).toBe(200);
  return ((await res.json()) as { result: string }).result;
}

async function call(dn: string, extra: Record<string, unknown> = {}) {
  const started = Date.now();
  const res = await cluster.call(PK, dn, { payload: b64('hi'), timeoutMs: TIMEOUT_MS, ...extra });
  return { status: res.status, body: (await res.json()) as Record<string, any>, ms: Date.now() - started };
}

async function view(dn: string): Promise<Record<string, any>> {
  return (await (await cluster.api(`/v1/devices/${PK}/${dn}`)).json()) as Record<string, any>;
}

const publishedFor = (dn: string) => cluster.published.filter((t) => t.includes(`/${PK}/${dn}/`) && t.includes('request'));

describe('a connected device that is not subscribed', () => {
  it('ends NOT_SUBSCRIBED at once, nothing published', async () => {
    await device('nosub-1');
    const r = await call('nosub-1');
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ rrpcCode: 'NOT_SUBSCRIBED', error: { code: 'DEVICE_NOT_SUBSCRIBED' } });
    expect(typeof r.body['error'].message).toBe('string');
    expect(r.ms).toBeLessThan(TIMEOUT_MS);
    await new Promise((res) => setTimeout(res, 200));
    expect(publishedFor('nosub-1')).toEqual([]);
  });

  it('connected moments ago and never subscribing: NOT_SUBSCRIBED once the grace ends, long before the timeout', async () => {
    const d = await startDevice(cluster.mosquitto.url, PK, 'nosub-2', () => 'x');
    devices.push(d);
    await cluster.connectDevice(PK, 'nosub-2');
    const r = await call('nosub-2');
    expect(r.body).toMatchObject({ rrpcCode: 'NOT_SUBSCRIBED' });
    expect(r.ms).toBeLessThan(TIMEOUT_MS);
    expect(publishedFor('nosub-2')).toEqual([]);
    expect(d.requests).toEqual([]);
  });

  it('connected moments ago: the call waits for the subscription event and succeeds', async () => {
    const d = await startDevice(cluster.mosquitto.url, PK, 'late-sub-1', ({ payload }) => `ack:${payload.toString()}`);
    devices.push(d);
    await cluster.connectDevice(PK, 'late-sub-1');
    const pending = call('late-sub-1');
    await new Promise((res) => setTimeout(res, 300));
    await cluster.subscribeDevice(PK, 'late-sub-1');
    const r = await pending;
    expect(r.status).toBe(200);
    expect(Buffer.from(r.body['payload'], 'base64').toString()).toBe('ack:hi');
  });

  it('subscribes → calls succeed; unsubscribes → NOT_SUBSCRIBED again', async () => {
    const d = await device('cycle-1');
    expect((await call('cycle-1')).body['rrpcCode']).toBe('NOT_SUBSCRIBED');
    await cluster.subscribeDevice(PK, 'cycle-1');
    const ok = await call('cycle-1');
    expect(ok.status).toBe(200);
    expect(d.requests).toHaveLength(1);
    expect((await view('cycle-1'))['subscriptions']).toEqual([sysFilter('cycle-1')]);
    await cluster.subscribeDevice(PK, 'cycle-1', undefined, { unsubscribe: true });
    expect((await call('cycle-1')).body['rrpcCode']).toBe('NOT_SUBSCRIBED');
    expect(d.requests).toHaveLength(1);
    expect((await view('cycle-1'))['subscriptions']).toEqual([]);
  });

  it('subscribed to the system filter only: a custom-topic call is NOT_SUBSCRIBED, a system call succeeds', async () => {
    const d = await device('sysonly-1', [customTopic('sysonly-1')]);
    await cluster.subscribeDevice(PK, 'sysonly-1');
    const custom = await call('sysonly-1', { topic: customTopic('sysonly-1') });
    expect(custom.body).toMatchObject({ rrpcCode: 'NOT_SUBSCRIBED' });
    expect(d.requests).toHaveLength(0);
    expect((await call('sysonly-1')).status).toBe(200);
    await cluster.subscribeDevice(PK, 'sysonly-1', [deviceCustomRequestFilter(customTopic('sysonly-1'))]);
    expect((await call('sysonly-1', { topic: customTopic('sysonly-1') })).status).toBe(200);
  });

  it("counts a wildcard filter (/sys/{pk}/{dn}/#) and a $share/ subscription, not another device's filter", async () => {
    await device('wild-1');
    await cluster.subscribeDevice(PK, 'wild-1', [sysFilter('other-1')]);
    expect((await call('wild-1')).body['rrpcCode']).toBe('NOT_SUBSCRIBED');
    await cluster.subscribeDevice(PK, 'wild-1', [`/sys/${PK}/wild-1/#`]);
    expect((await call('wild-1')).status).toBe(200);
    await device('share-1');
    await cluster.subscribeDevice(PK, 'share-1', [`$share/g1/${sysFilter('share-1')}`]);
    expect((await call('share-1')).status).toBe(200);
    expect((await view('share-1'))['subscriptions']).toEqual([sysFilter('share-1')]);
  });

  it('with connectTimeoutMs, waits for the subscription like for a connect', async () => {
    await device('ctm-1');
    const pending = call('ctm-1', { connectTimeoutMs: 10_000 });
    await new Promise((res) => setTimeout(res, 300));
    await cluster.subscribeDevice(PK, 'ctm-1');
    const r = await pending;
    expect(r.status).toBe(200);
    expect(Buffer.from(r.body['payload'], 'base64').toString()).toBe('ack:hi');
  });

  it('answers /compat/aliyun with Success true, RrpcCode UNKNOW and a message naming the cause', async () => {
    await device('compat-1');
    const res = await fetch(`${cluster.apis[0]!.url}/compat/aliyun`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ Action: 'RRpc', ProductKey: PK, DeviceName: 'compat-1', RequestBase64Byte: b64('on'), Timeout: 3000 }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ Success: true, RrpcCode: 'UNKNOW' });
    expect(String(body['ErrorMessage'])).toMatch(/not subscribed/);
    expect(publishedFor('compat-1')).toEqual([]);
  });
});

describe('subscription events: ordering and sessions', () => {
  it('a late subscribe older than the unsubscribe on record changes nothing; repeats are harmless', async () => {
    await device('order-1');
    const t = Date.now();
    const filter = sysFilter('order-1');
    expect(await hook(subscriptionEvent('unsubscribed', PK, 'order-1', filter, t + 200))).toBe('unsubscribed');
    expect(await hook(subscriptionEvent('subscribed', PK, 'order-1', filter, t + 100))).toBe('stale');
    expect((await call('order-1')).body['rrpcCode']).toBe('NOT_SUBSCRIBED');
    expect(await hook(subscriptionEvent('subscribed', PK, 'order-1', filter, t + 300))).toBe('subscribed');
    expect(await hook(subscriptionEvent('subscribed', PK, 'order-1', filter, t + 300))).toBe('repeat');
    expect((await call('order-1')).status).toBe(200);
  });

  it('an event of an older session (another client ID, before the connection on record) changes nothing', async () => {
    await device('old-sess-1');
    const stale = subscriptionEvent('subscribed', PK, 'old-sess-1', sysFilter('old-sess-1'), Date.now() - 20_000, 'old-session|x|');
    expect(await hook(stale)).toBe('stale');
    expect((await view('old-sess-1'))['subscriptions']).toEqual([]);
    expect((await call('old-sess-1')).body['rrpcCode']).toBe('NOT_SUBSCRIBED');
  });

  it('a clean reconnect drops the subscriptions; a clean_start false reconnect keeps them', async () => {
    await device('resume-1'); // connected 10 s ago
    const t = Date.now() - 9000;
    expect(await hook(subscriptionEvent('subscribed', PK, 'resume-1', sysFilter('resume-1'), t))).toBe('subscribed');
    expect((await call('resume-1')).status).toBe(200);
    await hook(disconnectedEvent(PK, 'resume-1', t + 1000, 'keepalive_timeout'));
    expect(await hook({ ...connectedEvent(PK, 'resume-1', t + 2000), clean_start: false })).toBe('online');
    expect((await view('resume-1'))['subscriptions']).toEqual([sysFilter('resume-1')]);
    expect((await call('resume-1')).status).toBe(200);
    await hook(disconnectedEvent(PK, 'resume-1', t + 3000, 'keepalive_timeout'));
    expect(await hook({ ...connectedEvent(PK, 'resume-1', t + 4000), clean_start: true })).toBe('online');
    expect((await view('resume-1'))['subscriptions']).toEqual([]);
    expect((await call('resume-1')).body['rrpcCode']).toBe('NOT_SUBSCRIBED');
  });

  it('a subscription whose webhook beats its connect webhook survives the clean connect', async () => {
    await device('early-1');
    const t = Date.now() - 3000;
    expect(await hook(subscriptionEvent('subscribed', PK, 'early-1', sysFilter('early-1'), t + 5, 'new-session|y|'))).toBe('subscribed');
    expect(await hook(connectedEvent(PK, 'early-1', t, 60, 'new-session|y|'))).toBe('online');
    expect((await view('early-1'))['subscriptions']).toEqual([sysFilter('early-1')]);
    expect((await call('early-1')).status).toBe(200);
  });

  it('keeps at most 32 filters per device, of bounded length', async () => {
    await device('many-1');
    const results: string[] = [];
    for (let i = 0; i < 40; i++)
      results.push(await hook(subscriptionEvent('subscribed', PK, 'many-1', `/ext/rrpc/+/${PK}/many-1/user/t${i}`, Date.now())));
    expect(results.filter((r) => r === 'subscribed')).toHaveLength(32);
    expect(results.filter((r) => r === 'full')).toHaveLength(8);
    expect((await view('many-1'))['subscriptions']).toHaveLength(32);
    const long = await cluster.webhook(subscriptionEvent('subscribed', PK, 'many-1', `/a/${'x'.repeat(600)}`, Date.now()));
    expect(await long.json()).toMatchObject({ result: 'ignored' });
    expect((await view('many-1'))['subscriptions']).toHaveLength(32);
  });
});

describe('session binding and disconnect reasons', () => {
  it('a client that claims the device with another client ID and disconnects leaves the real device ONLINE', async () => {
    await device('bound-1');
    await cluster.subscribeDevice(PK, 'bound-1');
    expect(await hook(disconnectedEvent(PK, 'bound-1', Date.now(), 'normal', undefined, 'impostor|securemode=3|'))).toBe('foreign');
    expect((await view('bound-1'))['status']).toBe('ONLINE');
    expect((await call('bound-1')).status).toBe(200);
  });

  it('a clean disconnect is OFFLINE at once; an abnormal one is HALFCONN for one keep-alive', async () => {
    const t = Date.now() - 1000;
    await hook(connectedEvent(PK, 'reason-1', t, 3600));
    await hook(connectedEvent(PK, 'reason-2', t, 3600));
    expect(await hook(disconnectedEvent(PK, 'reason-1', Date.now(), 'normal'))).toBe('offline');
    expect(await hook(disconnectedEvent(PK, 'reason-2', Date.now(), 'keepalive_timeout'))).toBe('offline');
    expect((await view('reason-1'))['status']).toBe('OFFLINE');
    expect((await view('reason-2'))['status']).toBe('HALFCONN');
    expect((await call('reason-1')).body['rrpcCode']).toBe('OFFLINE');
    expect((await call('reason-2')).body['rrpcCode']).toBe('HALFCONN');
  });
});

describe('jobs', () => {
  it('a job to a connected, unsubscribed device waits and is delivered once the device subscribes', async () => {
    const d = await device('job-1');
    const created = await cluster.json<{ id: string; state: string }>(`/v1/devices/${PK}/job-1/rrpc/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payload: b64('later'), ttlMs: 60_000 }),
    });
    expect(created.status).toBe(202);
    await new Promise((r) => setTimeout(r, 500));
    expect(d.requests).toHaveLength(0);
    const path = `/v1/devices/${PK}/job-1/rrpc/jobs/${created.body.id}`;
    expect((await cluster.json<{ state: string }>(path)).body.state).toBe('QUEUED');
    await cluster.subscribeDevice(PK, 'job-1');
    await waitFor(async () => (await cluster.json<{ state: string }>(path)).body.state === 'SUCCEEDED', 15_000, 'job delivered');
    const done = (await cluster.json<{ attempts: number; result: { payload: string } }>(path)).body;
    expect(done.attempts).toBe(1);
    expect(Buffer.from(done.result.payload, 'base64').toString()).toBe('ack:later');
    expect(d.requests).toHaveLength(1);
  });
});
