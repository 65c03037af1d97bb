/**
 * Where the time of one serial call goes: the api and the ingest run with `socket-trace` preloaded, and the
 * records of both (one monotonic clock) are cut into the steps of each call. Used by `npm run bench` and by
 * `node bench/dist/serial-path.js`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { TraceRecord } from './socket-trace.js';

const STEPS = ['request', 'begin', 'begun', 'publish', 'answer', 'claim', 'notified', 'response'] as const;
type Step = (typeof STEPS)[number];

export const STEP_NAMES: Record<string, string> = {
  'request→begin': 'api works: HTTP request → call-begin written to Redis',
  'begin→begun': 'between processes: Redis round trip (call-begin)',
  'begun→publish': 'api works: Redis reply → request published',
  'publish→answer': 'between processes: broker → device → broker → ingest',
  'answer→claim': 'ingest works: answer read → claim written to Redis',
  'claim→notified': 'between processes: Redis runs the claim and notifies the api',
  'notified→response': 'api works: notification → HTTP answer written',
  total: 'api: request in → answer out',
};

export interface SerialSteps {
  traced: number;
  /** Median microseconds of each step (keys of STEP_NAMES), in the order of a call. */
  medianUs: Record<string, number>;
  /** A Redis PING round trip in a tight loop from the bench process, median microseconds. */
  redisTightLoopUs: number;
}

/** Environment that makes a service record its socket trace to `dir/<name>.json` on SIGUSR2. */
export function traceEnv(dir: string, name: string): Record<string, string> {
  return {
    NODE_OPTIONS: `--import ${new URL('./socket-trace.js', import.meta.url).pathname}`,
    RRPC_SOCKET_TRACE_FILE: join(dir, `${name}.json`),
  };
}

/** Asks the traced processes for their records (and empties them). */
export async function dumpTraces(pids: number[]): Promise<void> {
  for (const pid of pids) process.kill(pid, 'SIGUSR2');
  await new Promise((r) => setTimeout(r, 500));
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

export async function redisTightLoop(url: string, n: number): Promise<number> {
  const probe = new Redis(url);
  const samples: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await probe.ping();
      samples.push((performance.now() - t) * 1000);
    }
  } finally {
    probe.disconnect();
  }
  return Math.round(median(samples));
}

/**
 * Cuts the records into calls. In order, one call: the request reaches the api; the api writes call-begin to
 * Redis; Redis answers; the api writes the publish to the broker; the ingest reads the device's answer; the
 * ingest writes the claim; the api reads the notification; the api writes the HTTP answer.
 */
export function serialSteps(dir: string, ports: { redis: number; mqtt: number }, redisTightLoopUs: number): SerialSteps {
  const read = (name: string) => JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as TraceRecord[];
  const events = [...read('api').map((r) => ['api', ...r] as const), ...read('ingest').map((r) => ['ingest', ...r] as const)].sort(
    (a, b) => a[1] - b[1],
  );
  const spans = new Map<string, number[]>();
  const add = (key: string, value: number) => spans.set(key, [...(spans.get(key) ?? []), value]);
  let call: Partial<Record<Step, number>> | undefined;
  let traced = 0;
  const next = (who: string, kind: string, port: number): Step | undefined => {
    if (!call) return undefined;
    const api = who === 'api';
    if (call.begin === undefined) return api && kind === 'W' && port === ports.redis ? 'begin' : undefined;
    if (call.begun === undefined) return api && kind === 'R' && port === ports.redis ? 'begun' : undefined;
    if (call.publish === undefined) return api && kind === 'W' && port === ports.mqtt ? 'publish' : undefined;
    if (call.answer === undefined) return !api && kind === 'R' && port === ports.mqtt ? 'answer' : undefined;
    if (call.claim === undefined) return !api && kind === 'W' && port === ports.redis ? 'claim' : undefined;
    if (call.notified === undefined) return api && kind === 'R' && port === ports.redis ? 'notified' : undefined;
    return api && kind === 'W' && port !== ports.redis && port !== ports.mqtt ? 'response' : undefined;
  };
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
      add(`${from}→${to}`, (call[to] ?? 0) - (call[from] ?? 0));
    }
    add('total', (call.response ?? 0) - (call.request ?? 0));
    traced++;
    call = undefined;
  }
  return { traced, medianUs: Object.fromEntries([...spans].map(([k, v]) => [k, median(v)])), redisTightLoopUs };
}

export function renderSteps(steps: SerialSteps): string {
  return (
    `| step of one serial call | median |\n|---|---|\n` +
    Object.entries(steps.medianUs)
      .map(([k, v]) => `| ${STEP_NAMES[k] ?? k} | ${v} µs |`)
      .join('\n') +
    `\n\n${steps.traced} calls traced. A Redis round trip in a tight loop (PING from the bench process): ${steps.redisTightLoopUs} µs.\n`
  );
}
