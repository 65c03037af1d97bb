/** A private redis-server child process on a free port, from the machine's own binary. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@rrpc/testing';
import { startChild, type Child } from './child-process.js';

/** A program the local cluster needs is not installed; the message says how to get it. */
export class MissingDependencyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingDependencyError';
  }
}

export function findRedisServer(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  return ['/usr/bin/redis-server', '/usr/sbin/redis-server', '/usr/local/bin/redis-server', '/opt/homebrew/bin/redis-server'].find((p) =>
    existsSync(p),
  );
}

export const REDIS_MISSING =
  'redis-server was not found on this machine. Install it:\n' +
  '    sudo apt-get install redis-server        (Debian, Ubuntu)\n' +
  '    brew install redis                       (macOS)\n' +
  'or use a Redis you already run:\n' +
  '    REDIS_URL=redis://127.0.0.1:6379 npm start';

export async function startRedisServer(logFile: string): Promise<Child & { url: string; port: number }> {
  const binary = findRedisServer();
  if (binary === undefined) throw new MissingDependencyError(REDIS_MISSING);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'rrpc-local-redis-'));
  const child = await startChild({
    name: 'redis-server',
    command: binary,
    args: [
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
    ],
    env: process.env,
    logFile,
    readyPort: port,
    cleanup: [dir],
  });
  return Object.assign(child, { url: `redis://127.0.0.1:${port}`, port });
}
