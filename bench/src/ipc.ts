/**
 * Request/answer messages between the bench orchestrator and its child processes (node IPC channel).
 * The parent calls `remote.ask(cmd, args)`; the child registers handlers with `serve({...})`.
 */
import { fork, type ChildProcess } from 'node:child_process';

interface Ask {
  id: number;
  cmd: string;
  args: unknown;
}
interface Answer {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler declares the arguments its ask() sends; `unknown` would not accept them
export type Handlers = Record<string, (args: any) => unknown>;

/** In a child: answers the parent's requests with the given handlers. */
export function serve(handlers: Handlers): void {
  process.on('message', (message: Ask) => {
    const handler = handlers[message.cmd];
    const reply = (answer: Answer) => process.send?.(answer);
    if (!handler) return reply({ id: message.id, ok: false, error: `unknown command ${message.cmd}` });
    Promise.resolve()
      .then(() => handler(message.args))
      .then(
        (value) => reply({ id: message.id, ok: true, value }),
        (error: unknown) =>
          reply({ id: message.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
}

export class Remote {
  private next = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (answer: Answer) => {
      const w = this.waiting.get(answer.id);
      if (!w) return;
      this.waiting.delete(answer.id);
      if (answer.ok) w.resolve(answer.value);
      else w.reject(new Error(`${name}: ${answer.error}`));
    });
    child.on('exit', (code, signal) => {
      for (const w of this.waiting.values()) w.reject(new Error(`${name} exited (${code ?? signal})`));
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  ask<T>(cmd: string, args: unknown = {}): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ id, cmd, args } satisfies Ask);
    });
  }

  stop(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
  }
}

/** Forks one of the bench's own scripts (bench/dist/<script>.js) as a child with an IPC channel. */
export function forkScript(name: string, script: string, argv: string[] = []): Remote {
  const child = fork(new URL(`./${script}.js`, import.meta.url), argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Remote(name, child);
}
