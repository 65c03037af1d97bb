/**
 * `npm run bench`: the raw MQTT echo floor and RRPC side by side, in one run, on this machine.
 * Starts its own redis-server and mosquitto, the api and response-ingest as processes, devices and the
 * load generator as processes; measures; writes bench/results/<date>-<hhmmss>-<host>.{json,md}; exits 1 if any
 * answer was lost or mismatched. Options: --profile (api under --cpu-prof, top functions summarised),
 * env BENCH_SECONDS (length of each timed run, default 6), BENCH_PENDING (default 20000), BENCH_API_MAIN
 * (experiments: another api entry point), BENCH_PENDING_PER_SECOND (arrival rate of the pending calls, default 2000), BENCH_TRACE
 * (off | 0 | 1: OpenTelemetry off, or on with that sampling ratio, exporting to a counting sink here) and BENCH_RESULTS_SUFFIX (added to the result file names).
 */
import { execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis } from '@rrpc/testing';
import { BrokerCounters } from './broker-counters.js';
import { forkScript, type Remote } from './ipc.js';
import type { LatencySummary, RunResult } from './latency.js';
import { fastDevice, slowDevice } from './nonce-payload.js';
import { API_KEY, postPresence, servicesEnv, traceMode, tracingEnv } from './services-env.js';
import { OtlpReceiver } from '@rrpc/tracing';
import { cpuSeconds, openFiles, rssBytes, startBenchMosquitto, startService, type BenchProcess } from './processes.js';
import { RedisProbe } from './redis-probe.js';
import { renderMarkdown, type BenchResults } from './report.js';
import { summariseProfile } from './profile-summary.js';
import { dumpTraces, redisTightLoop, serialSteps, traceEnv } from './serial-steps.js';

const FAST_DEVICES = 16;
const SLOW_DEVICES = 64;
const SLOW_DELAY_MS = 5000;
const IN_FLIGHT = 64;
const SERIAL_CALLS = 2000;
const RUN_MS = Number(process.env['BENCH_SECONDS'] ?? 6) * 1000;
const PENDING = Number(process.env['BENCH_PENDING'] ?? 20_000);
/** How fast the pending calls arrive (all of them at once ends many as 503: see docs/performance.md). */
const PENDING_PER_SECOND = Number(process.env['BENCH_PENDING_PER_SECOND'] ?? 2000);
const PROFILE = process.argv.includes('--profile');
/** Experiments only: another entry point for the api pods (a module that starts a variant of the api). */
const API_MAIN = process.env['BENCH_API_MAIN'] || undefined;
/** OpenTelemetry in the services: off, or on with sampling 0 or 1 (services-env.ts). */
const TRACE = traceMode(process.env['BENCH_TRACE']);
const ROOT = new URL('../../', import.meta.url).pathname;

const fastNames = Array.from({ length: FAST_DEVICES }, (_, i) => fastDevice(i));
const slowNames = Array.from({ length: SLOW_DEVICES }, (_, i) => slowDevice(i));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load1 = () => Math.round((loadavg()[0] ?? 0) * 100) / 100;
const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)} load ${load1()}] ${message}\n`);

const cleanups: Array<() => Promise<void> | void> = [];

/** The api's V8 heap in use (its /metrics), bytes; NaN if not reported. */
async function heapUsed(apiUrl: string): Promise<number> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
}

/** CPU seconds each process spent while `work` ran, per 1,000 successful calls. */
async function measureCpu<T extends RunResult>(pids: Record<string, number>, work: () => Promise<T>) {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const result = await work();
  const perThousand: Record<string, number> = {};
  for (const [k, pid] of Object.entries(pids)) {
    perThousand[k] = Math.round(((cpuSeconds(pid) - (before[k] ?? 0)) / Math.max(1, result.ok)) * 1000 * 1000) / 1000;
  }
  return { result, cpuPerThousand: perThousand };
}

function failuresOf(r: RunResult): number {
  return r.lost + r.mismatched;
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const git = (cmd: string) => {
    try {
      return execSync(cmd, { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  const results: BenchResults = {
    machine: {
      host: hostname(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? '',
      node: process.version,
      redis: git('redis-server --version').split(' ')[2]?.replace('v=', '') ?? '',
      mosquitto: git('mosquitto -h 2>&1 | head -1').replace(/^mosquitto version /, ''),
      commit: git('git rev-parse --short HEAD') + (git('git status --porcelain -- packages services') ? '+dirty' : ''),
      loadBefore: loadavg().map((v) => Math.round(v * 100) / 100),
    },
    startedAt: startedAt.toISOString(),
    settings: {
      apiMain: API_MAIN,
      inFlight: IN_FLIGHT,
      serialCalls: SERIAL_CALLS,
      runSeconds: RUN_MS / 1000,
      payloadBytes: 128,
      pending: PENDING,
      pendingPerSecond: PENDING_PER_SECOND,
      slowDelayMs: SLOW_DELAY_MS,
      profile: PROFILE,
      trace: TRACE,
    },
    load: {},
  } as BenchResults;

  log('starting redis-server, mosquitto, devices and the load generator');
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const mosquitto = await startBenchMosquitto();
  cleanups.push(() => mosquitto.stop());
  const devices = forkScript('devices', 'devices');
  cleanups.push(() => devices.stop());
  const loadgen = forkScript('load-generator', 'load-generator');
  cleanups.push(() => loadgen.stop());
  await devices.ask('start', { url: mosquitto.url, fast: FAST_DEVICES, slow: SLOW_DEVICES, slowDelayMs: SLOW_DELAY_MS });
  const counters = await BrokerCounters.connect(mosquitto.url);
  cleanups.push(() => counters.close());
  const probe = new RedisProbe(redis.url);
  cleanups.push(() => probe.close());

  // 1. The floor: raw MQTT echo through the same broker and topics (before any RRPC service exists).
  log('1. raw MQTT echo baseline');
  results.load['baseline'] = load1();
  await loadgen.ask('mqttConnect', { url: mosquitto.url, devices: fastNames });
  await loadgen.ask('mqttClosed', { concurrency: IN_FLIGHT, durationMs: 1000 });
  const mqttSerial = await loadgen.ask<RunResult>('mqttSerial', { n: SERIAL_CALLS });
  const mqttPids = { broker: mosquitto.pid, devices: devices.pid, 'load generator': loadgen.pid };
  const mqttClosed = await measureCpu(mqttPids, () => loadgen.ask<RunResult>('mqttClosed', { concurrency: IN_FLIGHT, durationMs: RUN_MS }));
  await loadgen.ask('mqttClose');
  results.mqtt = { serial: mqttSerial, closed: mqttClosed.result, cpuPerThousand: mqttClosed.cpuPerThousand };

  // 2. RRPC over HTTP keep-alive.
  log('starting response-ingest and api processes');
  let traceSink: OtlpReceiver | undefined;
  if (TRACE !== 'off') {
    traceSink = new OtlpReceiver({ keep: false });
    cleanups.push(() => traceSink?.stop());
  }
  const traceEndpoint = await traceSink?.start();
  const env = {
    ...servicesEnv({ redis: redis.url, mqtt: mosquitto.url }),
    ...tracingEnv(TRACE, traceEndpoint),
    // Room for the pending run.
    RRPC_MAX_IN_FLIGHT: String(Math.max(10_000, PENDING + 1000)),
    RRPC_REQUEST_TIMEOUT_MS: '120000',
    // The pending run opens its connections first (to weigh them apart from the calls): they idle meanwhile.
    RRPC_HEADERS_TIMEOUT_MS: '120000',
  };
  const profileDir = PROFILE ? mkdtempSync(join(tmpdir(), 'rrpc-bench-prof-')) : undefined;
  const services: BenchProcess[] = [];
  const start = async (
    service: 'api' | 'response-ingest',
    instanceId: string,
    cpuProfileDir?: string,
    extraEnv: Record<string, string> = {},
  ) => {
    const main = service === 'api' ? API_MAIN : undefined;
    const p = await startService({ service, instanceId, env: { ...env, ...extraEnv }, cpuProfileDir, main });
    services.push(p);
    return p;
  };
  cleanups.push(async () => {
    await Promise.all(services.map((s) => s.stop()));
  });
  const ingest0 = await start('response-ingest', 'ingest-0');
  const api0 = await start('api', 'api-0', profileDir);
  await postPresence(ingest0.url, [...fastNames, ...slowNames], api0.url);
  const http = { devices: fastNames, apiKey: API_KEY, timeoutMs: 10_000 };

  log('2. RRPC serial, closed loop, open loop');
  results.load['rrpc'] = load1();
  await loadgen.ask('httpClosed', { ...http, targets: [api0.url], concurrency: IN_FLIGHT, durationMs: 2000 }); // warm-up
  const rrpcSerial = await loadgen.ask<RunResult & { callerLatency: LatencySummary }>('httpSerial', {
    ...http,
    targets: [api0.url],
    n: SERIAL_CALLS,
  });
  const pids = {
    api: api0.pid,
    ingest: ingest0.pid,
    redis: redis.pid ?? 0,
    broker: mosquitto.pid,
    devices: devices.pid,
    'load generator': loadgen.pid,
  };
  const statsBefore = await probe.commandstats();
  const brokerBefore = await counters.snapshot();
  const closed = await measureCpu(pids, () =>
    loadgen.ask<RunResult>('httpClosed', { ...http, targets: [api0.url], concurrency: IN_FLIGHT, durationMs: RUN_MS }),
  );
  const brokerAfter = await counters.snapshot();
  if (traceSink)
    log(`trace sink so far: ${traceSink.received.requests} OTLP exports, ${traceSink.received.bytes} bytes (BENCH_TRACE=${TRACE})`);
  const commands = RedisProbe.delta(statsBefore, await probe.commandstats());
  const rate = Math.max(100, Math.round(closed.result.perSecond / 2));
  const open = await loadgen.ask<RunResult & { rate: number; maxConnections: number }>('httpOpen', {
    ...http,
    targets: [api0.url],
    rate,
    durationMs: RUN_MS,
  });

  // 3. Cost per call.
  log('3. Redis round trips (MONITOR sample)');
  const sample = await probe.monitor(() => loadgen.ask<RunResult>('httpSerial', { ...http, targets: [api0.url], n: 300 }));
  const commandsTotal = Object.values(commands).reduce((a, b) => a + b, 0);
  const per = (n: number) => Math.round((n / Math.max(1, closed.result.ok)) * 100) / 100;
  results.rrpc = { serial: rrpcSerial, closed: closed.result, open, cpuPerThousand: closed.cpuPerThousand };
  results.cost = {
    redisRoundTripsPerCall: Math.round((sample.topLevel / Math.max(1, sample.result.ok)) * 100) / 100,
    redisRoundTripsByClient: sample.byClient,
    monitorSampleCalls: sample.result.ok,
    redisCommandsPerCall: per(commandsTotal),
    redisCommandsByName: Object.fromEntries(Object.entries(commands).map(([k, v]) => [k, per(v)])),
    mqttMessagesPerCall: {
      intoBroker: per(brokerAfter.received - brokerBefore.received),
      outOfBroker: per(brokerAfter.sent - brokerBefore.sent),
    },
    cpuSecondsPerThousand: closed.cpuPerThousand,
  };

  // 4. Pending scale: PENDING calls in flight at once on one pod, devices answering after 5 s.
  log(`4. ${PENDING} pending calls on one api pod`);
  results.load['pending'] = load1();
  await sleep(500);
  const fds = openFiles(api0.pid);
  const connections = Math.min(PENDING, fds.limit - fds.open - 64);
  const workers = Math.ceil(connections / 9000);
  const share = (n: number, i: number) => Math.floor(n / workers) + (i < n % workers ? 1 : 0);
  const pendingGens: Remote[] = Array.from({ length: workers }, (_, i) => forkScript(`pending-${i}`, 'load-generator'));
  cleanups.push(() => pendingGens.forEach((g) => g.stop()));
  await devices.ask('hold');
  const heapBefore = await heapUsed(api0.url);
  const rssBefore = rssBytes(api0.pid);
  await Promise.all(pendingGens.map((g, i) => g.ask('pendingOpen', { targets: [api0.url], connections: share(connections, i) })));
  await sleep(1000);
  const rssConnected = rssBytes(api0.pid);
  const heapConnected = await heapUsed(api0.url);
  const pendingStarted = performance.now();
  await Promise.all(
    pendingGens.map((g, i) =>
      g.ask('pendingSend', {
        devices: slowNames,
        apiKey: API_KEY,
        timeoutMs: 60_000,
        targets: [api0.url],
        calls: share(PENDING, i),
        perSecond: PENDING_PER_SECOND / workers,
      }),
    ),
  );
  // Wait until every call is pending at the devices (or the count stops growing for 10 s).
  let held = 0;
  let peak = 0;
  let lastGrowth = Date.now();
  while (Date.now() - lastGrowth < 10_000) {
    held = (await devices.ask<{ held: number }>('counters')).held;
    if (held > peak) {
      peak = held;
      lastGrowth = Date.now();
    }
    if (held >= PENDING) break;
    await sleep(100);
  }
  const allPendingSeconds = (performance.now() - pendingStarted) / 1000;
  await sleep(300);
  const rssPending = rssBytes(api0.pid);
  const heapPending = await heapUsed(api0.url);
  const fdsPending = openFiles(api0.pid).open;
  await devices.ask('release');
  const pendingResults = await Promise.all(pendingGens.map((g) => g.ask<RunResult>('pendingResult')));
  const pendingOk = pendingResults.reduce((a, r) => a + r.ok, 0);
  const pendingLost = pendingResults.reduce((a, r) => a + r.lost, 0);
  const pendingMismatched = pendingResults.reduce((a, r) => a + r.mismatched, 0);
  const pendingErrors: Record<string, number> = {};
  for (const r of pendingResults) for (const [k, v] of Object.entries(r.errors)) pendingErrors[k] = (pendingErrors[k] ?? 0) + v;
  pendingGens.forEach((g) => g.stop());
  results.pending = {
    calls: PENDING,
    connections,
    apiOpenFilesAtPeak: fdsPending,
    apiOpenFilesLimit: fds.limit,
    heldAtOnce: held,
    secondsUntilAllPending: Math.round(allPendingSeconds * 100) / 100,
    ok: pendingOk,
    lost: pendingLost,
    mismatched: pendingMismatched,
    errors: pendingErrors,
    rssBeforeMiB: Math.round((rssBefore / 1048576) * 10) / 10,
    rssPendingMiB: Math.round((rssPending / 1048576) * 10) / 10,
    kibPerPendingCall: Math.round(((rssPending - rssBefore) / Math.max(1, held) / 1024) * 100) / 100,
    kibPerIdleConnection: Math.round(((rssConnected - rssBefore) / Math.max(1, connections) / 1024) * 100) / 100,
    rssConnectedMiB: Math.round((rssConnected / 1048576) * 10) / 10,
    heapUsedMiB: [heapBefore, heapConnected, heapPending].map((b) => Math.round((b / 1048576) * 10) / 10),
    maxLatencyMs: Math.max(...pendingResults.map((r) => r.latency.max)),
  };

  // 5. Horizontal: one api pod against two, one ingest replica against two (shared subscription).
  log('5. one api pod vs two, one ingest vs two');
  results.load['scale'] = load1();
  const closedOn = (targets: string[]) =>
    loadgen.ask<RunResult>('httpClosed', { ...http, targets, concurrency: IN_FLIGHT, durationMs: Math.min(RUN_MS, 4000) });
  const api1 = await start('api', 'api-1');
  await loadgen.ask('httpClosed', { ...http, targets: [api1.url], concurrency: 8, durationMs: 500 });
  const scale: BenchResults['scale'] = [];
  scale.push({ apis: 1, ingests: 1, result: await closedOn([api0.url]) });
  scale.push({ apis: 2, ingests: 1, result: await closedOn([api0.url, api1.url]) });
  await start('response-ingest', 'ingest-1');
  await sleep(300);
  scale.push({ apis: 2, ingests: 2, result: await closedOn([api0.url, api1.url]) });
  scale.push({ apis: 1, ingests: 2, result: await closedOn([api0.url]) });
  results.scale = scale;

  // The same call path with both rate limits on (set high enough never to refuse): what they cost.
  log('rate limits on');
  const apiLimited = await start('api', 'api-limited', undefined, {
    RRPC_RATE_LIMIT_PER_KEY: '1000000',
    RRPC_RATE_LIMIT_PER_DEVICE: '100000',
  });
  await loadgen.ask('httpClosed', { ...http, targets: [apiLimited.url], concurrency: 8, durationMs: 500 });
  const limitedSample = await probe.monitor(() => loadgen.ask<RunResult>('httpSerial', { ...http, targets: [apiLimited.url], n: 200 }));
  const limitedClosed = await closedOn([apiLimited.url]);
  results.rateLimited = {
    closed: limitedClosed,
    serial: limitedSample.result,
    redisRoundTripsPerCall: Math.round((limitedSample.topLevel / Math.max(1, limitedSample.result.ok)) * 100) / 100,
  };

  // Stop the services (the api writes its CPU profile on exit).
  log('stopping');
  await Promise.all(services.map((s) => s.stop()));
  if (profileDir) {
    const file = readdirSync(profileDir).find((f) => f.startsWith('api-0'));
    if (file) results.profile = { file: join(profileDir, file), top: summariseProfile(join(profileDir, file), 25) };
  }

  // 6. Where one serial call's time goes: a fresh api and ingest (the only ones now, so the ingest hears every
  // answer) under the socket trace.
  log('6. one serial call, step by step (socket trace)');
  await sleep(1000); // let the stopped services' exits settle
  const traceDir = mkdtempSync(join(tmpdir(), 'rrpc-bench-trace-'));
  const tightLoop = await redisTightLoop(redis.url, 1000);
  const tracedIngest = await start('response-ingest', 'ingest-traced', undefined, traceEnv(traceDir, 'ingest'));
  const tracedApi = await startService({ service: 'api', instanceId: 'api-traced', env: { ...env, ...traceEnv(traceDir, 'api') } });
  services.push(tracedApi);
  await loadgen.ask('httpClosed', { ...http, targets: [tracedApi.url], concurrency: IN_FLIGHT, durationMs: 2000 });
  await loadgen.ask('httpSerial', { ...http, targets: [tracedApi.url], n: 300 });
  await dumpTraces([tracedApi.pid, tracedIngest.pid]);
  const tracedSerial = await loadgen.ask<RunResult>('httpSerial', { ...http, targets: [tracedApi.url], n: 1000 });
  await dumpTraces([tracedApi.pid, tracedIngest.pid]);
  results.serialSteps = {
    ...serialSteps(traceDir, { redis: redis.port, mqtt: mosquitto.port }, tightLoop),
    rrpcSerialP50Ms: tracedSerial.latency.p50,
  };
  await Promise.all([tracedApi.stop(), tracedIngest.stop()]);

  const everyRun: RunResult[] = [
    tracedSerial,
    mqttSerial,
    mqttClosed.result,
    rrpcSerial,
    closed.result,
    open,
    sample.result,
    ...scale.map((s) => s.result),
    limitedSample.result,
    limitedClosed,
  ];
  const lost =
    everyRun.reduce((a, r) => a + failuresOf(r), 0) +
    pendingLost +
    pendingMismatched +
    (PENDING - pendingOk - pendingLost - pendingMismatched);
  results.lostOrMismatched = lost;
  results.finishedAt = new Date().toISOString();
  results.wallSeconds = Math.round((Date.now() - startedAt.getTime()) / 100) / 10;

  const markdown = renderMarkdown(results);
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  // Date and time (UTC) in the name: a later run the same day writes files of its own, never over these.
  const stamp = startedAt.toISOString().slice(0, 19).replace(/:/g, '').replace('T', '-');
  const base = join(dir, `${stamp}-${hostname()}${process.env['BENCH_RESULTS_SUFFIX'] ?? ''}`);
  writeFileSync(`${base}.json`, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(`${base}.md`, markdown);
  process.stdout.write(markdown);
  log(`wrote ${base}.json and .md`);
  if (lost > 0) log(`FAILED: ${lost} answers lost or mismatched`);
  return lost > 0 ? 1 : 0;
}

async function cleanup(): Promise<void> {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      // keep cleaning
    }
  }
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (error: unknown) => {
    process.stderr.write(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await cleanup();
    process.exit(2);
  },
);
