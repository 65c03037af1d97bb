import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SECRETS_KEY, freePort, startMosquitto, startRedis, waitFor, type ManagedServer } from '@rrpc/testing';

/** The built services as real processes: start-up validation, readiness, SIGTERM. */
const root = new URL('..', import.meta.url).pathname;
let redis: ManagedServer;
let mosquitto: ManagedServer;

beforeAll(async () => {
  [redis, mosquitto] = await Promise.all([startRedis(), startMosquitto()]);
});
afterAll(async () => {
  await Promise.all([redis.stop(), mosquitto.stop()]);
});

function run(service: string, env: Record<string, string>) {
  return spawnSync(process.execPath, [`services/${service}/dist/main.js`], {
    cwd: root,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    encoding: 'utf8',
    timeout: 15_000,
  });
}

describe('start-up configuration', () => {
  it('refuses to start without API keys, saying how to fix it', () => {
    const r = run('api', { REDIS_URL: redis.url, MQTT_URL: mosquitto.url });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('RRPC_API_KEYS');
    expect(r.stderr).toContain('RRPC_AUTH_DISABLED=true');
  });

  it('refuses to start the ingest without a webhook token', () => {
    const r = run('response-ingest', { REDIS_URL: redis.url, MQTT_URL: mosquitto.url });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('RRPC_WEBHOOK_TOKEN');
  });

  it('lists every bad variable at once', () => {
    const r = run('api', { REDIS_URL: 'http://nope', PORT: '99999', LOG_LEVEL: 'loud', RRPC_API_KEYS: 'k'.repeat(20) });
    expect(r.status).toBe(1);
    for (const name of ['REDIS_URL', 'PORT', 'LOG_LEVEL']) expect(r.stderr).toContain(name);
  });

  it('fails clearly when Redis cannot be reached', () => {
    const r = run('api', {
      REDIS_URL: 'redis://127.0.0.1:1',
      MQTT_URL: mosquitto.url,
      RRPC_API_KEYS: 'k'.repeat(20),
      RRPC_SECRETS_KEY: Buffer.alloc(32, 5).toString('base64'),
      REDIS_COMMAND_TIMEOUT_MS: '200',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot start: .*Redis/);
  });
});

describe('running services', () => {
  it('become ready, log JSON, and exit 0 on SIGTERM', async () => {
    for (const service of ['api', 'response-ingest']) {
      const port = await freePort();
      const child = spawn(process.execPath, [`services/${service}/dist/main.js`], {
        cwd: root,
        env: {
          PATH: process.env['PATH'] ?? '',
          REDIS_URL: redis.url,
          MQTT_URL: mosquitto.url,
          PORT: String(port),
          RRPC_API_KEYS: 'k'.repeat(20),
          RRPC_WEBHOOK_TOKEN: 't'.repeat(20),
          RRPC_SECRETS_KEY: TEST_SECRETS_KEY,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 15_000, `${service} ready`);
      const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { service: string; msg: string });
      expect(lines.some((l) => l.service === service && l.msg.includes('listening'))).toBe(true);
      expect(lines.some((l) => l.msg === 'stopped')).toBe(true);
    }
  });
});
