/**
 * The image recipe, exercised without Docker: the Dockerfile is replayed stage by stage
 * (test/support/docker-replay.ts) on exactly the files its COPY lines and .dockerignore select, with
 * its own install and build commands; then each service starts from the replayed runtime stage, with
 * docker-compose.yml's environment for it (hosts pointed at the harness's private Redis and broker),
 * and compose's own healthcheck command must pass. Redis runs with compose's redis command line.
 *
 * This is what catches a build that cannot work in the image (e.g. the root tsconfig referencing a
 * directory .dockerignore leaves out: TS5083), which reading the Dockerfile's text cannot.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startMosquitto, startRedis, waitFor, type ManagedServer } from '@rrpc/testing';
import { repoRoot } from './deployment-support.js';
import { dockerignore, parseDockerfile, replayDockerfile, type ReplayResult } from './support/docker-replay.js';

interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
}
const compose = parseYaml(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const SERVICES = ['api', 'response-ingest', 'worker'] as const;

/** A secret an operator must set, as a test value of the form that secret takes (the secrets key is 32 bytes in base64). */
const testSecret = (name: string) =>
  name === 'RRPC_SECRETS_KEY' ? Buffer.alloc(32, 3).toString('base64') : `replay-${name.toLowerCase()}`.padEnd(40, 'x');
/** Compose's `${VAR:?msg}` (a value the operator must set: a generated test secret) and `${VAR:-default}`. */
const interpolate = (value: string) =>
  value.replace(/\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}/g, (_m, name: string, kind?: string, rest?: string) =>
    kind === '?' ? testSecret(name) : kind === '-' ? (rest ?? '') : '',
  );

describe('the replay reads Docker files as Docker does', () => {
  it('.dockerignore: `**/x` at any depth, a directory takes its contents, `!` re-includes', () => {
    const ignored = dockerignore('**/node_modules\nbench\n*.log\n!keep.log\n');
    expect(ignored('node_modules')).toBe(true);
    expect(ignored('packages/a/node_modules/x/index.js')).toBe(true);
    expect(ignored('bench/src/run.ts')).toBe(true);
    expect(ignored('benchmark')).toBe(false);
    expect(ignored('a.log')).toBe(true);
    expect(ignored('keep.log')).toBe(false);
    expect(ignored('packages/a.log')).toBe(false);
  });
  it('the Dockerfile: stages, joined continuation lines, comment lines inside a RUN dropped', () => {
    const { stages, globalArgs } = parseDockerfile(dockerfile);
    expect(stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
    expect(Object.keys(globalArgs)).toContain('NODE_IMAGE');
    const run = stages[0]!.instructions.find((i) => i.op === 'RUN')!.args;
    expect(run).toContain('npm ci');
    expect(run).not.toContain('#');
  });
});

describe('Dockerfile replayed without Docker', () => {
  let work: string;
  let redis: ManagedServer;
  let mqtt: ManagedServer;
  const images: Partial<Record<(typeof SERVICES)[number], ReplayResult>> = {};
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rrpc-docker-replay-'));
    // compose's redis command line (minus the binary), on the harness's private server.
    const redisCommand = compose.services['redis']!.command!;
    expect(redisCommand[0]).toBe('redis-server');
    [redis, mqtt] = await Promise.all([startRedis(redisCommand.slice(1)), startMosquitto()]);
    // The build and deps stages do not depend on SERVICE: replay them once, the runtime stage per service.
    const runEnv = { npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' };
    const first = replayDockerfile(dockerfile, { contextDir: repoRoot, workDir: join(work, 'api'), buildArgs: { SERVICE: 'api' }, runEnv });
    images.api = first;
    for (const service of SERVICES.slice(1)) {
      images[service] = replayDockerfile(dockerfile, {
        contextDir: repoRoot,
        workDir: join(work, service),
        buildArgs: { SERVICE: service },
        runEnv,
        reuse: { build: first.roots['build']!, deps: first.roots['deps']! },
      });
    }
  }, 240_000);

  afterAll(async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    );
    await Promise.all([redis?.stop(), mqtt?.stop()]);
    if (work) rmSync(work, { recursive: true, force: true });
  }, 90_000);

  it('keeps what runs and nothing else: compiled output and the Lua scripts, no sources, tests or dev tools', () => {
    const app = join(images.api!.roots['runtime']!, 'app');
    const has = (p: string) => spawnSync('test', ['-e', join(app, p)]).status === 0;
    expect(has('services/api/dist/main.js')).toBe(true);
    expect(has('packages/store/lua')).toBe(true);
    expect(has('services/api/src')).toBe(false);
    expect(has('node_modules/typescript')).toBe(false);
    expect(has('node_modules/vitest')).toBe(false);
    expect(has('bench')).toBe(false);
    expect(readFileSync(join(app, 'main.mjs'), 'utf8')).toContain('./services/api/dist/main.js');
  });

  it.each(SERVICES)(
    "%s starts from the replayed image with compose's environment and passes compose's healthcheck",
    async (service) => {
      const image = images[service]!;
      const spec = compose.services[service]!;
      const composePort = Number(interpolate(spec.environment!['PORT']!));
      const port = await freePort();
      const env: Record<string, string> = {
        PATH: process.env['PATH'] ?? '',
        ...Object.fromEntries(Object.entries(spec.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))])),
        ...image.env,
        REDIS_URL: redis.url,
        MQTT_URL: mqtt.url,
        PORT: String(port),
        LOG_LEVEL: 'warn',
      };
      expect(image.env['RRPC_SERVICE']).toBe(service);
      let output = '';
      const child = spawn(image.cmd[0]!, image.cmd.slice(1), {
        cwd: join(image.roots['runtime']!, image.workdir),
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      // compose's healthcheck command, pointed at the port this run listens on, retried as Docker retries it.
      const [kind, ...healthcheck] = spec.healthcheck!.test;
      expect(kind).toBe('CMD');
      const check = healthcheck.map((a) => a.replace(`127.0.0.1:${composePort}/`, `127.0.0.1:${port}/`));
      let healthy = false;
      await waitFor(
        () => {
          if (child.exitCode !== null) return true;
          healthy = spawnSync(check[0]!, check.slice(1), { timeout: 5_000 }).status === 0;
          return healthy;
        },
        30_000,
        `${service}'s compose healthcheck`,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${output}`);
      });
      expect(child.exitCode, output).toBeNull();
      expect(healthy).toBe(true);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      expect(child.exitCode).toBeNull();
    },
    60_000,
  );
});
