/**
 * A child process the local cluster owns: output to a log file (warnings and errors of pino services also
 * to the terminal), ready when its port answers, stopped with SIGTERM (SIGKILL after a grace period).
 * Each child runs in its own process group, so Ctrl-C reaches only the launcher, which stops the
 * children in order.
 *
 * A launcher that is killed outright (SIGKILL) cannot stop anything, so every child runs under a small
 * `sh` guard that holds the read end of a pipe from the launcher: when the launcher is gone the pipe
 * closes, and the guard sends the child SIGTERM (a graceful stop). The guard leads the child's process
 * group; the grace-period SIGKILL goes to the whole group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, rmSync } from 'node:fs';
import { portOpen, waitFor as waitUntil } from '@rrpc/testing';

export interface ChildOptions {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  /** Ready when this port accepts connections... */
  readyPort?: number;
  /** ...or when this URL answers 200. */
  readyUrl?: string;
  readyTimeoutMs?: number;
  /** Directories removed after the process exits. */
  cleanup?: string[];
  /** Called with each pino log line at warn level or above. */
  onWarning?: (name: string, line: string) => void;
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Set when the process exited. */
  readonly exited: Promise<number | null>;
  running(): boolean;
  stop(graceMs?: number): Promise<void>;
}

/** A log line of a pino service, shortened for the terminal, if its level is warn (40) or above. */
export function warningLine(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
    if ((entry.level ?? 0) < 40) return undefined;
    const level = (entry.level ?? 0) >= 50 ? 'ERROR' : 'WARN';
    return `${level} ${entry.msg ?? ''}${entry.err?.message ? `: ${entry.err.message}` : ''}`;
  } catch {
    return undefined;
  }
}

/** Every child still running, for a last-moment SIGKILL when the launcher exits without a clean stop. */
const live = new Set<ChildProcess>();

export function killAllChildren(): void {
  for (const child of live) killGroup(child, 'SIGKILL');
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    child.kill(signal); // the group is gone already
  }
}

/**
 * The guard: runs "$@" in the background; SIGTERM/SIGINT are passed on; end of input (the launcher died)
 * becomes SIGTERM, and SIGKILL 10 s later (the launcher's own grace period); exits with the child's status. fd 3 keeps the launcher's pipe, since a background
 * list of a non-interactive shell gets /dev/null as its input.
 */
const GUARD =
  'exec 3<&0; "$@" & c=$!; trap \'kill -TERM $c 2>/dev/null\' TERM INT; { cat <&3 >/dev/null; kill -TERM $c 2>/dev/null; i=0; while kill -0 $c 2>/dev/null && [ $i -lt 10 ]; do sleep 1; i=$((i+1)); done; kill -KILL $c 2>/dev/null; } & w=$!; ' +
  'wait $c; s=$?; while kill -0 $c 2>/dev/null; do wait $c; s=$?; done; kill $w 2>/dev/null; exit $s';

export async function startChild(options: ChildOptions): Promise<Child> {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn('/bin/sh', ['-c', GUARD, 'rrpc-guard', options.command, ...options.args], {
    env: options.env,
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdin?.on('error', () => undefined); // never written: only its closing matters
  live.add(child);
  let tail = '';
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    const text = chunk.toString();
    tail = (tail + text).slice(-4000);
    if (options.onWarning) {
      for (const line of text.split('\n')) {
        const warning = warningLine(line);
        if (warning !== undefined) options.onWarning(options.name, warning);
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      child.stdin?.destroy(); // the guard's reader ends with it
      log.end();
      for (const dir of options.cleanup ?? []) rmSync(dir, { recursive: true, force: true });
      resolve(code ?? (signal ? 128 : null));
    });
  });
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (error) => reject(new Error(`${options.name}: cannot start ${options.command}: ${error.message}`))),
  );
  spawnError.catch(() => undefined);
  if (child.pid === undefined) await spawnError;
  const running = () => child.exitCode === null && child.signalCode === null;
  const handle: Child = {
    name: options.name,
    pid: child.pid as number,
    process: child,
    exited,
    running,
    async stop(graceMs = 10_000) {
      if (!running()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  const died = exited.then((code) => {
    throw new Error(`${options.name} exited (code ${code}) while starting:\n${tail.trim()}`);
  });
  died.catch(() => undefined);
  const ready = async () => {
    if (options.readyUrl !== undefined) return (await fetch(options.readyUrl, { signal: AbortSignal.timeout(1000) })).ok;
    if (options.readyPort !== undefined) return portOpen(options.readyPort);
    return true;
  };
  try {
    await Promise.race([waitUntil(ready, options.readyTimeoutMs ?? 20_000, `${options.name} to be ready`), died, spawnError]);
  } catch (error) {
    await handle.stop(1000);
    throw error;
  }
  return handle;
}
