/**
 * `node bench/dist/profile-api.js [seconds] [--no-profile] [--api-main <file>]`: a short focused run for profiling and A/B
 * comparisons of the api: one api pod (under --cpu-prof) and one ingest, warm-up, serial calls, then a
 * closed loop at 64 in flight. Prints serial p50, calls/s, CPU seconds per 1,000 calls of each process,
 * and the api's top self-time functions; keeps the profile under bench/results/profiles/.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis } from '@rrpc/testing';
import { forkScript } from './ipc.js';
import type { RunResult } from './latency.js';
import { fastDevice } from './nonce-payload.js';
import { API_KEY, postPresence, servicesEnv } from './services-env.js';
import { cpuSeconds, startBenchMosquitto, startService, stopInOrder } from './processes.js';
import { summariseProfile } from './profile-summary.js';

const seconds = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 10);
const profile = !process.argv.includes('--no-profile');
const mainAt = process.argv.indexOf('--api-main');
const apiMain = mainAt > 0 ? process.argv[mainAt + 1] : undefined;
const devicesNames = Array.from({ length: 16 }, (_, i) => fastDevice(i));

const redis = await startRedis();
const mosquitto = await startBenchMosquitto();
const devices = forkScript('devices', 'devices');
const loadgen = forkScript('load-generator', 'load-generator');
await devices.ask('start', { url: mosquitto.url, fast: devicesNames.length, slow: 0, slowDelayMs: 0 });
const env = servicesEnv({ redis: redis.url, mqtt: mosquitto.url });
const dir = mkdtempSync(join(tmpdir(), 'rrpc-prof-'));
const ingest = await startService({ service: 'response-ingest', instanceId: 'ingest-0', env });
const api = await startService({ service: 'api', instanceId: 'api-0', env, cpuProfileDir: profile ? dir : undefined, main: apiMain });
await postPresence(ingest.url, devicesNames, api.url);
const http = { devices: devicesNames, apiKey: API_KEY, targets: [api.url] };
await loadgen.ask('httpClosed', { ...http, concurrency: 64, durationMs: 2000 });
const serial = await loadgen.ask<RunResult>('httpSerial', { ...http, n: 1000 });
const pids = { api: api.pid, ingest: ingest.pid, redis: redis.pid ?? 0, broker: mosquitto.pid, devices: devices.pid, loadgen: loadgen.pid };
const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSeconds(p)]));
const load = loadavg()[0]?.toFixed(2);
const closed = await loadgen.ask<RunResult>('httpClosed', { ...http, concurrency: 64, durationMs: seconds * 1000 });
const cpu = Object.entries(pids).map(([k, p]) => `${k} ${(((cpuSeconds(p) - (before[k] ?? 0)) / closed.ok) * 1000).toFixed(3)}`);
await stopInOrder(api, ingest, devices, loadgen, mosquitto, redis);
process.stdout.write(
  `load ${load}; serial p50 ${serial.latency.p50} ms p99 ${serial.latency.p99} ms; closed ${closed.perSecond}/s p50 ${closed.latency.p50} ms p99 ${closed.latency.p99} ms; ` +
    `lost ${serial.lost + closed.lost + serial.mismatched + closed.mismatched}\nCPU s per 1,000 calls: ${cpu.join(', ')}\n`,
);
if (profile) {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (file) {
    const out = join(new URL('../results/profiles/', import.meta.url).pathname);
    mkdirSync(out, { recursive: true });
    const kept = join(out, `api-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
    copyFileSync(join(dir, file), kept);
    const s = summariseProfile(kept, 30);
    process.stdout.write(`profile ${kept}: busy ${s.busyMs} ms, idle ${s.idleMs} ms, gc ${s.gcMs} ms\n`);
    for (const e of s.entries)
      process.stdout.write(`${e.percent.toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(1).padStart(8)} ms  ${e.function}  ${e.where}\n`);
  }
}
process.exit(0);
