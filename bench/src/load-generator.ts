/**
 * The load generator, in its own process: the raw MQTT echo baseline (a client publishing on the
 * devices' request topics and hearing their answers) and RRPC calls over keep-alive HTTP connections,
 * serially, closed-loop at N in flight, open-loop at a constant arrival rate, or as a mass of pending calls.
 * Every request carries a unique nonce in its payload; an answer counts only if it echoes that payload.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Socket } from 'node:net';
import { serve } from './ipc.js';
import { runResult, summarise, type RunResult } from './latency.js';
import { HttpConnection, checkAnswer, lastDurationMs, rrpcRequest } from './http-connection.js';
import { PRODUCT_KEY, noncePayload } from './nonce-payload.js';

let sequence = 0;

interface Failures {
  lost: number;
  mismatched: number;
  errors: Record<string, number>;
}
const newFailures = (): Failures => ({ lost: 0, mismatched: 0, errors: {} });
function countFailure(f: Failures, kind: string): void {
  if (kind === 'mismatched') f.mismatched++;
  else f.lost++;
  f.errors[kind] = (f.errors[kind] ?? 0) + 1;
}

// ---------------------------------------------------------------- raw MQTT echo baseline
let baseline: MqttClient | undefined;
let baselineDevices: string[] = [];
const mqttWaiting = new Map<string, (payload: Buffer) => void>();

async function mqttConnect(args: { url: string; devices: string[] }) {
  baselineDevices = args.devices;
  baseline = await mqtt.connectAsync(args.url, { clientId: `bench-baseline-${process.pid}`, protocolVersion: 5, reconnectPeriod: 0 });
  (baseline.stream as Partial<Socket>).setNoDelay?.(true);
  await baseline.subscribeAsync(`/sys/${PRODUCT_KEY}/+/rrpc/response/+`, { qos: 0 });
  baseline.on('message', (topic, payload) => {
    const id = topic.slice(topic.lastIndexOf('/') + 1);
    const resolve = mqttWaiting.get(id);
    if (resolve) {
      mqttWaiting.delete(id);
      resolve(payload);
    }
  });
  return {};
}

/** One raw MQTT round trip: publish the request, wait for the device's echo (or 5 s). */
function mqttEcho(deviceName: string): Promise<string> {
  const client = baseline;
  if (!client) throw new Error('mqttConnect first');
  const seq = ++sequence;
  const id = String(1_000_000_000 + seq);
  const payload = noncePayload(seq);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      mqttWaiting.delete(id);
      resolve('no answer in 5 s');
    }, 5000);
    mqttWaiting.set(id, (answer) => {
      clearTimeout(timer);
      resolve(answer.equals(payload) ? 'ok' : 'mismatched');
    });
    client.publish(`/sys/${PRODUCT_KEY}/${deviceName}/rrpc/request/${id}`, payload, { qos: 0 });
  });
}

// ---------------------------------------------------------------- HTTP targets
interface Target {
  host: string;
  port: number;
}
function parseTarget(url: string): Target {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

interface HttpArgs {
  targets: string[];
  devices: string[];
  apiKey: string;
  timeoutMs?: number;
}

async function httpCall(connection: HttpConnection, args: HttpArgs, deviceName: string): Promise<string> {
  const seq = ++sequence;
  const payload = noncePayload(seq);
  try {
    const answer = await connection.send(rrpcRequest(PRODUCT_KEY, deviceName, payload, args.timeoutMs ?? 10_000, args.apiKey));
    return checkAnswer(answer, payload);
  } catch (error) {
    return `transport: ${error instanceof Error ? error.message : String(error)}`;
  }
}

// ---------------------------------------------------------------- run shapes
/** One call of a run shape: 'ok', or what went wrong. */
type OneCall = (worker: number, i: number) => Promise<string>;

async function serial(n: number, call: OneCall): Promise<RunResult> {
  const samples: number[] = [];
  const failures = newFailures();
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const result = await call(0, i);
    if (result === 'ok') samples.push(performance.now() - t);
    else countFailure(failures, result);
  }
  return runResult(samples, (performance.now() - started) / 1000, failures);
}

async function closedLoop(concurrency: number, durationMs: number, call: OneCall): Promise<RunResult> {
  const samples: number[] = [];
  const failures = newFailures();
  const started = performance.now();
  const until = started + durationMs;
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < until) {
        const t = performance.now();
        const result = await call(worker, i++);
        if (result === 'ok') samples.push(performance.now() - t);
        else countFailure(failures, result);
      }
    }),
  );
  return runResult(samples, (performance.now() - started) / 1000, failures);
}

async function openConnections(targets: string[], count: number, batch = 200): Promise<HttpConnection[]> {
  const parsed = targets.map(parseTarget);
  const connections: HttpConnection[] = [];
  for (let i = 0; i < count; i += batch) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, (_, j) => {
        const t = parsed[(i + j) % parsed.length] as Target;
        return HttpConnection.open(t.host, t.port);
      }),
    );
    connections.push(...opened);
  }
  return connections;
}

/**
 * Open loop: request k is due at start + k / rate, whatever happened to earlier ones; its latency is
 * measured from that intended time, so a stall shows in every request it delays (no coordinated omission).
 */
async function openLoop(
  args: HttpArgs & { rate: number; durationMs: number },
): Promise<RunResult & { rate: number; maxConnections: number }> {
  const idle = await openConnections(args.targets, 64);
  let total = idle.length;
  const samples: number[] = [];
  const failures = newFailures();
  const count = Math.floor((args.rate * args.durationMs) / 1000);
  const interval = 1000 / args.rate;
  let next = 0;
  let done = 0;
  let openingPlus = 0;
  const started = performance.now();
  await new Promise<void>((finish) => {
    const issue = (k: number, connection: HttpConnection) => {
      const intended = started + k * interval;
      void httpCall(connection, args, args.devices[k % args.devices.length] as string).then((result) => {
        if (result === 'ok') samples.push(performance.now() - intended);
        else countFailure(failures, result);
        if (connection.usable) idle.push(connection);
        if (++done === count) finish();
        else pump();
      });
    };
    const backlog: number[] = [];
    const pump = () => {
      while (backlog.length > 0 && idle.length > 0) issue(backlog.shift() as number, idle.pop() as HttpConnection);
      if (backlog.length > idle.length + openingPlus && total + openingPlus < 2048) {
        openingPlus++;
        const t = parseTarget(args.targets[(total + openingPlus) % args.targets.length] as string);
        void HttpConnection.open(t.host, t.port).then(
          (c) => {
            openingPlus--;
            total++;
            idle.push(c);
            pump();
          },
          () => openingPlus--,
        );
      }
    };
    const tick = () => {
      const due = Math.min(count, Math.floor((performance.now() - started) / interval) + 1);
      while (next < due) backlog.push(next++);
      pump();
      if (next < count) setTimeout(tick, Math.max(0, Math.min(1, started + next * interval - performance.now())));
    };
    tick();
  });
  for (const c of idle) c.close();
  return { ...runResult(samples, (performance.now() - started) / 1000, failures), rate: args.rate, maxConnections: total };
}

// ---------------------------------------------------------------- pending calls en masse
let pendingRun: Promise<RunResult> | undefined;

let pendingConnections: HttpConnection[] = [];

/** Opens `connections` idle keep-alive sockets to one api pod (the bench raises its headers timeout). */
async function pendingOpen(args: { targets: string[]; connections: number }) {
  pendingConnections = await openConnections(args.targets.slice(0, 1), args.connections, 100);
  return { connections: pendingConnections.length };
}

/**
 * Sends `calls` requests, `perSecond` a second, over the sockets of `pendingOpen` (calls beyond the number of sockets are
 * pipelined on the first ones). Resolves when every request is written; `pendingResult` waits for the answers.
 */
async function pendingSend(args: HttpArgs & { calls: number; perSecond: number }) {
  const connections = pendingConnections;
  const samples: number[] = [];
  const failures = newFailures();
  const started = performance.now();
  const all: Array<Promise<void>> = [];
  for (let k = 0; k < args.calls; k++) {
    const connection = connections[k % connections.length] as HttpConnection;
    const t = performance.now();
    all.push(
      httpCall(connection, args, args.devices[k % args.devices.length] as string).then((result) => {
        if (result === 'ok') samples.push(performance.now() - t);
        else countFailure(failures, result);
      }),
    );
    // Paced: call k leaves at start + k / perSecond.
    const wait = started + ((k + 1) * 1000) / args.perSecond - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    else if (k % 200 === 199) await new Promise((r) => setImmediate(r));
  }
  pendingRun = Promise.all(all).then(() => {
    for (const c of connections) c.close();
    return runResult(samples, (performance.now() - started) / 1000, failures);
  });
  return { sent: args.calls };
}

serve({
  mqttConnect,
  mqttSerial: (args: { n: number }) => serial(args.n, (_, i) => mqttEcho(baselineDevices[i % baselineDevices.length] as string)),
  mqttClosed: (args: { concurrency: number; durationMs: number }) =>
    closedLoop(args.concurrency, args.durationMs, (_, i) => mqttEcho(baselineDevices[i % baselineDevices.length] as string)),
  async mqttClose() {
    await baseline?.endAsync();
    return {};
  },
  async httpSerial(args: HttpArgs & { n: number }) {
    const [connection] = await openConnections(args.targets.slice(0, 1), 1);
    // Beside the client's latency: the api's own durationMs (Caller: presence + pending record, publish,
    // device, ingest, reply channel), so the rest is HTTP and the api's request handling.
    const inside: number[] = [];
    const result = await serial(args.n, async (_, i) => {
      const outcome = await httpCall(connection as HttpConnection, args, args.devices[i % args.devices.length] as string);
      if (outcome === 'ok' && Number.isFinite(lastDurationMs)) inside.push(lastDurationMs);
      return outcome;
    });
    connection?.close();
    return { ...result, callerLatency: summarise(inside) };
  },
  async httpClosed(args: HttpArgs & { concurrency: number; durationMs: number }) {
    const connections = await openConnections(args.targets, args.concurrency);
    const result = await closedLoop(args.concurrency, args.durationMs, (worker, i) =>
      httpCall(connections[worker] as HttpConnection, args, args.devices[i % args.devices.length] as string),
    );
    for (const c of connections) c.close();
    return result;
  },
  httpOpen: openLoop,
  pendingOpen,
  pendingSend,
  pendingResult: () => {
    if (!pendingRun) throw new Error('pendingSend first');
    return pendingRun;
  },
});
