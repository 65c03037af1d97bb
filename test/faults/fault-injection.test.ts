import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { TEST_SECRETS_KEY, startMosquitto, startRedis, waitFor, type ManagedServer } from '@rrpc/testing';
import { connectTestRegistry, registryOptionsOf, type TestRegistry } from '../support/registry.js';
import { startService, type ServiceProcess } from './support/services.js';
import { startFleet, type Fleet } from './support/fleet.js';
import { figures, startLoad, type CallRecord, type ScenarioFigures } from './support/load.js';

/**
 * Fault injection with real processes: two api pods and two response-ingest replicas (`node .../dist/main.js`),
 * a private Redis (with AOF, so a crash keeps its data) and Mosquitto, and a fleet of devices in this process.
 * Each scenario runs a steady load of calls, injects one fault for real (SIGKILL, SIGSTOP), and checks the
 * promise: answers reach their callers, nothing hangs past its timeout, the cluster serves again by itself.
 * Every scenario's figures are printed as a table (and appended to $RRPC_FAULT_REPORT when it is set).
 */
const PK = 'a1Faults';
const API_KEY = 'fault-suite-api-key-0123456789';
const WEBHOOK_TOKEN = 'fault-suite-webhook-token-0123';
const RATE = Number(process.env['RRPC_FAULT_RATE'] ?? 150); // calls a second, over both pods
const TIMEOUT_MS = 1000;
const RESULT_TTL_MS = 20_000;
const SLACK_MS = 1500; // a call may end this long after its timeout (event-loop and HTTP time), never more

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let redis: ManagedServer;
let mosquitto: ManagedServer;
let apis: ServiceProcess[];
let ingests: ServiceProcess[];
let fleet: Fleet;
let testRegistry: TestRegistry | undefined;
const results: ScenarioFigures[] = [];

function report(f: ScenarioFigures) {
  results.push(f);
  console.log(`\n[fault] ${f.scenario}`);
  console.table([
    { calls: f.calls, succeeded: f.succeeded, ...f.failed, 'recovery ms': f.recoveryMs ?? 'never', ...(f.notes ? { notes: f.notes } : {}) },
  ]);
}

beforeAll(async () => {
  [redis, mosquitto] = await Promise.all([startRedis(['--appendonly', 'yes', '--appendfsync', 'everysec']), startMosquitto()]);
  const env = {
    REDIS_URL: redis.url,
    MQTT_URL: mosquitto.url,
    RRPC_API_KEYS: API_KEY,
    RRPC_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    RRPC_SECRETS_KEY: TEST_SECRETS_KEY,
    REDIS_COMMAND_TIMEOUT_MS: '500',
    RRPC_RESULT_TTL_MS: String(RESULT_TTL_MS),
    RRPC_RATE_LIMIT_PER_KEY: '0',
    RRPC_RATE_LIMIT_PER_DEVICE: '0',
  };
  [ingests, apis] = await Promise.all([
    Promise.all([startService('response-ingest', 'ingest-0', env), startService('response-ingest', 'ingest-1', env)]),
    Promise.all([startService('api', 'api-0', env), startService('api', 'api-1', env)]),
  ]);
  fleet = await startFleet({
    brokerUrl: mosquitto.url,
    productKey: PK,
    count: 20,
    webhooks: () => ingests.filter((i) => i.alive).map((i) => i.url),
    webhookToken: WEBHOOK_TOKEN,
    registry: (testRegistry = connectTestRegistry(registryOptionsOf(env))),
  });
  await allOnline();
}, 60_000);

afterAll(async () => {
  if (results.length > 0) {
    console.log('\n[fault] all scenarios');
    console.table(
      results.map((r) => ({
        scenario: r.scenario,
        calls: r.calls,
        succeeded: r.succeeded,
        failed: JSON.stringify(r.failed),
        'recovery ms': r.recoveryMs ?? 'never',
        notes: r.notes ?? '',
      })),
    );
    if (process.env['RRPC_FAULT_REPORT']) appendFileSync(process.env['RRPC_FAULT_REPORT'], JSON.stringify(results, null, 2) + '\n');
  }
  await fleet?.close();
  await testRegistry?.close();
  await Promise.all([...(apis ?? []), ...(ingests ?? [])].map((p) => p.kill('SIGTERM')));
  await Promise.all([redis?.stop(), mosquitto?.stop()]);
}, 30_000);

async function allOnline() {
  await waitFor(
    async () => {
      const states = await Promise.all(
        fleet.devices.map(async (d) => {
          const res = await fetch(`${apis[0]!.url}/v1/devices/${PK}/${d.deviceName}`, { headers: { authorization: `Bearer ${API_KEY}` } });
          return res.status === 200 && ((await res.json()) as { status?: string }).status === 'ONLINE';
        }),
      );
      return states.every(Boolean);
    },
    20_000,
    'every device online',
  );
}

function load(pods = () => apis.map((a) => a.url)) {
  return startLoad({
    pods,
    productKey: PK,
    devices: fleet.devices.map((d) => d.deviceName),
    apiKey: API_KEY,
    rate: RATE,
    timeoutMs: TIMEOUT_MS,
  });
}

function expectNoneHung(records: CallRecord[]) {
  expect(records.filter((r) => r.code === 'HUNG' || r.code === 'WRONG_ANSWER')).toEqual([]);
  const late = records.filter((r) => r.status !== 0 && r.ended - r.started > TIMEOUT_MS + SLACK_MS);
  expect(late).toEqual([]);
}

/** After the fault: the last second of calls all succeeded. */
function expectRecovered(records: CallRecord[]) {
  const end = Math.max(...records.map((r) => r.started));
  const tail = records.filter((r) => r.started > end - 1000);
  expect(tail.length).toBeGreaterThan(0);
  expect(tail.filter((r) => r.code !== 'SUCCESS')).toEqual([]);
}

describe('fault injection under load (real processes)', () => {
  it('SIGKILL an ingest replica: calls lost in the switch are at most those in flight at that instant', async () => {
    const l = load();
    await sleep(1500);
    await ingests[1]!.kill('SIGKILL');
    // The instant of the switch: the replica is gone (its socket closed, which the broker sees at once).
    const killedAt = Date.now();
    const inFlight = l.inFlightAt(killedAt);
    await sleep(2500);
    const records = await l.stop();
    await ingests[1]!.start();
    const lost = records.filter((r) => r.code !== 'SUCCESS');
    report(figures('ingest SIGKILL', records, killedAt, `in flight at the kill: ${inFlight}`));
    expectNoneHung(records);
    // Only calls that were in flight when the replica died may be lost (their answers were on their way to it).
    expect(
      lost.filter((r) => !(r.code === 'TIMEOUT' && r.started <= killedAt)).map((r) => ({ ...r, startedAfterKillMs: r.started - killedAt })),
    ).toEqual([]);
    expect(lost.length).toBeLessThanOrEqual(inFlight);
    expectRecovered(records);
  }, 30_000);

  it('SIGKILL an api pod: its callers get a connection error, the other pod is unaffected, Redis keeps nothing past its TTL', async () => {
    const l = load();
    await sleep(1500);
    const killedAt = Date.now();
    await apis[1]!.kill('SIGKILL');
    const inFlight = l.inFlightAt(killedAt, 1);
    await sleep(2000);
    const records = await l.stop();
    const restarted = apis[1]!.start();
    restarted.catch(() => undefined);
    report(
      figures('api pod SIGKILL', records, killedAt, `pod-1 calls in flight at the kill: ${inFlight}; pod-1 stays down until the load ends`),
    );
    expectNoneHung(records);
    expect(records.filter((r) => r.pod === 0 && r.code !== 'SUCCESS')).toEqual([]);
    const failed = records.filter((r) => r.code !== 'SUCCESS');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((r) => r.pod === 1 && r.code === 'CONNECTION')).toBe(true);

    // Every key the cluster wrote expires: none without a TTL, and the dead pod's pending calls expire
    // at their deadline plus the outcome's retention at the latest.
    const r = new Redis(redis.url, { lazyConnect: true });
    await r.connect();
    try {
      let orphans = 0;
      let maxTtl = 0;
      for await (const batch of r.scanStream({ match: 'rrpc:*', count: 1000 }) as AsyncIterable<string[]>) {
        for (const key of batch) {
          const ttl = await r.pttl(key);
          // What the call path writes (call records, rate limits) always expires. (A connected device's
          // presence and the job queues' own keys are not a pod's state and may live without a TTL.)
          if (key.includes(':call:') || key.endsWith(':rate')) expect(ttl, key).toBeGreaterThan(0);
          if (key.endsWith(':presence') && ttl === -1) expect(await r.hget(key, 'st'), key).toBe('1');
          if (key.includes(':call:') && (await r.hget(key, 'p')) === 'api-1') {
            orphans++;
            maxTtl = Math.max(maxTtl, ttl);
            expect(ttl).toBeLessThanOrEqual(TIMEOUT_MS + RESULT_TTL_MS);
          }
        }
      }
      console.log(`[fault] api pod SIGKILL: ${orphans} call records of the dead pod left, each expiring within ${maxTtl} ms`);
    } finally {
      r.disconnect();
      await restarted;
    }
  }, 30_000);

  let storedBefore: CallRecord[] = [];

  it('Redis stalled (SIGSTOP 2 s): 503 at once during the stall, never past the timeout, serving again by itself', async () => {
    const l = load();
    await sleep(1500);
    const stoppedAt = Date.now();
    redis.signal('SIGSTOP');
    await sleep(2000);
    redis.signal('SIGCONT');
    const resumedAt = Date.now();
    await sleep(2500);
    const records = await l.stop();
    storedBefore = records.filter((r) => r.code === 'SUCCESS' && r.ended < stoppedAt - 1200);
    report(figures('Redis SIGSTOP 2 s', records, resumedAt));
    expectNoneHung(records);
    const codes = new Set(records.filter((r) => r.code !== 'SUCCESS').map((r) => r.code));
    expect([...codes].every((c) => c === 'UNAVAILABLE' || c === 'TIMEOUT')).toBe(true);
    expect(codes.has('UNAVAILABLE')).toBe(true);
    expectRecovered(records);
    // Answers stored before the stall can still be collected.
    const sample = storedBefore.slice(0, 25);
    for (const call of sample) {
      const res = await fetch(`${apis[call.pod]!.url}/v1/rrpc/${call.messageId}`, { headers: { authorization: `Bearer ${API_KEY}` } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ messageId: call.messageId, rrpcCode: 'SUCCESS', payload: call.payload });
    }
  }, 30_000);

  it('Redis crashed (SIGKILL, restarted with its AOF): 503 during, recovery in seconds, earlier answers still collectable', async () => {
    const l = load();
    await sleep(1500);
    const killedAt = Date.now();
    await redis.kill('SIGKILL');
    await sleep(1500);
    await redis.restart();
    const restartedAt = Date.now();
    await sleep(3000);
    const records = await l.stop();
    report(figures('Redis SIGKILL + restart (AOF)', records, restartedAt, `down ${restartedAt - killedAt} ms`));
    expectNoneHung(records);
    const codes = new Set(records.filter((r) => r.code !== 'SUCCESS').map((r) => r.code));
    expect([...codes].every((c) => c === 'UNAVAILABLE' || c === 'TIMEOUT')).toBe(true);
    expectRecovered(records);
    // AOF (fsync every second) kept presence and the outcomes written more than a second before the crash.
    const earlier = [
      ...storedBefore.slice(0, 10),
      ...records.filter((r) => r.code === 'SUCCESS' && r.ended < killedAt - 1200).slice(0, 15),
    ];
    expect(earlier.length).toBeGreaterThan(10);
    for (const call of earlier) {
      const res = await fetch(`${apis[call.pod]!.url}/v1/rrpc/${call.messageId}`, { headers: { authorization: `Bearer ${API_KEY}` } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ rrpcCode: 'SUCCESS', payload: call.payload });
    }
  }, 30_000);

  it('broker killed and restarted: 503 during, devices reconnect, presence recovers through their webhooks', async () => {
    const l = load();
    await sleep(1500);
    const killedAt = Date.now();
    await mosquitto.kill('SIGKILL');
    await sleep(1000);
    await mosquitto.restart();
    const restartedAt = Date.now();
    await sleep(4000);
    const records = await l.stop();
    report(
      figures(
        'broker SIGKILL + restart',
        records,
        restartedAt,
        `down ${restartedAt - killedAt} ms; webhook retries ${fleet.webhookFailures}`,
      ),
    );
    expectNoneHung(records);
    const codes = new Set(records.filter((r) => r.code !== 'SUCCESS').map((r) => r.code));
    expect([...codes].every((c) => c === 'UNAVAILABLE' || c === 'TIMEOUT')).toBe(true);
    expectRecovered(records);
    await allOnline();
  }, 30_000);

  it('a device that disconnects mid-call: the call ends TIMEOUT at its deadline; the next call is refused at once', async () => {
    const device = fleet.devices[0]!;
    device.mode = 'drop';
    const call = (timeoutMs: number) =>
      fetch(`${apis[0]!.url}/v1/devices/${PK}/${device.deviceName}/rrpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        body: JSON.stringify({ payload: 'AA==', timeoutMs }),
      });
    const started = Date.now();
    const first = await call(2000);
    const firstMs = Date.now() - started;
    expect(first.status).toBe(504);
    expect(await first.json()).toMatchObject({ rrpcCode: 'TIMEOUT' });
    // The disconnect webhook has arrived by now: no new request is published to the gone device.
    const requestsBefore = device.requests;
    const second = await call(2000);
    expect(second.status).toBe(404);
    expect(['HALFCONN', 'OFFLINE']).toContain(((await second.json()) as { rrpcCode: string }).rrpcCode);
    expect(device.requests).toBe(requestsBefore);
    report({
      scenario: 'device disconnects mid-call',
      calls: 2,
      succeeded: 0,
      failed: { TIMEOUT: 1, HALFCONN_OR_OFFLINE: 1 },
      recoveryMs: undefined,
      notes: `first call ended after ${firstMs} ms (timeout 2000)`,
    });
  }, 30_000);
});
