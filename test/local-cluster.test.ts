/**
 * `npm start` as a user runs it: the launcher as a process of its own, its printed curl pasted into a
 * shell, Ctrl-C (SIGINT), and then nothing it started is left running.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CHILD_SERVICES } from '@rrpc/local-cluster';
import { freePort, startMosquitto, startRedis, waitFor, type ManagedServer } from '@rrpc/testing';

const SERVICES = CHILD_SERVICES.map((s) => s.name);
const START = fileURLToPath(new URL('../packages/local-cluster/dist/start.js', import.meta.url));
const sh = promisify(execFile);
const launched: ChildProcess[] = [];
const servers: ManagedServer[] = [];

afterAll(async () => {
  for (const child of launched) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.stop()));
});

function launch(extraEnv: Record<string, string> = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', ...extraEnv };
  for (const name of [
    'MQTT_URL',
    'REDIS_URL',
    'RRPC_API_KEYS',
    'RRPC_WEBHOOK_TOKEN',
    'MQTT_PROTOCOL_VERSION',
    'RRPC_SHARED_SUBSCRIPTION',
    'RRPC_LOCAL_PORT',
    'RRPC_LOCAL_API_KEY',
  ]) {
    if (!(name in extraEnv)) delete env[name];
  }
  const child = spawn(process.execPath, [START], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  launched.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

function field(output: string, label: string): string {
  const match = new RegExp(`^  ${label} +(.+)$`, 'm').exec(output);
  if (!match?.[1]) throw new Error(`no "${label}" line in:\n${output}`);
  return match[1].trim();
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether any process of the child's process group (its guard, the program, the guard's reader) is left. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function upAndCalled(run: ReturnType<typeof launch>) {
  await Promise.race([
    waitFor(() => run.output().includes('Press Ctrl-C to stop everything.'), 25_000, 'the local cluster to come up'),
    run.exited.then((code) => {
      throw new Error(`the launcher exited (${code}):\n${run.output()}`);
    }),
  ]);
  const output = run.output();
  const curls = output
    .split('\n')
    .filter((l) => l.startsWith('  curl '))
    .map((l) => l.trim());
  expect(curls).toHaveLength(3); // call, raw call, device registration
  const pids = [...field(output, 'Processes').matchAll(/(\S+) pid (\d+)/g)].map((m) => ({ name: m[1] as string, pid: Number(m[2]) }));
  return { output, curls, pids, apiUrl: field(output, 'API'), apiKey: field(output, 'API key') };
}

describe('npm start (packages/local-cluster)', () => {
  it('brings up broker, Redis, services and devices on free ports; its curl works; SIGINT leaves nothing running', async () => {
    const run = launch();
    const up = await upAndCalled(run);
    expect(up.output).toContain('the device answered: "hello from npm start"');
    expect(up.pids.map((p) => p.name).sort()).toEqual([...SERVICES, 'redis-server'].sort());
    const apiPort = Number(new URL(up.apiUrl).port);
    const brokerPort = Number(new URL(/MQTT broker +(\S+)/.exec(up.output)?.[1] ?? '').port);
    expect([1883, 6379, 8080]).not.toContain(apiPort);

    // The printed commands, pasted into a shell.
    const json = JSON.parse((await sh('sh', ['-c', up.curls[0] as string])).stdout) as { rrpcCode: string; payload: string };
    expect(json.rrpcCode).toBe('SUCCESS');
    expect(Buffer.from(json.payload, 'base64').toString()).toBe('hello from curl');
    expect((await sh('sh', ['-c', up.curls[1] as string])).stdout).toBe('hello'); // custom topic, raw bytes
    // The registration command targets the api's POST /v1/devices for the demo product.
    expect(up.curls[2]).toBe(
      `curl -sS -X POST '${up.apiUrl}/v1/devices' -H 'Authorization: Bearer ${up.apiKey}' -H 'Content-Type: application/json' -d '{"productKey":"demo"}'`,
    );
    expect(up.output).toContain('logins checked by response-ingest POST /authn/emqx');

    // Presence came from the embedded broker's webhooks.
    const presence = await fetch(`${up.apiUrl}/v1/devices/demo/device-0002`, { headers: { authorization: `Bearer ${up.apiKey}` } });
    expect(await presence.json()).toMatchObject({ status: 'ONLINE', clientId: expect.stringContaining('device-0002|securemode=3') });
    // Subscriptions too (aedes's subscribe hook), and the device that forgot to subscribe gets NOT_SUBSCRIBED at once.
    const subscribed = (await (
      await fetch(`${up.apiUrl}/v1/devices/demo/device-0002`, { headers: { authorization: `Bearer ${up.apiKey}` } })
    ).json()) as { subscriptions: string[] };
    expect(subscribed.subscriptions).toContain('/sys/demo/device-0002/rrpc/request/+');
    const refused = /Calling demo\/forgetful-1 .*\n {2}HTTP 404 (.+)\n/.exec(up.output)?.[1];
    expect(JSON.parse(refused ?? '{}')).toMatchObject({ rrpcCode: 'NOT_SUBSCRIBED', error: { code: 'DEVICE_NOT_SUBSCRIBED' } });

    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('Nothing is left running.');
    await waitFor(() => up.pids.every(({ pid }) => !groupAlive(pid)), 5000, 'every child process to be gone');
    expect(await portOpen(apiPort)).toBe(false);
    expect(await portOpen(brokerPort)).toBe(false);
  });

  it('uses MQTT_URL and REDIS_URL when given, and stops without touching them', async () => {
    const [redis, mosquitto] = await Promise.all([startRedis(), startMosquitto()]);
    servers.push(redis, mosquitto);
    const run = launch({ REDIS_URL: redis.url, MQTT_URL: mosquitto.url });
    const up = await upAndCalled(run);
    expect(up.output).toContain(`redis           ${redis.url} (from REDIS_URL)`);
    expect(up.output).toContain(`MQTT broker     ${mosquitto.url} (from MQTT_URL`);
    expect(up.output).toContain('the device answered: "hello from npm start"');
    expect(up.pids.map((p) => p.name).sort()).toEqual([...SERVICES].sort());

    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    for (const { name, pid } of up.pids) expect(alive(pid), `${name} (pid ${pid})`).toBe(false);
    expect(await portOpen(redis.port)).toBe(true);
    expect(await portOpen(mosquitto.port)).toBe(true);
  });

  it('a fixed port and key (RRPC_LOCAL_PORT, RRPC_LOCAL_API_KEY); SIGKILLed, its children notice and stop', async () => {
    const port = await freePort();
    const key = 'my-fixed-local-key-0123';
    const run = launch({ RRPC_LOCAL_PORT: String(port), RRPC_LOCAL_API_KEY: key });
    const up = await upAndCalled(run);
    expect(up.apiUrl).toBe(`http://127.0.0.1:${port}`);
    expect(up.apiKey).toBe(key);
    expect(up.output).toContain('the device answered: "hello from npm start"');

    run.child.kill('SIGKILL'); // no chance to stop anything itself
    await run.exited;
    await waitFor(() => up.pids.every(({ pid }) => !groupAlive(pid)), 20_000, 'every child of the killed launcher to stop');
    expect(await portOpen(port)).toBe(false);
  }, 60_000);

  it('Redis dies: the launcher stops everything promptly and exits non-zero', async () => {
    const run = launch();
    const up = await upAndCalled(run);
    const redis = up.pids.find((p) => p.name === 'redis-server')!;
    const started = Date.now();
    process.kill(-redis.pid, 'SIGKILL'); // redis-server and its guard: a crash
    const code = await run.exited;
    expect(code).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000); // each service gets 3 s, together (was ~20 s, in turn)
    expect(run.output()).toContain('redis-server exited unexpectedly');
    await waitFor(() => up.pids.every(({ pid }) => !groupAlive(pid)), 5000, 'every child process to be gone');
  }, 60_000);
});
