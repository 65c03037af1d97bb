/**
 * `node bench/dist/serial-path.js [calls]`: where the time of one serial call goes. Runs the raw MQTT echo
 * (before any RRPC service exists, as the bench does), then `calls` serial RRPC calls (default 2,000) with
 * the api and the ingest under `socket-trace` (socket writes and reads with a monotonic clock shared by all
 * processes), and prints the median of each step of the path, the steps the api and the ingest spend
 * working and the steps spent between processes (a socket write, the kernel, a wake-up, the peer's work).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis } from '@rrpc/testing';
import { forkScript } from './ipc.js';
import type { RunResult } from './latency.js';
import { PRODUCT_KEY, fastDevice } from './nonce-payload.js';
import { startBenchMosquitto, startService } from './processes.js';
import type { TraceRecord } from './socket-trace.js';

const calls = Number(process.argv[2] ?? 2000);
const API_KEY = 'bench-api-key-0123456789abcdef';
const WEBHOOK_TOKEN = 'bench-webhook-token-0123456789';
const names = Array.from({ length: 16 }, (_, i) => fastDevice(i));
const dir = mkdtempSync(join(tmpdir(), 'rrpc-serial-path-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const redis = await startRedis();
const mosquitto = await startBenchMosquitto();
const devices = forkScript('devices', 'devices');
const loadgen = forkScript('load-generator', 'load-generator');
await devices.ask('start', { url: mosquitto.url, fast: names.length, slow: 0, slowDelayMs: 0 });
await loadgen.ask('mqttConnect', { url: mosquitto.url, devices: names });
await loadgen.ask('mqttClosed', { concurrency: 64, durationMs: 1000 });
const raw = await loadgen.ask<RunResult>('mqttSerial', { n: calls });
await loadgen.ask('mqttClose');
// A Redis round trip in a tight loop from this process, to compare with the same round trip inside a call.
const probe = new Redis(redis.url);
const pings: number[] = [];
for (let i = 0; i < calls; i++) {
  const t = performance.now();
  await probe.ping();
  pings.push((performance.now() - t) * 1000);
}
probe.disconnect();

const preload = new URL('./socket-trace.js', import.meta.url).pathname;
const env = (name: string) => ({
  REDIS_URL: redis.url,
  MQTT_URL: mosquitto.url,
  MQTT_PROTOCOL_VERSION: '5',
  RRPC_API_KEYS: API_KEY,
  RRPC_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
  RRPC_SHARED_SUBSCRIPTION: 'true',
  RRPC_RATE_LIMIT_PER_KEY: '0',
  RRPC_RATE_LIMIT_PER_DEVICE: '0',
  NODE_OPTIONS: `--import ${preload}`,
  RRPC_SOCKET_TRACE_FILE: join(dir, `${name}.json`),
});
const ingest = await startService({ service: 'response-ingest', instanceId: 'ingest-0', env: env('ingest') });
const api = await startService({ service: 'api', instanceId: 'api-0', env: env('api') });
for (const name of names) {
  const now = Date.now();
  await fetch(`${ingest.url}/hooks/emqx`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
    body: JSON.stringify({ event: 'client.connected', clientid: `${name}|securemode=3|`, username: `${name}&${PRODUCT_KEY}`, connected_at: now, keepalive: 60 }),
  });
}
const http = { devices: names, apiKey: API_KEY, targets: [api.url], timeoutMs: 10_000 };
await loadgen.ask('httpClosed', { ...http, concurrency: 64, durationMs: 2000 });
const load = loadavg()[0]?.toFixed(2);
const dump = async () => {
  process.kill(api.pid, 'SIGUSR2');
  process.kill(ingest.pid, 'SIGUSR2');
  await sleep(500);
};
await dump(); // drop the warm-up's records
const rrpc = await loadgen.ask<RunResult>('httpSerial', { ...http, n: calls });
await dump();
const read = (name: string) => JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as TraceRecord[];
const apiTrace = read('api');
const ingestTrace = read('ingest');
await api.stop();
await ingest.stop();
devices.stop();
loadgen.stop();
await mosquitto.stop();
await redis.stop();

// One call, in order: the request reaches the api (Q); the api writes call-begin to Redis; Redis answers; the
// api writes the publish to the broker; the ingest reads the device's answer; the ingest writes the claim; the
// api reads the notification on its reply channel; the api writes the HTTP answer.
const STEPS = ['request', 'begin', 'begun', 'publish', 'answer', 'claim', 'notified', 'response'] as const;
type Step = (typeof STEPS)[number];
const events = [...apiTrace.map((r) => ['api', ...r] as const), ...ingestTrace.map((r) => ['ingest', ...r] as const)].sort((a, b) => a[1] - b[1]);
const redisPort = redis.port;
const spans = new Map<string, number[]>();
let call: Partial<Record<Step, number>> | undefined;
const next = (who: string, kind: string, port: number): Step | undefined => {
  if (!call) return undefined;
  if (call.begin === undefined) return who === 'api' && kind === 'W' && port === redisPort ? 'begin' : undefined;
  if (call.begun === undefined) return who === 'api' && kind === 'R' && port === redisPort ? 'begun' : undefined;
  if (call.publish === undefined) return who === 'api' && kind === 'W' && port === mosquitto.port ? 'publish' : undefined;
  if (call.answer === undefined) return who === 'ingest' && kind === 'R' && port === mosquitto.port ? 'answer' : undefined;
  if (call.claim === undefined) return who === 'ingest' && kind === 'W' && port === redisPort ? 'claim' : undefined;
  if (call.notified === undefined) return who === 'api' && kind === 'R' && port === redisPort ? 'notified' : undefined;
  return who === 'api' && kind === 'W' && port !== redisPort && port !== mosquitto.port ? 'response' : undefined;
};
let complete = 0;
for (const [who, at, kind, port] of events) {
  if (who === 'api' && kind === 'Q') {
    call = { request: at };
    continue;
  }
  const step = next(who, kind, port);
  if (!step || !call) continue;
  call[step] = at;
  if (step !== 'response') continue;
  for (let i = 1; i < STEPS.length; i++) {
    const from = STEPS[i - 1] as Step;
    const to = STEPS[i] as Step;
    const key = `${from}→${to}`;
    spans.set(key, [...(spans.get(key) ?? []), (call[to] ?? 0) - (call[from] ?? 0)]);
  }
  spans.set('total', [...(spans.get('total') ?? []), (call.response ?? 0) - (call.request ?? 0)]);
  complete++;
  call = undefined;
}
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};
const WHAT: Record<string, string> = {
  'request→begin': 'api works: HTTP request → call-begin written to Redis',
  'begin→begun': 'between processes: Redis round trip (call-begin)',
  'begun→publish': 'api works: reply → request published',
  'publish→answer': 'between processes: broker → device → broker → ingest',
  'answer→claim': 'ingest works: answer read → claim written to Redis',
  'claim→notified': 'between processes: Redis runs the claim, notifies the api',
  'notified→response': 'api works: notification → HTTP answer written',
  total: 'api: request in → answer out',
};
process.stdout.write(
  `load ${load}; raw MQTT echo serial p50 ${raw.latency.p50} ms; RRPC serial p50 ${rrpc.latency.p50} ms (${(rrpc.latency.p50 / raw.latency.p50).toFixed(2)} ×); ${complete} of ${calls} calls traced\n\n` +
    `a Redis round trip in a tight loop (PING): p50 ${Math.round(median(pings))} µs\n\n` +
    `| step | median µs |\n|---|---|\n` +
    [...spans.entries()].map(([k, v]) => `| ${WHAT[k] ?? k} | ${median(v)} |`).join('\n') +
    '\n',
);
process.exit(rrpc.lost + rrpc.mismatched + raw.lost + raw.mismatched > 0 ? 1 : 0);
