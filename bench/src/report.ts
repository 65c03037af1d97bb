/** The bench results' shape and their markdown rendering (tables and the targets of issue 6). */
import type { LatencySummary, RunResult } from './latency.js';
import type { ProfileEntry } from './profile-summary.js';
import { renderSteps, type SerialSteps } from './serial-steps.js';

export interface BenchResults {
  machine: {
    host: string;
    cpus: number;
    cpuModel: string;
    node: string;
    redis: string;
    mosquitto: string;
    commit: string;
    loadBefore: number[];
  };
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  settings: {
    apiMain?: string | undefined;
    inFlight: number;
    serialCalls: number;
    runSeconds: number;
    payloadBytes: number;
    pending: number;
    pendingPerSecond?: number;
    slowDelayMs: number;
    profile: boolean;
    trace?: string | undefined;
  };
  /** 1-minute load average as each phase began. */
  load: Record<string, number>;
  mqtt: { serial: RunResult; closed: RunResult; cpuPerThousand: Record<string, number> };
  rrpc: {
    serial: RunResult & { callerLatency?: LatencySummary };
    closed: RunResult;
    open: RunResult & { rate: number; maxConnections: number };
    cpuPerThousand: Record<string, number>;
  };
  cost: {
    redisRoundTripsPerCall: number;
    redisRoundTripsByClient: Record<string, Record<string, number>>;
    monitorSampleCalls: number;
    redisCommandsPerCall: number;
    redisCommandsByName: Record<string, number>;
    mqttMessagesPerCall: { intoBroker: number; outOfBroker: number };
    cpuSecondsPerThousand: Record<string, number>;
  };
  pending: {
    calls: number;
    connections: number;
    apiOpenFilesAtPeak: number;
    apiOpenFilesLimit: number;
    heldAtOnce: number;
    secondsUntilAllPending: number;
    ok: number;
    lost: number;
    mismatched: number;
    errors: Record<string, number>;
    rssBeforeMiB: number;
    rssPendingMiB: number;
    kibPerPendingCall: number;
    kibPerIdleConnection: number;
    rssConnectedMiB: number;
    /** V8 heap in use: before, with the connections open, with every call pending. */
    heapUsedMiB: number[];
    maxLatencyMs: number;
  };
  scale: Array<{ apis: number; ingests: number; result: RunResult }>;
  /** One more api pod with both rate limits on (never refusing): their cost. */
  rateLimited: { closed: RunResult; serial: RunResult; redisRoundTripsPerCall: number };
  profile?: { file: string; top: { busyMs: number; idleMs: number; gcMs: number; entries: ProfileEntry[] } };
  /** One serial call cut into its steps (a separate api and ingest under the socket trace). */
  serialSteps?: SerialSteps & { rrpcSerialP50Ms: number };
  lostOrMismatched: number;
}

const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(v < 10 ? 2 : 1)} ms` : 'n/a');
const n = (v: number) => v.toLocaleString('en-US');
const fails = (r: RunResult) => {
  const f = r.lost + r.mismatched;
  return f === 0
    ? '0'
    : `**${f}** (${Object.entries(r.errors)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')})`;
};
const check = (ok: boolean) => (ok ? 'met' : '**not met**');

export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push(`## RRPC benchmark — ${r.startedAt.slice(0, 10)} on ${m.host}`);
  lines.push('');
  lines.push(
    `${m.cpus} × ${m.cpuModel}; Node ${m.node}, Redis ${m.redis}, Mosquitto ${m.mosquitto}; commit ${m.commit}. ` +
      `Load average before the run ${m.loadBefore.join(' / ')}; at each phase: ${Object.entries(r.load)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}. ` +
      `Payload ${r.settings.payloadBytes} B; ${r.settings.inFlight} in flight; timed runs ${r.settings.runSeconds} s; whole run ${r.wallSeconds} s` +
      (r.settings.profile ? '; api under --cpu-prof' : '') +
      (r.settings.apiMain ? `; **experiment: api started from ${r.settings.apiMain}**` : '') +
      (r.settings.trace && r.settings.trace !== 'off' ? `; **OpenTelemetry on, sampling ${r.settings.trace}** (BENCH_TRACE)` : '') +
      '.',
  );
  lines.push('');
  lines.push('| measurement | raw MQTT echo | RRPC over HTTP | RRPC / raw |');
  lines.push('|---|---|---|---|');
  const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)} ×` : 'n/a');
  lines.push(
    `| serial p50 (1 in flight) | ${ms(r.mqtt.serial.latency.p50)} | ${ms(r.rrpc.serial.latency.p50)} | ${ratio(r.rrpc.serial.latency.p50, r.mqtt.serial.latency.p50)} |`,
  );
  const inside = r.rrpc.serial.callerLatency;
  if (inside)
    lines.push(`| of which inside the api's Caller (its durationMs: presence + pending record → answer), p50 | | ${ms(inside.p50)} | |`);
  lines.push(
    `| serial p99 | ${ms(r.mqtt.serial.latency.p99)} | ${ms(r.rrpc.serial.latency.p99)} | ${ratio(r.rrpc.serial.latency.p99, r.mqtt.serial.latency.p99)} |`,
  );
  lines.push(
    `| throughput, ${r.settings.inFlight} in flight (closed loop) | ${n(r.mqtt.closed.perSecond)}/s | ${n(r.rrpc.closed.perSecond)}/s | ${((r.rrpc.closed.perSecond / r.mqtt.closed.perSecond) * 100).toFixed(0)} % |`,
  );
  lines.push(
    `| p50 / p99 at ${r.settings.inFlight} in flight | ${ms(r.mqtt.closed.latency.p50)} / ${ms(r.mqtt.closed.latency.p99)} | ${ms(r.rrpc.closed.latency.p50)} / ${ms(r.rrpc.closed.latency.p99)} | |`,
  );
  const o = r.rrpc.open;
  lines.push(
    `| open loop at ${n(o.rate)}/s (50 %): p50 / p99 / p99.9 from intended send time | | ${ms(o.latency.p50)} / ${ms(o.latency.p99)} / ${ms(o.latency.p999)} | |`,
  );
  lines.push(
    `| lost or mismatched answers | ${fails(r.mqtt.serial)} + ${fails(r.mqtt.closed)} | ${fails(r.rrpc.serial)} + ${fails(r.rrpc.closed)} + ${fails(o)} | |`,
  );
  lines.push('');
  lines.push('### Cost per successful call');
  lines.push('');
  const c = r.cost;
  const byClient = Object.entries(c.redisRoundTripsByClient)
    .map(
      ([who, cmds]) =>
        `${who}: ${Object.entries(cmds)
          .map(([k, v]) => `${k} ${(v / Math.max(1, c.monitorSampleCalls)).toFixed(2)}`)
          .join(', ')}`,
    )
    .join('; ');
  lines.push('| cost | per call |');
  lines.push('|---|---|');
  lines.push(
    `| Redis round trips (top-level commands, MONITOR over ${c.monitorSampleCalls} calls) | ${c.redisRoundTripsPerCall} (${byClient}) |`,
  );
  lines.push(
    `| Redis commands executed, Lua included (INFO commandstats) | ${c.redisCommandsPerCall} (${Object.entries(c.redisCommandsByName)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}) |`,
  );
  lines.push(
    `| MQTT PUBLISH packets into / out of the broker | ${c.mqttMessagesPerCall.intoBroker} / ${c.mqttMessagesPerCall.outOfBroker} |`,
  );
  lines.push('');
  lines.push(`CPU seconds per 1,000 calls during the ${r.settings.inFlight}-in-flight runs:`);
  lines.push('');
  const procs = [...new Set([...Object.keys(r.rrpc.cpuPerThousand), ...Object.keys(r.mqtt.cpuPerThousand)])];
  lines.push(`| | ${procs.join(' | ')} | total |`);
  lines.push(`|---|${procs.map(() => '---').join('|')}|---|`);
  const row = (label: string, cpu: Record<string, number>) =>
    `| ${label} | ${procs.map((p) => (cpu[p] === undefined ? '–' : cpu[p].toFixed(3))).join(' | ')} | ${Object.values(cpu)
      .reduce((a, b) => a + b, 0)
      .toFixed(3)} |`;
  lines.push(row('raw MQTT echo', r.mqtt.cpuPerThousand));
  lines.push(row('RRPC', r.rrpc.cpuPerThousand));
  lines.push('');
  const p = r.pending;
  lines.push(`### ${n(p.calls)} calls pending on one api pod (devices answer after ${r.settings.slowDelayMs / 1000} s)`);
  lines.push('');
  lines.push('| | |');
  lines.push('|---|---|');
  lines.push(
    `| HTTP connections | ${n(p.connections)} (${p.calls > p.connections ? `${n(p.calls - p.connections)} calls pipelined as a second request; ` : ''}api open files at peak ${n(p.apiOpenFilesAtPeak)}, limit ${n(p.apiOpenFilesLimit)}) |`,
  );
  lines.push(
    `| pending at once | ${n(p.heldAtOnce)} (sent at ${n(r.settings.pendingPerSecond ?? 0)} calls/s; all pending after ${p.secondsUntilAllPending} s) |`,
  );
  lines.push(
    `| answered correctly | ${n(p.ok)}; lost ${p.lost}, mismatched ${p.mismatched}${Object.keys(p.errors).length ? ` (${JSON.stringify(p.errors)})` : ''} |`,
  );
  lines.push(
    `| api resident memory | ${p.rssBeforeMiB} MiB → ${p.rssConnectedMiB} MiB with the connections open → ${p.rssPendingMiB} MiB with every call pending: **${p.kibPerPendingCall} KiB per pending call**, its connection included (the idle connection alone: ${p.kibPerIdleConnection} KiB) |`,
  );
  lines.push(`| api V8 heap in use (live and not yet collected) | ${p.heapUsedMiB.join(' MiB → ')} MiB |`);
  lines.push('');
  lines.push(`### Horizontal: api pods and ingest replicas, ${r.settings.inFlight} in flight`);
  lines.push('');
  lines.push('| api pods | ingest replicas | calls/s | p50 | p99 | lost |');
  lines.push('|---|---|---|---|---|---|');
  for (const s of r.scale)
    lines.push(
      `| ${s.apis} | ${s.ingests} | ${n(s.result.perSecond)} | ${ms(s.result.latency.p50)} | ${ms(s.result.latency.p99)} | ${fails(s.result)} |`,
    );
  lines.push('');
  const rl = r.rateLimited;
  lines.push(
    `With both rate limits on (per key and per device, set high enough never to refuse; the tables above run without them): ` +
      `${rl.redisRoundTripsPerCall} Redis commands per call, serial p50 ${ms(rl.serial.latency.p50)}, ${n(rl.closed.perSecond)} calls/s at ${r.settings.inFlight} in flight (p99 ${ms(rl.closed.latency.p99)}).`,
  );
  lines.push('');
  if (r.serialSteps) {
    lines.push(
      `### Where one serial call's time goes (a second api and ingest under a socket trace; serial p50 ${ms(r.serialSteps.rrpcSerialP50Ms)})`,
    );
    lines.push('');
    lines.push(renderSteps(r.serialSteps).trimEnd());
    lines.push('');
  }
  lines.push('### Targets (issue 6)');
  lines.push('');
  const serialRatio = r.rrpc.serial.latency.p50 / r.mqtt.serial.latency.p50;
  const share = r.rrpc.closed.perSecond / r.mqtt.closed.perSecond;
  lines.push('| target | measured | |');
  lines.push('|---|---|---|');
  lines.push(`| serial p50 ≤ 2.5 × raw MQTT p50 | ${serialRatio.toFixed(2)} × | ${check(serialRatio <= 2.5)} |`);
  lines.push(
    `| ≥ 3,000 calls/s at ${r.settings.inFlight} in flight | ${n(r.rrpc.closed.perSecond)}/s | ${check(r.rrpc.closed.perSecond >= 3000)} |`,
  );
  lines.push(`| ≥ 25 % of raw MQTT throughput | ${(share * 100).toFixed(0)} % | ${check(share >= 0.25)} |`);
  lines.push(`| ≤ 2 Redis round trips per call | ${c.redisRoundTripsPerCall} | ${check(c.redisRoundTripsPerCall <= 2.005)} |`);
  lines.push(
    `| ${n(p.calls)} pending, no errors, ≤ 8 KiB each | ${n(p.ok)} ok, ${p.kibPerPendingCall} KiB | ${check(p.ok === p.calls && p.kibPerPendingCall <= 8)} |`,
  );
  lines.push(`| zero lost or mismatched answers | ${r.lostOrMismatched} | ${check(r.lostOrMismatched === 0)} |`);
  lines.push('');
  if (r.profile) {
    const t = r.profile.top;
    lines.push(`### api CPU profile: top self time (busy ${n(t.busyMs)} ms, of which GC ${n(t.gcMs)} ms)`);
    lines.push('');
    lines.push('| self % | self ms | function | where |');
    lines.push('|---|---|---|---|');
    for (const e of t.entries.slice(0, 15)) lines.push(`| ${e.percent} | ${e.selfMs} | \`${e.function}\` | ${e.where} |`);
    lines.push('');
  }
  return lines.join('\n') + '\n';
}
