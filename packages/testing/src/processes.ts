import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, portOpen, waitFor } from './free-port.js';

/** A server process the tests own: started on a free port, killable and restartable for fault tests. */
export interface ManagedServer {
  readonly port: number;
  readonly url: string;
  readonly pid: number | undefined;
  kill(signal?: NodeJS.Signals): Promise<void>;
  signal(signal: NodeJS.Signals): void;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function which(binary: string, hint: string): string {
  for (const candidate of [binary, `/usr/sbin/${binary}`, `/usr/bin/${binary}`, `/usr/local/bin/${binary}`]) {
    const found = spawnSync('sh', ['-c', `command -v ${candidate}`], { encoding: 'utf8' });
    if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  }
  throw new Error(`${binary} not found: ${hint}`);
}

async function manage(name: string, command: string, args: string[], port: number, url: string, dir: string): Promise<ManagedServer> {
  let child: ChildProcess | undefined;
  let output = '';
  const start = async () => {
    output = '';
    child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<never>((_, reject) =>
      child?.once('exit', (code) => reject(new Error(`${name} exited (${code}) during start:\n${output}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([waitFor(() => portOpen(port), 10_000, `${name} on port ${port}`), exited]);
  };
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    await gone;
  };
  await start();
  return {
    port,
    url,
    get pid() {
      return child?.pid;
    },
    kill,
    signal: (signal) => {
      child?.kill(signal);
    },
    restart: async () => {
      await kill('SIGKILL');
      await start();
    },
    stop: async () => {
      if (child && child.signalCode === 'SIGSTOP') child.kill('SIGCONT');
      await kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A private redis-server on a free port (never the machine's shared one). */
export async function startRedis(extraArgs: string[] = []): Promise<ManagedServer> {
  const binary = which('redis-server', 'install it (Debian: apt-get install redis-server)');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'rrpc-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--maxmemory-policy',
    'noeviction',
    ...extraArgs,
  ];
  return manage('redis-server', binary, args, port, `redis://127.0.0.1:${port}`, dir);
}

/** A private mosquitto (MQTT 5, shared subscriptions, TCP_NODELAY) on a free port. */
export async function startMosquitto(): Promise<ManagedServer> {
  const binary = which('mosquitto', 'install it (Debian: apt-get install mosquitto)');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'rrpc-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'set_tcp_nodelay true',
      'persistence false',
      'max_queued_messages 100000',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  );
  return manage('mosquitto', binary, ['-c', conf], port, `mqtt://127.0.0.1:${port}`, dir);
}
