import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { b64, startDeviceGroup, startWorkerCluster, type DeviceGroup, type WorkerCluster } from './support/worker-cluster.js';

/**
 * Tenants stay apart (issue 12), tried as a hostile tenant would, on real Redis, Mosquitto, api, ingest and
 * worker: two keys each trying to read the other's outcomes, jobs, batches and idempotent replays (404, and the
 * admin key reads everything); guessing message IDs (rate-limited); a rate-limited key creating jobs and batches
 * (429, and a batch that slows down instead of failing); the per-key caps; one key unable to take a pod's
 * whole in-flight capacity; and connectTimeoutMs as one call, one token, one duration.
 */
const KEY_A = 'tenant-a-key-0123456789abcdef';
const KEY_B = 'tenant-b-key-0123456789abcdef';
const ADMIN = 'operator-admin-key-0123456789ab';
const RATE_ONE = 'rate-one-key-0123456789abcdef';
const RATE_FIVE = 'rate-five-key-0123456789abcdef';
const CAPPED = 'capped-key-0123456789abcdef01';
const GUESSER = 'guesser-key-0123456789abcdef0';
const BYTES_CAPPED = 'bytes-capped-key-0123456789ab';
const PK = 'a1Tenants';
const PER_KEY_IN_FLIGHT = 3;

let dir: string;
let cluster: WorkerCluster;
let group: DeviceGroup;
/** Devices that hear requests and never answer (their calls stay in flight until their timeout). */
const silent = new Set<string>(['quiet-1']);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rrpc-tenancy-'));
  const file = join(dir, 'api-keys');
  writeFileSync(
    file,
    [
      KEY_A,
      KEY_B,
      `${ADMIN} admin`,
      `${RATE_ONE} rate=1`,
      `${RATE_FIVE} rate=5`,
      `${CAPPED} max-jobs=2 max-batch-devices=5 max-bytes=4096`,
      `${GUESSER} rate=3`,
      `${BYTES_CAPPED} max-bytes=4096`,
    ].join('\n') + '\n',
  );
  cluster = await startWorkerCluster({
    env: { RRPC_API_KEYS: '', RRPC_API_KEYS_FILE: file, RRPC_MAX_IN_FLIGHT_PER_KEY: String(PER_KEY_IN_FLIGHT) },
  });
  group = await startDeviceGroup(cluster.mosquitto.url, PK, 20, (dn) => !silent.has(dn));
  for (const dn of ['dev-1', 'dev-2', 'quiet-1', ...Array.from({ length: 10 }, (_, i) => `slow-${i}`)]) await cluster.connectDevice(PK, dn);
  // Devices that never connect in these tests are registered all the same (calls and jobs to them are about keys, not the registry).
  await cluster.devices.register(
    [
      'late-1',
      'offline-cap',
      'offline-cap-2',
      'offline-idem',
      'offline-jobs',
      'offline-rate',
      'offline-wait',
      ...Array.from({ length: 6 }, (_, i) => `never-${i}`),
    ].map((deviceName) => ({ productKey: PK, deviceName })),
  );
});
afterAll(async () => {
  await group?.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Json = Record<string, unknown>;
function as(key: string, path: string, init: RequestInit = {}) {
  return cluster.json<Json>(path, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${key}` } });
}
const post = (key: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  as(key, path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const callPath = (dn: string) => `/v1/devices/${PK}/${dn}/rrpc`;
const jobsPath = (dn: string) => `/v1/devices/${PK}/${dn}/rrpc/jobs`;
const heard = (dn: string) => group.requests.get(dn) ?? [];
const errorOf = (res: { body: Json } | undefined) => (res?.body['error'] ?? {}) as { code?: string; message: string };

async function metric(name: string, outcome: string): Promise<number> {
  const text = await (await fetch(`${cluster.apis[0]!.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`outcome="${outcome}"`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('ownership: another key gets 404, the admin key reads everything', () => {
  it("each key is refused the other's call outcomes", async () => {
    const a = await post(KEY_A, callPath('dev-1'), { payload: b64('from A') });
    const b = await post(KEY_B, callPath('dev-1'), { payload: b64('from B') });
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    const idA = String(a.body['messageId']);
    const idB = String(b.body['messageId']);
    expect((await as(KEY_A, `/v1/rrpc/${idA}`)).body['payload']).toBe(b64('from A'));
    expect((await as(KEY_B, `/v1/rrpc/${idB}`)).body['payload']).toBe(b64('from B'));
    const foreignA = await as(KEY_B, `/v1/rrpc/${idA}`);
    const foreignB = await as(KEY_A, `/v1/rrpc/${idB}`);
    for (const foreign of [foreignA, foreignB]) {
      expect(foreign.status).toBe(404);
      expect(errorOf(foreign).code).toBe('NOT_FOUND');
      expect(JSON.stringify(foreign.body)).not.toContain('from');
    }
    // A foreign outcome answers exactly as an ID that was never used: nothing tells them apart.
    const never = await as(KEY_B, `/v1/rrpc/${(BigInt(idA) + 1n).toString()}`);
    expect(never.status).toBe(404);
    expect(errorOf(foreignA).message).toBe(errorOf(never).message.replace((BigInt(idA) + 1n).toString(), idA));
    expect((await as(ADMIN, `/v1/rrpc/${idA}`)).body['payload']).toBe(b64('from A'));
    expect((await as(ADMIN, `/v1/rrpc/${idB}`)).body['payload']).toBe(b64('from B'));
  });

  it("each key is refused the other's jobs: read, list and cancel", async () => {
    silent.add('offline-jobs'); // never connected: the jobs wait
    const a = await post(KEY_A, jobsPath('offline-jobs'), { payload: b64('job A'), callbackUrl: 'https://a.example/hook' });
    const b = await post(KEY_B, jobsPath('offline-jobs'), { payload: b64('job B') });
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    const idA = String(a.body['id']);
    const idB = String(b.body['id']);
    expect((await as(KEY_B, `${jobsPath('offline-jobs')}/${idA}`)).status).toBe(404);
    expect((await as(KEY_A, `${jobsPath('offline-jobs')}/${idB}`)).status).toBe(404);
    const listB = await as(KEY_B, jobsPath('offline-jobs'));
    expect((listB.body['jobs'] as Json[]).map((j) => j['id'])).toEqual([idB]);
    expect(JSON.stringify(listB.body)).not.toContain('a.example');
    const cancel = await as(KEY_B, `${jobsPath('offline-jobs')}/${idA}`, { method: 'DELETE' });
    expect(cancel.status).toBe(404);
    expect((await as(KEY_A, `${jobsPath('offline-jobs')}/${idA}`)).body['state']).toBe('QUEUED');
    const listAdmin = await as(ADMIN, jobsPath('offline-jobs'));
    expect((listAdmin.body['jobs'] as Json[]).map((j) => j['id']).sort()).toEqual([idA, idB].sort());
    expect((await as(ADMIN, `${jobsPath('offline-jobs')}/${idA}`)).status).toBe(200);
  });

  it("each key is refused the other's batches and their results", async () => {
    const a = await post(KEY_A, '/v1/rrpc/batches', { devices: [{ productKey: PK, deviceName: 'dev-1' }], payload: b64('batch A') });
    const b = await post(KEY_B, '/v1/rrpc/batches', { devices: [{ productKey: PK, deviceName: 'dev-2' }], payload: b64('batch B') });
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    const idA = String(a.body['id']);
    const idB = String(b.body['id']);
    await waitFor(async () => (await as(KEY_A, `/v1/rrpc/batches/${idA}`)).body['state'] === 'DONE', 15_000, 'batch A done');
    for (const [key, id] of [
      [KEY_B, idA],
      [KEY_A, idB],
    ] as const) {
      expect((await as(key, `/v1/rrpc/batches/${id}`)).status).toBe(404);
      const results = await as(key, `/v1/rrpc/batches/${id}/results`);
      expect(results.status).toBe(404);
      expect(JSON.stringify(results.body)).not.toContain(b64('batch'));
      expect(results.body['results']).toBeUndefined();
    }
    const own = await as(KEY_A, `/v1/rrpc/batches/${idA}/results`);
    expect((own.body['results'] as Json[])[0]?.['payload']).toBe(b64('batch A'));
    expect((await as(ADMIN, `/v1/rrpc/batches/${idB}`)).status).toBe(200);
    // The batch's device call belongs to the batch's key too.
    const messageId = String((own.body['results'] as Json[])[0]?.['messageId']);
    expect((await as(KEY_A, `/v1/rrpc/${messageId}`)).status).toBe(200);
    expect((await as(KEY_B, `/v1/rrpc/${messageId}`)).status).toBe(404);
  });

  it("an Idempotency-Key never replays another key's answer", async () => {
    const key = 'shared-idempotency-key-1';
    const a = await post(KEY_A, callPath('dev-2'), { payload: b64('idem') }, { 'idempotency-key': key });
    expect(a.status).toBe(200);
    const before = heard('dev-2').length;
    const b = await post(KEY_B, callPath('dev-2'), { payload: b64('idem') }, { 'idempotency-key': key });
    expect(b.status).toBe(200);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    expect(b.body['messageId']).not.toBe(a.body['messageId']);
    expect(heard('dev-2').length).toBe(before + 1); // B's request ran on its own
    const again = await post(KEY_A, callPath('dev-2'), { payload: b64('idem') }, { 'idempotency-key': key });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body['messageId']).toBe(a.body['messageId']);

    const jobKey = 'shared-idempotency-key-2';
    const jobA = await post(KEY_A, jobsPath('offline-idem'), { payload: b64('j') }, { 'idempotency-key': jobKey });
    const jobB = await post(KEY_B, jobsPath('offline-idem'), { payload: b64('j') }, { 'idempotency-key': jobKey });
    expect(jobA.status).toBe(202);
    expect(jobB.status).toBe(202);
    expect(jobB.headers.get('idempotent-replayed')).toBeNull();
    expect(jobB.body['id']).not.toBe(jobA.body['id']);
  });
});

describe('message IDs an outsider cannot use', () => {
  it('rate-limits reads of unknown IDs per key, like calls', async () => {
    const base = BigInt(String((await post(KEY_A, callPath('dev-1'), { payload: b64('x') })).body['messageId']));
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 1; i <= 12; i++) {
      const res = await as(GUESSER, `/v1/rrpc/${(base + BigInt(i)).toString()}`);
      statuses.push(res.status);
      if (res.status === 429) retryAfter ??= res.headers.get('retry-after');
    }
    expect(statuses.every((s) => s === 404 || s === 429)).toBe(true);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // Another key's budget is its own.
    expect((await as(KEY_B, `/v1/rrpc/${(base + 100n).toString()}`)).status).toBe(404);
  });
});

describe('quotas on every path', () => {
  it('a rate-1 key creating jobs and batches gets 429 with Retry-After', async () => {
    const codes: number[] = [];
    let limited: { body: Json; headers: Headers } | undefined;
    for (let i = 0; i < 5; i++) {
      const res = await post(RATE_ONE, jobsPath('offline-rate'), { payload: b64(`j${i}`) });
      codes.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    expect(codes[0]).toBe(202);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThan(0);
    expect(errorOf(limited).code).toBe('RATE_LIMITED');
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const batches: number[] = [];
    for (let i = 0; i < 5; i++)
      batches.push(
        (await post(RATE_ONE, '/v1/rrpc/batches', { devices: [{ productKey: PK, deviceName: 'offline-rate' }], payload: b64('b') })).status,
      );
    expect(batches.filter((c) => c === 429).length).toBeGreaterThan(0);
    const listed = await as(RATE_ONE, jobsPath('offline-rate'));
    expect((listed.body['jobs'] as Json[]).length).toBe(codes.filter((c) => c === 202).length);
  });

  it("a batch spends one token of its key's rate per device call: it slows down instead of failing", async () => {
    const devices = Array.from({ length: 10 }, (_, i) => ({ productKey: PK, deviceName: `slow-${i}` }));
    const created = await post(RATE_FIVE, '/v1/rrpc/batches', { devices, payload: b64('paced'), concurrency: 10 });
    expect(created.status).toBe(202);
    const id = String(created.body['id']);
    await waitFor(async () => (await as(RATE_FIVE, `/v1/rrpc/batches/${id}`)).body['state'] === 'DONE', 30_000, 'paced batch done');
    const batch = await as(RATE_FIVE, `/v1/rrpc/batches/${id}`);
    expect(batch.body['counts']).toEqual({ SUCCESS: 10 });
    // 5 a second with a burst of 5: the creation took one token, so at most 4 calls went at once and the
    // other 6 came one per 200 ms: at least a second between the first and the last device's request.
    const arrivals = devices.map((d) => heard(d.deviceName).length);
    expect(arrivals).toEqual(Array(10).fill(1));
    const started = Date.parse(String(batch.body['createdAt']));
    const finished = Date.parse(String(batch.body['finishedAt']));
    expect(finished - started).toBeGreaterThanOrEqual(1000);
    // The key's own synchronous calls share the same limit meanwhile: the batch left none to spare.
  });

  it('caps unfinished jobs, batch devices and bytes per key (its own caps from the keys file): 429 with a clear message', async () => {
    const first = await post(CAPPED, jobsPath('offline-cap'), { payload: b64('1') });
    const second = await post(CAPPED, jobsPath('offline-cap'), { payload: b64('2') });
    const third = await post(CAPPED, jobsPath('offline-cap'), { payload: b64('3') });
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(third.status).toBe(429);
    expect(errorOf(third).code).toBe('RATE_LIMITED');
    expect(errorOf(third).message).toContain('unfinished jobs');
    expect(errorOf(third).message).toContain('cap of 2');
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Cancelling a job gives its share back.
    expect((await as(CAPPED, `${jobsPath('offline-cap')}/${String(first.body['id'])}`, { method: 'DELETE' })).status).toBe(200);
    expect((await post(CAPPED, jobsPath('offline-cap'), { payload: b64('4') })).status).toBe(202);

    const sixDevices = Array.from({ length: 6 }, (_, i) => ({ productKey: PK, deviceName: `never-${i}` }));
    const big = await post(CAPPED, '/v1/rrpc/batches', { devices: sixDevices, payload: b64('b'), persistent: true, ttlMs: 60_000 });
    expect(big.status).toBe(429);
    expect(errorOf(big).message).toContain('devices in running batches');
    const fits = await post(CAPPED, '/v1/rrpc/batches', {
      devices: sixDevices.slice(0, 5),
      payload: b64('b'),
      persistent: true,
      ttlMs: 60_000,
    });
    expect(fits.status).toBe(202);
    expect(
      (await post(CAPPED, '/v1/rrpc/batches', { devices: sixDevices.slice(5), payload: b64('b'), persistent: true, ttlMs: 60_000 })).status,
    ).toBe(429);

    // Bytes: at most 4096 bytes of (base64) payload held at once by BYTES_CAPPED's jobs and batches.
    expect((await post(BYTES_CAPPED, jobsPath('offline-cap-2'), { payload: Buffer.alloc(2700).toString('base64') })).status).toBe(202); // 3600 bytes
    const bulky = await post(BYTES_CAPPED, '/v1/rrpc/batches', {
      devices: sixDevices.slice(0, 1),
      payload: Buffer.alloc(600).toString('base64'),
    }); // 800 more
    expect(bulky.status).toBe(429);
    expect(errorOf(bulky).message).toContain('bytes of request payload');
    expect(errorOf(bulky).message).toContain('cap of 4096');
    expect((await post(BYTES_CAPPED, jobsPath('offline-cap-2'), { payload: Buffer.alloc(300).toString('base64') })).status).toBe(202); // 400: fits
    // Another key is not held back by this one's caps.
    expect((await post(KEY_B, jobsPath('offline-cap'), { payload: b64('other') })).status).toBe(202);
  });
});

describe('fair share of a pod', () => {
  it(`one key holds at most RRPC_MAX_IN_FLIGHT_PER_KEY (${PER_KEY_IN_FLIGHT}) calls in flight; another key's calls still go through`, async () => {
    // Calls to a silent device, and calls waiting for an offline device in connectTimeoutMs, both in flight.
    const held = [
      post(KEY_A, callPath('quiet-1'), { payload: b64('hold'), timeoutMs: 3000 }),
      post(KEY_A, callPath('quiet-1'), { payload: b64('hold'), timeoutMs: 3000 }),
      post(KEY_A, callPath('offline-wait'), { payload: b64('hold'), connectTimeoutMs: 3000 }),
    ];
    await waitFor(() => heard('quiet-1').length >= 2, 5000, 'held calls published');
    const refused = await post(KEY_A, callPath('dev-1'), { payload: b64('one too many') });
    expect(refused.status).toBe(503);
    expect(errorOf(refused).code).toBe('UNAVAILABLE');
    expect(refused.headers.get('retry-after')).toBe('1');
    const other = await post(KEY_B, callPath('dev-1'), { payload: b64('still served') });
    expect(other.status).toBe(200);
    expect(other.body['payload']).toBe(b64('still served'));
    const ended = await Promise.all(held);
    expect(ended.map((r) => r.status).sort()).toEqual([404, 504, 504]);
    expect((await post(KEY_A, callPath('dev-1'), { payload: b64('again') })).status).toBe(200);
  });
});

describe('connectTimeoutMs is one call', () => {
  it('one HTTP call: one metered outcome, one token of the key, a duration covering the wait', async () => {
    const offlineBefore = await metric('rrpc_calls_total', 'offline');
    const successBefore = await metric('rrpc_calls_total', 'success');
    // RATE_ONE has one token a second: a second attempt taking a token of its own would end 429.
    await new Promise((r) => setTimeout(r, 1100));
    const pending = post(RATE_ONE, callPath('late-1'), { payload: b64('late'), connectTimeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 400));
    await cluster.connectDevice(PK, 'late-1');
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body['payload']).toBe(b64('late'));
    expect(Number(res.body['durationMs'])).toBeGreaterThanOrEqual(400);
    expect(await metric('rrpc_calls_total', 'offline')).toBe(offlineBefore);
    expect(await metric('rrpc_calls_total', 'success')).toBe(successBefore + 1);
  });
});
