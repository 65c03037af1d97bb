/**
 * The built services as real processes for fault injection: `node services/<name>/dist/main.js`, each
 * with its own port and instance id, killable with any signal and restartable with the same settings.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '@rrpc/testing';

const root = new URL('../../..', import.meta.url).pathname;

export interface ServiceProcess {
  readonly name: string;
  readonly url: string;
  readonly alive: boolean;
  /** The last lines the process wrote (JSON logs), for failure messages. */
  output(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Starts it again (same port and instance id) and waits until /readyz says ready. */
  start(): Promise<void>;
}

export async function startService(
  service: 'api' | 'response-ingest',
  instanceId: string,
  env: Record<string, string>,
): Promise<ServiceProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let log: string[] = [];
  const proc: ServiceProcess = {
    name: instanceId,
    url,
    get alive() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    output: () => log.slice(-20).join('\n'),
    async kill(signal) {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill(signal);
      await gone;
    },
    async start() {
      log = [];
      child = spawn(process.execPath, [`services/${service}/dist/main.js`], {
        cwd: root,
        env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'warn', ...env, PORT: String(port), RRPC_INSTANCE_ID: instanceId },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const keep = (d: Buffer) => {
        log.push(...d.toString().trim().split('\n'));
        if (log.length > 200) log.splice(0, log.length - 200);
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      const until = Date.now() + 20_000;
      for (;;) {
        if (!proc.alive) throw new Error(`${instanceId} exited during start:\n${proc.output()}`);
        if ((await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200) return;
        if (Date.now() > until) throw new Error(`${instanceId} not ready after 20 s:\n${proc.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
  await proc.start();
  return proc;
}
