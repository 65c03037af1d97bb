/**
 * `node bench/dist/serial-path.js [calls]`: where the time of one serial call goes, in about 20 s. Runs the
 * raw MQTT echo (before any RRPC service exists, as the bench does) and a Redis round trip in a tight loop,
 * then `calls` serial RRPC calls (default 2,000) with the api and the ingest under `socket-trace`, and prints
 * the median of each step of the path (see serial-steps.ts).
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis } from '@rrpc/testing';
import { forkScript } from './ipc.js';
import type { RunResult } from './latency.js';
import { fastDevice } from './nonce-payload.js';
import { API_KEY, postPresence, servicesEnv } from './services-env.js';
import { startBenchMosquitto, startService, stopInOrder } from './processes.js';
import { dumpTraces, redisTightLoop, renderSteps, serialSteps, traceEnv } from './serial-steps.js';

const calls = Number(process.argv[2] ?? 2000);
const names = Array.from({ length: 16 }, (_, i) => fastDevice(i));
const dir = mkdtempSync(join(tmpdir(), 'rrpc-serial-path-'));

const redis = await startRedis();
const mosquitto = await startBenchMosquitto();
const devices = forkScript('devices', 'devices');
const loadgen = forkScript('load-generator', 'load-generator');
await devices.ask('start', { url: mosquitto.url, fast: names.length, slow: 0, slowDelayMs: 0 });
await loadgen.ask('mqttConnect', { url: mosquitto.url, devices: names });
await loadgen.ask('mqttClosed', { concurrency: 64, durationMs: 1000 });
const raw = await loadgen.ask<RunResult>('mqttSerial', { n: calls });
await loadgen.ask('mqttClose');
const tightLoop = await redisTightLoop(redis.url, calls);

const env = (name: string) => ({ ...servicesEnv({ redis: redis.url, mqtt: mosquitto.url }), ...traceEnv(dir, name) });
const ingest = await startService({ service: 'response-ingest', instanceId: 'ingest-0', env: env('ingest') });
const api = await startService({ service: 'api', instanceId: 'api-0', env: env('api') });
await postPresence(ingest.url, names, api.url);
const http = { devices: names, apiKey: API_KEY, targets: [api.url], timeoutMs: 10_000 };
await loadgen.ask('httpClosed', { ...http, concurrency: 64, durationMs: 2000 });
const load = loadavg()[0]?.toFixed(2);
await dumpTraces([api.pid, ingest.pid]); // drops the warm-up's records
const rrpc = await loadgen.ask<RunResult>('httpSerial', { ...http, n: calls });
await dumpTraces([api.pid, ingest.pid]);
const steps = serialSteps(dir, { redis: redis.port, mqtt: mosquitto.port }, tightLoop);
await stopInOrder(api, ingest, devices, loadgen, mosquitto, redis);

process.stdout.write(
  `load ${load}; raw MQTT echo serial p50 ${raw.latency.p50} ms; RRPC serial p50 ${rrpc.latency.p50} ms (${(rrpc.latency.p50 / raw.latency.p50).toFixed(2)} ×)\n\n${renderSteps(steps)}`,
);
process.exit(rrpc.lost + rrpc.mismatched + raw.lost + raw.mismatched > 0 ? 1 : 0);
