/**
 * The processes the bench runs and watches: a mosquitto with a 1-second $SYS tree (for message counts),
 * the api and response-ingest services as `node services/<x>/dist/main.js`, and /proc readings of any pid.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '@rrpc/testing';

const ROOT = new URL('../../', import.meta.url).pathname;
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export interface BenchProcess {
  name: string;
  pid: number;
  url: string;
  port: number;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

function supervise(name: string, child: ChildProcess, port: number, url: string, cleanup: () => void = () => undefined): BenchProcess {
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.on('exit', (code, signal) => {
    if (!stopping && code !== 0) process.stderr.write(`\n[bench] ${name} exited (${code ?? signal}):\n${output}\n`);
  });
  let stopping = false;
  return {
    name,
    pid: child.pid ?? 0,
    url,
    port,
    async stop(graceMs = 10_000) {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await gone;
        clearTimeout(timer);
      }
      cleanup();
    },
  };
}

async function portAnswers(url: string): Promise<boolean> {
  const res = await fetch(url);
  return res.status === 200;
}

/** A private mosquitto on a free port: MQTT 5, TCP_NODELAY, and $SYS counters refreshed every second. */
export async function startBenchMosquitto(): Promise<BenchProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'rrpc-bench-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'set_tcp_nodelay true',
      'persistence false',
      'max_queued_messages 100000',
      'sys_interval 1',
      'log_dest stderr',
      'log_type error',
      '',
    ].join('\n'),
  );
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = `mqtt://127.0.0.1:${port}`;
  const net = await import('node:net');
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
      }),
    10_000,
    'mosquitto',
  );
  return supervise('mosquitto', child, port, url, () => rmSync(dir, { recursive: true, force: true }));
}

export interface ServiceOptions {
  service: 'api' | 'response-ingest';
  instanceId: string;
  env: Record<string, string>;
  /** Directory for a V8 CPU profile (--cpu-prof), written when the process exits. */
  cpuProfileDir?: string | undefined;
  /** Another entry point than services/<service>/dist/main.js (experiments). */
  main?: string | undefined;
}

/** One api pod or ingest replica as its own node process; resolves once /readyz answers 200. */
export async function startService(options: ServiceOptions): Promise<BenchProcess> {
  const port = await freePort();
  const args = [
    ...(options.cpuProfileDir
      ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir, '--cpu-prof-name', `${options.instanceId}.cpuprofile`]
      : []),
    options.main ?? join(ROOT, 'services', options.service, 'dist', 'main.js'),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env, PORT: String(port), RRPC_INSTANCE_ID: options.instanceId, LOG_LEVEL: 'warn' },
  });
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`${options.instanceId} exited (${code}) during start`))),
  );
  exited.catch(() => undefined);
  const proc = supervise(options.instanceId, child, port, url);
  await Promise.race([waitFor(() => portAnswers(`${url}/readyz`), 15_000, `${options.instanceId} ready`), exited]);
  return proc;
}

/** utime + stime of a process, seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}

export function openFiles(pid: number): { open: number; limit: number } {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const limit = Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? 1024);
  return { open: readdirSync(`/proc/${pid}/fd`).length, limit };
}

/** Stops each in turn (services before the broker and Redis they use). */
export async function stopInOrder(...items: Array<{ stop(): unknown }>): Promise<void> {
  for (const item of items) await item.stop();
}
