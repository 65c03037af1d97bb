import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectedEvent, startCluster, type TestCluster } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';

const PK = 'a1Calls';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

let cluster: TestCluster;
const devices: TestDevice[] = [];

beforeAll(async () => {
  cluster = await startCluster({ apis: 1, ingests: 1 });
});
afterAll(async () => {
  await Promise.all(devices.map((d) => d.close()));
  await cluster.stop();
});

async function online(deviceName: string, answer: Parameters<typeof startDevice>[3], customTopics: string[] = []) {
  const device = await startDevice(cluster.mosquitto.url, PK, deviceName, answer, customTopics);
  devices.push(device);
  await cluster.connectDevice(PK, deviceName);
  return device;
}

async function metric(url: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('synchronous calls on system topics', () => {
  it('returns the device answer with a 64-bit message ID', async () => {
    const device = await online('echo-1', ({ payload, messageId }) => Buffer.concat([Buffer.from(`${messageId}:`), payload]));
    const res = await cluster.call(PK, 'echo-1', { payload: b64('hello'), timeoutMs: 5000 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { rrpcCode: string; messageId: string; payload: string; durationMs: number };
    expect(body.rrpcCode).toBe('SUCCESS');
    expect(body.messageId).toMatch(/^[1-9][0-9]{15,18}$/);
    expect(BigInt(body.messageId) > 2n ** 53n).toBe(true);
    expect(Buffer.from(body.payload, 'base64').toString()).toBe(`${body.messageId}:hello`);
    expect(body.durationMs).toBeGreaterThan(0);
    expect(device.requests.map((r) => r.topic)).toEqual([`/sys/${PK}/echo-1/rrpc/request/${body.messageId}`]);

    const stored = await cluster.api(`/v1/rrpc/${body.messageId}`);
    expect(stored.status).toBe(200);
    const record = (await stored.json()) as Record<string, string>;
    expect(record).toMatchObject({
      messageId: body.messageId,
      rrpcCode: 'SUCCESS',
      productKey: PK,
      deviceName: 'echo-1',
      payload: body.payload,
    });
  });

  it('takes and returns raw bytes with application/octet-stream', async () => {
    await online('raw-1', ({ payload }) => Buffer.from([...payload].reverse()));
    const bytes = Buffer.from([0, 1, 2, 255, 254]);
    const res = await cluster.api(`/v1/devices/${PK}/raw-1/rrpc?timeoutMs=3000`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-rrpc-code')).toBe('SUCCESS');
    expect(res.headers.get('x-rrpc-message-id')).toMatch(/^[0-9]+$/);
    expect(res.headers.get('content-type')).toContain('application/octet-stream');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.from([254, 255, 2, 1, 0]));
  });

  it('fails fast with OFFLINE for a registered device never seen, publishing nothing', async () => {
    await cluster.devices.register([{ productKey: PK, deviceName: 'never-seen' }]);
    const before = cluster.published.length;
    const res = await cluster.call(PK, 'never-seen', { payload: b64('x') });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ rrpcCode: 'OFFLINE', error: { code: 'DEVICE_OFFLINE' } });
    await sleep(100);
    expect(cluster.published.slice(before)).toEqual([]);
  });

  it('answers HALFCONN within one keep-alive period of a disconnect, then OFFLINE', async () => {
    await cluster.webhook(connectedEvent(PK, 'half-1', Date.now() - 5000, 1));
    await cluster.disconnectDevice(PK, 'half-1', 'keepalive_timeout');
    const half = await cluster.call(PK, 'half-1', { payload: b64('x') });
    expect(half.status).toBe(404);
    expect(await half.json()).toMatchObject({ rrpcCode: 'HALFCONN', error: { code: 'DEVICE_OFFLINE' } });
    await sleep(1100);
    const off = await cluster.call(PK, 'half-1', { payload: b64('x') });
    expect(await off.json()).toMatchObject({ rrpcCode: 'OFFLINE' });
  });

  it('times out a silent device, keeps the outcome, and counts a late answer as late', async () => {
    const device = await online('silent-1', () => undefined);
    const res = await cluster.call(PK, 'silent-1', { payload: b64('x'), timeoutMs: 1000 });
    expect(res.status).toBe(504);
    const body = (await res.json()) as { rrpcCode: string; messageId: string; error: { code: string } };
    expect(body).toMatchObject({ rrpcCode: 'TIMEOUT', error: { code: 'DEVICE_TIMEOUT' } });
    expect(device.requests).toHaveLength(1);

    const lateBefore = await metric(cluster.ingests[0]!.url, 'rrpc_responses_ingested_total', 'result="late"');
    await device.publish(`/sys/${PK}/silent-1/rrpc/response/${body.messageId}`, 'too late');
    await expect.poll(() => metric(cluster.ingests[0]!.url, 'rrpc_responses_ingested_total', 'result="late"')).toBe(lateBefore + 1);
    const stored = (await (await cluster.api(`/v1/rrpc/${body.messageId}`)).json()) as Record<string, unknown>;
    expect(stored['rrpcCode']).toBe('TIMEOUT');
    expect(stored['payload']).toBeUndefined();
  });

  it('rejects an answer on another device’s topic and keeps the first genuine answer', async () => {
    const url = cluster.ingests[0]!.url;
    const rejectedBefore = await metric(url, 'rrpc_responses_ingested_total', 'result="rejected"');
    const duplicateBefore = await metric(url, 'rrpc_responses_ingested_total', 'result="duplicate"');
    const intruder = await online('intruder', () => undefined);
    const target = await online('target-1', () => undefined);
    target.client.removeAllListeners('message');
    target.client.on('message', (topic) => {
      const messageId = topic.split('/').pop()!;
      void (async () => {
        // The intruder answers the target's call on its own response topic, first.
        await intruder.publish(`/sys/${PK}/intruder/rrpc/response/${messageId}`, 'spoofed');
        await sleep(50);
        await target.publish(`/sys/${PK}/target-1/rrpc/response/${messageId}`, 'first');
        await target.publish(`/sys/${PK}/target-1/rrpc/response/${messageId}`, 'second', 1);
      })();
    });
    const res = await cluster.call(PK, 'target-1', { payload: b64('open'), timeoutMs: 5000 });
    const body = (await res.json()) as { payload: string; messageId: string };
    expect(res.status).toBe(200);
    expect(Buffer.from(body.payload, 'base64').toString()).toBe('first');
    await expect.poll(() => metric(url, 'rrpc_responses_ingested_total', 'result="rejected"')).toBe(rejectedBefore + 1);
    await expect.poll(() => metric(url, 'rrpc_responses_ingested_total', 'result="duplicate"')).toBe(duplicateBefore + 1);
    const stored = (await (await cluster.api(`/v1/rrpc/${body.messageId}`)).json()) as { payload: string };
    expect(Buffer.from(stored.payload, 'base64').toString()).toBe('first');
  });

  it('collects an answer whose notification was lost, at timeout', async () => {
    // The device answers while this pod's reply subscription is cut: Redis kills the subscriber
    // connection, the claim runs and its notification reaches nobody; the pod re-subscribes, re-reads
    // its pending outcomes and answers long before the 8 s timeout.
    const { Redis } = await import('ioredis');
    const admin = new Redis(cluster.redis.url);
    const device = await online('lossy-1', () => undefined);
    device.client.removeAllListeners('message');
    device.client.on('message', (topic) => {
      const messageId = topic.split('/').pop()!;
      void (async () => {
        await admin.client('KILL', 'TYPE', 'pubsub');
        await device.publish(`/sys/${PK}/lossy-1/rrpc/response/${messageId}`, 'recovered');
      })();
    });
    const url = cluster.apis[0]!.url;
    const [viaResubscribe, viaTimeout] = await Promise.all([
      metric(url, 'rrpc_answers_recovered_total', 'via="resubscribe"'),
      metric(url, 'rrpc_answers_recovered_total', 'via="timeout"'),
    ]);
    const res = await cluster.call(PK, 'lossy-1', { payload: b64('x'), timeoutMs: 8000 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { payload: string; durationMs: number };
    expect(Buffer.from(body.payload, 'base64').toString()).toBe('recovered');
    // Recovered by the re-read after the re-subscribe, not at the timeout.
    expect(await metric(url, 'rrpc_answers_recovered_total', 'via="resubscribe"')).toBe(viaResubscribe + 1);
    expect(await metric(url, 'rrpc_answers_recovered_total', 'via="timeout"')).toBe(viaTimeout);
    expect(await metric(url, 'rrpc_reply_resubscribes_total', '')).toBeGreaterThanOrEqual(1);
    await admin.quit();
  });

  it('at its timeout, answers with an outcome stored without a notification', async () => {
    // The answer is in Redis but no notification ever comes (as when a PUBLISH is lost): the pod's
    // last look at the call record, at the timeout, still returns the device's answer.
    const { Redis } = await import('ioredis');
    const { Keys } = await import('@rrpc/store');
    const admin = new Redis(cluster.redis.url);
    const keys = new Keys('rrpc');
    const device = await online('quiet-1', () => undefined);
    device.client.removeAllListeners('message');
    device.client.on('message', (topic) => {
      void admin.hset(keys.call(topic.split('/').pop()!), 's', 'S', 'r', 'stored only');
    });
    const url = cluster.apis[0]!.url;
    const viaTimeout = await metric(url, 'rrpc_answers_recovered_total', 'via="timeout"');
    const res = await cluster.call(PK, 'quiet-1', { payload: b64('x'), timeoutMs: 1000 });
    expect(res.status).toBe(200);
    expect(Buffer.from(((await res.json()) as { payload: string }).payload, 'base64').toString()).toBe('stored only');
    expect(await metric(url, 'rrpc_answers_recovered_total', 'via="timeout"')).toBe(viaTimeout + 1);
    await admin.quit();
  });
});

describe('custom topics', () => {
  const topic = `/${PK}/lamp-1/user/set`;

  it('sends on /ext/rrpc/<id><topic> and returns the device answer, even an identical echo', async () => {
    const ownBefore = await metric(cluster.ingests[0]!.url, 'rrpc_responses_ingested_total', 'result="own"');
    const device = await online(
      'lamp-1',
      ({ payload }) => payload, // echoes the request's bytes on the identical topic
      [topic],
    );
    const res = await cluster.call(PK, 'lamp-1', { payload: b64('{"on":true}'), timeoutMs: 3000, topic });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { messageId: string; payload: string };
    expect(Buffer.from(body.payload, 'base64').toString()).toBe('{"on":true}');
    expect(device.requests.map((r) => r.topic)).toEqual([`/ext/rrpc/${body.messageId}${topic}`]);
    await expect.poll(() => metric(cluster.ingests[0]!.url, 'rrpc_responses_ingested_total', 'result="own"')).toBe(ownBefore + 1);
  });

  it('never takes its own request for the answer: a silent device times out', async () => {
    const silentTopic = `/${PK}/lamp-2/user/set`;
    await online('lamp-2', () => undefined, [silentTopic]);
    const res = await cluster.call(PK, 'lamp-2', { payload: b64('{"on":true}'), timeoutMs: 1000, topic: silentTopic });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ rrpcCode: 'TIMEOUT' });
  });
});

describe('presence API', () => {
  it('shows a device’s presence and 404 for a device never seen', async () => {
    await cluster.connectDevice(PK, 'shown-1', 30);
    const res = await cluster.api(`/v1/devices/${PK}/shown-1`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ productKey: PK, deviceName: 'shown-1', status: 'ONLINE', keepaliveSeconds: 30 });
    expect(String(body['clientId'])).toContain('shown-1|');
    expect(Date.parse(String(body['connectedAt']))).toBeGreaterThan(Date.now() - 60_000);
    await cluster.disconnectDevice(PK, 'shown-1');
    const after = (await (await cluster.api(`/v1/devices/${PK}/shown-1`)).json()) as Record<string, unknown>;
    expect(after['status']).toBe('OFFLINE'); // a clean disconnect (normal): OFFLINE at once
    expect(after['lastDisconnectReason']).toBe('normal');
    expect((await cluster.api(`/v1/devices/${PK}/nobody-1`)).status).toBe(404);
  });
});

describe('ops endpoints', () => {
  it('serves livez, readyz and metrics without device labels', async () => {
    for (const { url } of [...cluster.apis, ...cluster.ingests]) {
      expect((await fetch(`${url}/livez`)).status).toBe(200);
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready' });
    }
    const text = await (await fetch(`${cluster.apis[0]!.url}/metrics`)).text();
    expect(text).toMatch(/rrpc_calls_total\{[^}]*outcome="success"[^}]*\} [1-9]/);
    expect(text).toContain('rrpc_call_duration_seconds_bucket');
    expect(text).toContain('rrpc_calls_in_flight');
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).not.toContain('echo-1');
    const ingest = await (await fetch(`${cluster.ingests[0]!.url}/metrics`)).text();
    expect(ingest).toMatch(/rrpc_responses_ingested_total\{[^}]*result="matched"[^}]*\} [1-9]/);
    expect(ingest).toMatch(/rrpc_presence_events_total\{[^}]*event="connected"/);
  });
});
