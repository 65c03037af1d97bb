import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { startCluster, type TestCluster } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';
import { b64, startWorkerCluster, type WorkerCluster } from './support/worker-cluster.js';

/**
 * The device registry's routes on a real cluster (registry on): register, import, read, list, disable/enable,
 * rotate, delete; product scopes; and calls on every path (sync, raw, compat, jobs, batches) refused for
 * unregistered and disabled devices before anything is published.
 */
const PK = 'a1Reg';
const OTHER = 'a1Other';
const SCOPED_KEY = 'registry-scoped-key-0123456789';
let cluster: WorkerCluster;
let redis: Redis;
let dir: string;
const devices: TestDevice[] = [];

type Json = Record<string, unknown>;

async function json(path: string, init: RequestInit & { key?: string } = {}): Promise<{ status: number; body: Json; text: string }> {
  const headers = new Headers(init.headers);
  if (init.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
  if (init.key) headers.set('authorization', `Bearer ${init.key}`);
  const res = await cluster.api(path, { ...init, headers });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json, text };
}
const post = (path: string, body: unknown, key?: string) =>
  json(path, { method: 'POST', body: JSON.stringify(body), ...(key ? { key } : {}) });
const call = (pk: string, dn: string) => post(`/v1/devices/${pk}/${dn}/rrpc`, { payload: b64('hi'), timeoutMs: 2000 });
const publishedFor = (pk: string, dn: string) => cluster.published.filter((t) => t.startsWith(`/sys/${pk}/${dn}/rrpc/request/`)).length;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rrpc-registry-keys-'));
  const file = join(dir, 'api-keys');
  writeFileSync(file, `${SCOPED_KEY} products=${PK}\n`);
  cluster = await startWorkerCluster({ env: { RRPC_API_KEYS_FILE: file } });
  redis = new Redis(cluster.redis.url);
});
afterAll(async () => {
  await Promise.all(devices.map((d) => d.close()));
  redis.disconnect();
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('POST /v1/devices', () => {
  it('registers a device with a generated name (20 characters) and secret (32), sealed at rest', async () => {
    const res = await post('/v1/devices', { productKey: PK });
    expect(res.status).toBe(201);
    const { deviceName, deviceSecret } = res.body as { deviceName: string; deviceSecret: string };
    expect(deviceName).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(deviceSecret).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(res.body).toMatchObject({ productKey: PK, enabled: true });
    expect(Date.parse(String(res.body['createdAt']))).toBeGreaterThan(Date.now() - 60_000);
    // At rest: AES-GCM sealed, never the secret itself; it opens to the secret under the cluster's key.
    const stored = await redis.hgetall(`rrpc:{${PK}/${deviceName}}:device`);
    expect(stored['s']).toMatch(/^v1\./);
    expect(JSON.stringify(stored)).not.toContain(deviceSecret);
    expect((await cluster.devices.registry.credentials({ productKey: PK, deviceName }))?.secret).toBe(deviceSecret);
    // Two generated names and secrets differ.
    const again = await post('/v1/devices', { productKey: PK });
    expect(again.body['deviceName']).not.toBe(deviceName);
    expect(again.body['deviceSecret']).not.toBe(deviceSecret);
  });

  it('takes a given name and secret (an imported Alibaba device), and refuses it a second time with 409 DEVICE_EXISTS', async () => {
    const secret = 'oLyaKqVxtRvjH284LdhqVgVUx1UPy6zq';
    const res = await post('/v1/devices', { productKey: PK, deviceName: 'given-1', deviceSecret: secret });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ productKey: PK, deviceName: 'given-1', deviceSecret: secret, enabled: true });
    const twice = await post('/v1/devices', { productKey: PK, deviceName: 'given-1', deviceSecret: 'another-secret-0123456789' });
    expect(twice.status).toBe(409);
    expect(twice.body).toMatchObject({ error: { code: 'DEVICE_EXISTS' } });
    expect(twice.text).not.toContain(secret);
    expect((await cluster.devices.registry.credentials({ productKey: PK, deviceName: 'given-1' }))?.secret).toBe(secret);
  });

  it('refuses bad input with 400 and registers nothing', async () => {
    const cases: Array<[unknown, string]> = [
      [{ productKey: PK, deviceName: 'bad-secret-1', deviceSecret: 'x'.repeat(15) }, 'deviceSecret'],
      [{ productKey: PK, deviceName: 'bad-secret-2', deviceSecret: 'x'.repeat(129) }, 'deviceSecret'],
      [{ productKey: PK, deviceName: 'bad-secret-3', deviceSecret: 'has a space 0123456789' }, 'deviceSecret'],
      [{ productKey: PK, deviceName: 'bad-secret-4', deviceSecret: 'ünïcödé-0123456789' }, 'deviceSecret'],
      [{ productKey: PK, deviceName: 'bad-secret-5', deviceSecret: 1234567890123456 }, 'deviceSecret'],
      [{ productKey: 'a/b', deviceName: 'bad-pk-1' }, 'productKey'],
      [{ productKey: PK, deviceName: 'a' }, 'deviceName'],
      [{ productKey: PK, deviceName: 'x/../y-1' }, 'deviceName'],
      [{ productKey: PK, deviceName: 'extra-1', extra: true }, 'body'],
      [{ deviceName: 'no-pk-1' }, 'productKey'],
    ];
    for (const [body, field] of cases) {
      const res = await post('/v1/devices', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toMatchObject({ error: { code: 'INVALID_ARGUMENT', field } });
    }
    for (const name of ['bad-secret-1', 'bad-secret-2', 'bad-secret-3', 'bad-secret-4', 'bad-secret-5', 'extra-1']) {
      expect((await json(`/v1/devices/${PK}/${name}`)).body).toMatchObject({ error: { code: 'DEVICE_NOT_FOUND' } });
    }
    const text = await cluster.api('/v1/devices', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'productKey=a1Reg' });
    expect(text.status).toBe(415);
    const broken = await cluster.api('/v1/devices', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"productKey":',
    });
    expect(broken.status).toBe(400);
  });
});

describe('GET /v1/devices/{pk}/{dn}', () => {
  it('shows a registered device that never connected as UNACTIVE, then its presence once connected; never its secret', async () => {
    const created = await post('/v1/devices', { productKey: PK, deviceName: 'view-1' });
    const secret = String(created.body['deviceSecret']);
    const before = await json(`/v1/devices/${PK}/view-1`);
    expect(before.status).toBe(200);
    expect(before.body).toEqual({
      productKey: PK,
      deviceName: 'view-1',
      status: 'UNACTIVE',
      enabled: true,
      createdAt: created.body['createdAt'],
    });
    expect(before.text).not.toContain(secret);
    await cluster.connectDevice(PK, 'view-1', 30);
    const after = await json(`/v1/devices/${PK}/view-1`);
    expect(after.body).toMatchObject({ status: 'ONLINE', enabled: true, keepaliveSeconds: 30, createdAt: created.body['createdAt'] });
    expect(typeof after.body['connectedAt']).toBe('string');
    expect(after.text).not.toContain(secret);
  });

  it('answers 404 DEVICE_NOT_FOUND for a device that is not registered', async () => {
    const res = await json(`/v1/devices/${PK}/never-registered`);
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: { code: 'DEVICE_NOT_FOUND' } });
  });
});

describe('POST /v1/devices/import', () => {
  it('registers the new devices, leaves existing ones as they are, and reports each bad entry by index', async () => {
    await post('/v1/devices', { productKey: PK, deviceName: 'imp-existing', deviceSecret: 'kept-secret-0123456789' });
    const res = await post('/v1/devices/import', {
      devices: [
        { productKey: PK, deviceName: 'imp-1', deviceSecret: 'secret-imp-1-0123456' },
        { productKey: PK, deviceName: 'imp-existing', deviceSecret: 'replaced-secret-0123456789' },
        { productKey: PK, deviceName: 'imp-2', deviceSecret: 'short' },
        { productKey: 'a b', deviceName: 'imp-3', deviceSecret: 'secret-imp-3-0123456' },
        'not an object',
        { productKey: PK, deviceName: 'imp-4', deviceSecret: 'secret-imp-4-0123456', extra: 1 },
        { productKey: PK, deviceName: 'imp-5', deviceSecret: 'secret-imp-5-0123456' },
        { productKey: PK, deviceName: 'imp-5', deviceSecret: 'secret-imp-5-other-01' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body['created']).toBe(2);
    expect(res.body['existing']).toBe(2); // imp-existing, and the second imp-5
    const failed = res.body['failed'] as Array<{ index: number; error: { code: string; message: string } }>;
    expect(failed.map((f) => f.index)).toEqual([2, 3, 4, 5]);
    expect(failed.every((f) => f.error.code === 'INVALID_ARGUMENT' && f.error.message.startsWith(`devices.${f.index}`))).toBe(true);
    expect(res.text).not.toContain('secret-imp-1');
    const registry = cluster.devices.registry;
    expect((await registry.credentials({ productKey: PK, deviceName: 'imp-existing' }))?.secret).toBe('kept-secret-0123456789');
    expect((await registry.credentials({ productKey: PK, deviceName: 'imp-5' }))?.secret).toBe('secret-imp-5-0123456');
    expect(await registry.get({ productKey: PK, deviceName: 'imp-2' })).toBeUndefined();
  });

  it('imports 10,000 devices in one request (pipelined) and refuses 10,001', async () => {
    const many = Array.from({ length: 10_000 }, (_, i) => ({
      productKey: 'a1Bulk',
      deviceName: `bulk-${String(i).padStart(5, '0')}`,
      deviceSecret: `bulk-secret-${i}-abcdefgh`,
    }));
    const started = performance.now();
    const res = await post('/v1/devices/import', { devices: many });
    const ms = performance.now() - started;
    console.log(`[registry] imported 10,000 devices in ${ms.toFixed(0)} ms`, res.status === 200 ? '' : res.text);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ created: 10_000, existing: 0, failed: [] });
    expect(await redis.zcard('rrpc:{p:a1Bulk}:devices')).toBe(10_000);
    const tooMany = await post('/v1/devices/import', {
      devices: [...many, { productKey: 'a1Bulk', deviceName: 'bulk-x', deviceSecret: 'bulk-secret-x-abcdefgh' }],
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body).toMatchObject({ error: { code: 'INVALID_ARGUMENT', field: 'devices' } });
  }, 60_000);
});

describe('GET /v1/products/{pk}/devices', () => {
  it('pages through a product by cursor, and filters by status within a bounded window', async () => {
    const pk = 'a1List';
    const names = ['lst-a', 'lst-b', 'lst-c', 'lst-d', 'lst-e'];
    const imported = await post('/v1/devices/import', {
      devices: names.map((deviceName) => ({ productKey: pk, deviceName, deviceSecret: `secret-${deviceName}-0123456` })),
    });
    expect(imported.body['created']).toBe(5);
    await cluster.connectDevice(pk, 'lst-b');
    await cluster.connectDevice(pk, 'lst-d');
    await cluster.disconnectDevice(pk, 'lst-d', 'keepalive_timeout'); // an abnormal end: HALFCONN for a keep-alive
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page = await json(`/v1/products/${pk}/devices?limit=2${q}`);
      expect(page.status).toBe(200);
      const list = page.body['devices'] as Json[];
      expect(list.length).toBeLessThanOrEqual(2);
      expect(page.text).not.toContain('secret-');
      seen.push(...list.map((d) => String(d['deviceName'])));
      cursor = page.body['nextCursor'] as string | null;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(seen).toEqual(names);
    expect(pages).toBe(3);
    const online = await json(`/v1/products/${pk}/devices?status=ONLINE`);
    expect((online.body['devices'] as Json[]).map((d) => d['deviceName'])).toEqual(['lst-b']);
    expect(online.body['nextCursor']).toBeNull();
    const unactive = await json(`/v1/products/${pk}/devices?status=UNACTIVE&limit=2`);
    expect((unactive.body['devices'] as Json[]).map((d) => d['deviceName'])).toEqual(['lst-a', 'lst-c']);
    const rest = await json(`/v1/products/${pk}/devices?status=UNACTIVE&limit=2&cursor=${String(unactive.body['nextCursor'])}`);
    expect((rest.body['devices'] as Json[]).map((d) => d['deviceName'])).toEqual(['lst-e']);
    const offline = await json(`/v1/products/${pk}/devices?status=OFFLINE`);
    // OFFLINE takes in HALFCONN (disconnected less than a keep-alive ago: lst-d, just now).
    expect((offline.body['devices'] as Json[]).map((d) => [d['deviceName'], d['status']])).toEqual([['lst-d', 'HALFCONN']]);
    const half = await json(`/v1/products/${pk}/devices?status=HALFCONN`);
    expect((half.body['devices'] as Json[]).map((d) => d['deviceName'])).toEqual(['lst-d']);
  });

  it('pages a product of 10,000 devices a page at a time, the first page and a later one alike', async () => {
    const first = await json('/v1/products/a1Bulk/devices?limit=3');
    expect((first.body['devices'] as Json[]).map((d) => d['deviceName'])).toEqual(['bulk-00000', 'bulk-00001', 'bulk-00002']);
    expect(first.body['nextCursor']).toBe('bulk-00002');
    const later = await json('/v1/products/a1Bulk/devices?limit=2&cursor=bulk-09997');
    expect(later.body).toMatchObject({ nextCursor: null });
    expect((later.body['devices'] as Json[]).map((d) => d['deviceName'])).toEqual(['bulk-09998', 'bulk-09999']);
    // A filter that matches nothing still answers after one window, with a cursor to continue from.
    const none = await json('/v1/products/a1Bulk/devices?status=ONLINE&limit=10');
    expect(none.body['devices']).toEqual([]);
    expect(none.body['nextCursor']).toBe('bulk-00999');
  });

  it('refuses a bad status, limit or cursor with 400', async () => {
    for (const q of ['status=ASLEEP', 'limit=0', 'limit=1001', 'limit=x', 'cursor=a%20b', 'cursor=ab']) {
      const res = await json(`/v1/products/${PK}/devices?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
    }
    expect((await json('/v1/products/a%2Fb/devices')).status).toBe(400);
  });
});

describe('PATCH, secret rotation and DELETE', () => {
  it('disables a device (calls answer 403 DEVICE_DISABLED, nothing published) and enables it again', async () => {
    await post('/v1/devices', { productKey: PK, deviceName: 'toggle-1' });
    devices.push(await startDevice(cluster.mosquitto.url, PK, 'toggle-1', ({ payload }) => payload));
    await cluster.connectDevice(PK, 'toggle-1');
    expect((await call(PK, 'toggle-1')).status).toBe(200);
    const disabled = await json(`/v1/devices/${PK}/toggle-1`, { method: 'PATCH', body: JSON.stringify({ enabled: false }) });
    expect(disabled.status).toBe(200);
    expect(disabled.body).toMatchObject({ productKey: PK, deviceName: 'toggle-1', enabled: false, status: 'ONLINE' });
    const sent = publishedFor(PK, 'toggle-1');
    const refused = await call(PK, 'toggle-1');
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { code: 'DEVICE_DISABLED' } });
    const enabled = await json(`/v1/devices/${PK}/toggle-1`, { method: 'PATCH', body: JSON.stringify({ enabled: true }) });
    expect(enabled.body).toMatchObject({ enabled: true });
    expect((await call(PK, 'toggle-1')).status).toBe(200);
    expect(publishedFor(PK, 'toggle-1')).toBe(sent + 1); // the refused call published nothing
  });

  it('refuses a bad PATCH body with 400, and an unregistered device with 404', async () => {
    for (const body of [{}, { enabled: 'no' }, { enabled: true, extra: 1 }]) {
      const res = await json(`/v1/devices/${PK}/toggle-1`, { method: 'PATCH', body: JSON.stringify(body) });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const missing = await json(`/v1/devices/${PK}/never-registered`, { method: 'PATCH', body: JSON.stringify({ enabled: false }) });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'DEVICE_NOT_FOUND' } });
    expect(await cluster.devices.registry.get({ productKey: PK, deviceName: 'never-registered' })).toBeUndefined();
  });

  it('rotates a secret: the answer shows the new one, the old one is gone', async () => {
    const created = await post('/v1/devices', { productKey: PK, deviceName: 'rotate-1' });
    const rotated = await post(`/v1/devices/${PK}/rotate-1/secret`, undefined);
    expect(rotated.status).toBe(200);
    expect(Object.keys(rotated.body)).toEqual(['deviceSecret']);
    expect(rotated.body['deviceSecret']).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(rotated.body['deviceSecret']).not.toBe(created.body['deviceSecret']);
    expect((await cluster.devices.registry.credentials({ productKey: PK, deviceName: 'rotate-1' }))?.secret).toBe(
      rotated.body['deviceSecret'],
    );
    expect((await post(`/v1/devices/${PK}/never-registered/secret`, undefined)).status).toBe(404);
  });

  it('deletes a device: 204, then 404 DEVICE_NOT_FOUND for reads, calls and a second delete', async () => {
    await post('/v1/devices', { productKey: PK, deviceName: 'delete-1' });
    await cluster.connectDevice(PK, 'delete-1');
    const deleted = await cluster.api(`/v1/devices/${PK}/delete-1`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    expect((await json(`/v1/devices/${PK}/delete-1`)).status).toBe(404);
    const called = await call(PK, 'delete-1');
    expect(called.status).toBe(404);
    expect(called.body).toMatchObject({ error: { code: 'DEVICE_NOT_FOUND' } });
    expect(publishedFor(PK, 'delete-1')).toBe(0);
    expect((await json(`/v1/devices/${PK}/delete-1`, { method: 'DELETE' })).status).toBe(404);
    expect(await redis.zscore(`rrpc:{p:${PK}}:devices`, 'delete-1')).toBeNull();
  });
});

describe('calls to unregistered and disabled devices, on every path', () => {
  beforeAll(async () => {
    // Connected as far as presence goes (a stale or forged presence record), but not registered / disabled.
    await cluster.connectDevice(PK, 'ghost-1');
    await cluster.devices.registry.delete({ productKey: PK, deviceName: 'ghost-1' });
    await post('/v1/devices', { productKey: PK, deviceName: 'off-1' });
    await cluster.connectDevice(PK, 'off-1');
    await json(`/v1/devices/${PK}/off-1`, { method: 'PATCH', body: JSON.stringify({ enabled: false }) });
  });

  it('sync (JSON) and raw (octet-stream) calls: 404 DEVICE_NOT_FOUND / 403 DEVICE_DISABLED', async () => {
    expect(await call(PK, 'ghost-1')).toMatchObject({ status: 404, body: { error: { code: 'DEVICE_NOT_FOUND' } } });
    expect(await call(PK, 'off-1')).toMatchObject({ status: 403, body: { error: { code: 'DEVICE_DISABLED' } } });
    for (const [dn, status, code] of [
      ['ghost-1', 404, 'DEVICE_NOT_FOUND'],
      ['off-1', 403, 'DEVICE_DISABLED'],
    ] as const) {
      const res = await cluster.api(`/v1/devices/${PK}/${dn}/rrpc?timeoutMs=2000`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: Buffer.from('raw'),
      });
      expect(res.status).toBe(status);
      expect(await res.json()).toMatchObject({ error: { code } });
    }
    expect(publishedFor(PK, 'ghost-1') + publishedFor(PK, 'off-1')).toBe(0);
  });

  it('compat (Alibaba RRpc): iot.device.NotExistedDevice / iot.device.DisabledDevice', async () => {
    for (const [dn, status, code] of [
      ['ghost-1', 404, 'iot.device.NotExistedDevice'],
      ['off-1', 403, 'iot.device.DisabledDevice'],
    ] as const) {
      const res = await post('/compat/aliyun', {
        Action: 'RRpc',
        ProductKey: PK,
        DeviceName: dn,
        RequestBase64Byte: b64('x'),
        Timeout: 2000,
      });
      expect(res.status).toBe(status);
      expect(res.body).toMatchObject({ Success: false, Code: code });
      expect(typeof res.body['RequestId']).toBe('string');
    }
    expect(publishedFor(PK, 'ghost-1') + publishedFor(PK, 'off-1')).toBe(0);
  });

  it('jobs: refused at creation with 404 / 403, nothing queued', async () => {
    const ghost = await post(`/v1/devices/${PK}/ghost-1/rrpc/jobs`, { payload: b64('j'), ttlMs: 60_000 });
    expect(ghost).toMatchObject({ status: 404, body: { error: { code: 'DEVICE_NOT_FOUND' } } });
    const off = await post(`/v1/devices/${PK}/off-1/rrpc/jobs`, { payload: b64('j'), ttlMs: 60_000 });
    expect(off).toMatchObject({ status: 403, body: { error: { code: 'DEVICE_DISABLED' } } });
    expect((await json(`/v1/devices/${PK}/off-1/rrpc/jobs`)).body['jobs']).toEqual([]);
  });

  it('a job whose device is disabled after it was queued ends FAILED with DEVICE_DISABLED, unsent', async () => {
    await post('/v1/devices', { productKey: PK, deviceName: 'late-off-1' });
    const job = await post(`/v1/devices/${PK}/late-off-1/rrpc/jobs`, { payload: b64('j'), ttlMs: 60_000 });
    expect(job.status).toBe(202);
    await json(`/v1/devices/${PK}/late-off-1`, { method: 'PATCH', body: JSON.stringify({ enabled: false }) });
    await cluster.connectDevice(PK, 'late-off-1'); // wakes the job
    const url = `/v1/devices/${PK}/late-off-1/rrpc/jobs/${String(job.body['id'])}`;
    await waitFor(async () => (await json(url)).body['state'] === 'FAILED', 15_000, 'job FAILED');
    expect((await json(url)).body).toMatchObject({ state: 'FAILED', attempts: 0, error: expect.stringContaining('disabled') });
    expect(publishedFor(PK, 'late-off-1')).toBe(0);
  });

  it('batches: an unregistered or disabled device gets that error as its result; the others are called', async () => {
    await post('/v1/devices', { productKey: PK, deviceName: 'batch-ok-1' });
    devices.push(await startDevice(cluster.mosquitto.url, PK, 'batch-ok-1', ({ payload }) => payload));
    await cluster.connectDevice(PK, 'batch-ok-1');
    const created = await post('/v1/rrpc/batches', {
      devices: [
        { productKey: PK, deviceName: 'batch-ok-1' },
        { productKey: PK, deviceName: 'ghost-1' },
        { productKey: PK, deviceName: 'off-1' },
      ],
      payload: b64('b'),
      timeoutMs: 3000,
    });
    expect(created.status).toBe(202);
    const id = String(created.body['id']);
    await waitFor(async () => (await json(`/v1/rrpc/batches/${id}`)).body['state'] === 'DONE', 20_000, 'batch DONE');
    const results = (await json(`/v1/rrpc/batches/${id}/results`)).body['results'] as Json[];
    expect(results.map((r) => [r['deviceName'], r['rrpcCode']])).toEqual([
      ['batch-ok-1', 'SUCCESS'],
      ['ghost-1', 'DEVICE_NOT_FOUND'],
      ['off-1', 'DEVICE_DISABLED'],
    ]);
    expect(publishedFor(PK, 'ghost-1') + publishedFor(PK, 'off-1')).toBe(0);
  }, 30_000);
});

describe('product scopes', () => {
  it('a key scoped to a product manages only that product (403 PERMISSION_DENIED for others)', async () => {
    await post('/v1/devices', { productKey: OTHER, deviceName: 'other-1' });
    const mine = await post('/v1/devices', { productKey: PK, deviceName: 'scoped-1' }, SCOPED_KEY);
    expect(mine.status).toBe(201);
    const theirs = await post('/v1/devices', { productKey: OTHER, deviceName: 'scoped-2' }, SCOPED_KEY);
    expect(theirs).toMatchObject({ status: 403, body: { error: { code: 'PERMISSION_DENIED' } } });
    const requests: Array<[string, RequestInit]> = [
      [`/v1/devices/${OTHER}/other-1`, {}],
      [`/v1/products/${OTHER}/devices`, {}],
      [`/v1/devices/${OTHER}/other-1`, { method: 'PATCH', body: JSON.stringify({ enabled: false }) }],
      [`/v1/devices/${OTHER}/other-1/secret`, { method: 'POST' }],
      [`/v1/devices/${OTHER}/other-1`, { method: 'DELETE' }],
    ];
    for (const [path, init] of requests) {
      const res = await json(path, { ...init, key: SCOPED_KEY });
      expect(res.status, `${init.method ?? 'GET'} ${path}`).toBe(403);
    }
    expect(await cluster.devices.registry.get({ productKey: OTHER, deviceName: 'other-1' })).toMatchObject({ enabled: true });
    expect((await json(`/v1/products/${PK}/devices?limit=1`, { key: SCOPED_KEY })).status).toBe(200);
  });

  it('an import with a scoped key registers its products and fails the others entry by entry', async () => {
    const res = await post(
      '/v1/devices/import',
      {
        devices: [
          { productKey: PK, deviceName: 'scoped-imp-1', deviceSecret: 'scoped-secret-0123456' },
          { productKey: OTHER, deviceName: 'scoped-imp-2', deviceSecret: 'scoped-secret-0123456' },
        ],
      },
      SCOPED_KEY,
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ created: 1, existing: 0, failed: [{ index: 1, error: { code: 'PERMISSION_DENIED' } }] });
    expect(await cluster.devices.registry.get({ productKey: OTHER, deviceName: 'scoped-imp-2' })).toBeUndefined();
  });
});

describe('RRPC_DEVICE_REGISTRY=off', () => {
  let off: TestCluster;
  beforeAll(async () => {
    off = await startCluster({ env: { RRPC_DEVICE_REGISTRY: 'off' } });
  });
  afterAll(async () => {
    await off?.stop();
  });

  it('calls and device reads consult presence only, as before the registry', async () => {
    // Straight to the ingest (no registration): the broker authenticates devices by other means.
    const device = await startDevice(off.mosquitto.url, 'a1Off', 'free-1', ({ payload }) => payload);
    try {
      const res = await fetch(`${off.ingests[0]!.url}/hooks/emqx`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${off.env['RRPC_WEBHOOK_TOKEN']}` },
        body: JSON.stringify({
          event: 'client.connected',
          clientid: 'free-1|securemode=3|',
          username: 'free-1&a1Off',
          connected_at: Date.now(),
          keepalive: 60,
        }),
      });
      expect(res.status).toBe(200);
      expect(await off.devices.registry.get({ productKey: 'a1Off', deviceName: 'free-1' })).toBeUndefined();
      const called = await off.call('a1Off', 'free-1', { payload: b64('hi') });
      expect(called.status).toBe(200);
      const view = await off.api('/v1/devices/a1Off/free-1');
      const body = (await view.json()) as Json;
      expect(body).toMatchObject({ status: 'ONLINE' });
      expect(body['enabled']).toBeUndefined();
      const never = await off.api('/v1/devices/a1Off/never-1');
      expect(never.status).toBe(404);
      expect(await never.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
      expect(
        (
          await off.api(`/v1/devices/a1Off/never-1/rrpc`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ payload: b64('x') }),
          })
        ).status,
      ).toBe(404);
    } finally {
      await device.close();
    }
  });
});
