import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { API_KEY, startCluster, WEBHOOK_TOKEN, type TestCluster } from '../../../test/support/cluster.js';
import { registerDevices } from './register-devices.js';
import { DEFAULT_ERROR_PAYLOAD } from './behaviour.js';
import { simulatedDeviceNames, startSimulation, type Simulation } from './simulation.js';

const PK = 'a1Sim';
const b64 = (s: string) => Buffer.from(s).toString('base64');
let cluster: TestCluster;
const simulations: Simulation[] = [];

beforeAll(async () => {
  cluster = await startCluster({ apis: 1, ingests: 1 });
});
afterAll(async () => {
  await Promise.all(simulations.map((s) => s.stop()));
  await cluster.stop();
});

async function simulate(options: Omit<Parameters<typeof startSimulation>[0], 'url' | 'productKey' | 'webhook'>) {
  // A device connects only when it is registered: through the api's import route, as `rrpc-sim --register` does.
  const registration = await registerDevices({
    apiUrl: cluster.apis[0]!.url,
    apiKey: API_KEY,
    productKey: PK,
    deviceNames: simulatedDeviceNames(options.prefix ?? 'sim-', options.devices ?? 1),
  });
  expect(registration.failed).toBe(0);
  const simulation = await startSimulation({
    url: cluster.mosquitto.url,
    productKey: PK,
    webhook: { url: `${cluster.ingests[0]?.url}/hooks/emqx`, token: WEBHOOK_TOKEN },
    ...options,
  });
  simulations.push(simulation);
  return simulation;
}

async function call(deviceName: string, body: Record<string, unknown> = {}) {
  const res = await cluster.call(PK, deviceName, { payload: b64('hello'), timeoutMs: 3000, ...body });
  const json = (await res.json()) as { rrpcCode: string; payload?: string };
  return {
    status: res.status,
    rrpcCode: json.rrpcCode,
    text: json.payload === undefined ? undefined : Buffer.from(json.payload, 'base64').toString(),
  };
}

async function presence(deviceName: string): Promise<string | undefined> {
  const res = await cluster.api(`/v1/devices/${PK}/${deviceName}`);
  return res.status === 200 ? ((await res.json()) as { status: string }).status : undefined;
}

describe('startSimulation', () => {
  it('names devices with a zero-padded index', () => {
    expect(simulatedDeviceNames('sim-', 3)).toEqual(['sim-0001', 'sim-0002', 'sim-0003']);
    expect(simulatedDeviceNames('d', 2, 99_999)).toEqual(['d099999', 'd100000']);
  });

  it('connects echo devices, plays their connected webhooks, and they answer calls', async () => {
    const sim = await simulate({
      devices: 20,
      prefix: 'echo-',
      behaviour: { reply: 'echo' },
      connectRate: 1000,
      customTopics: ['user/get'],
    });
    expect(sim.stats()).toMatchObject({ devices: 20, connected: 20, connects: 20, connectFailures: 0 });
    // Per device: client.connected, then session.subscribed for its system and its custom request filter.
    await waitFor(() => sim.stats().webhooksSent === 60, 5000, 'the connected and subscribed webhooks');
    expect(await presence('echo-0007')).toBe('ONLINE');
    expect(await call('echo-0007')).toMatchObject({ status: 200, text: 'hello' });
    expect(await call('echo-0020', { topic: `/${PK}/echo-0020/user/get`, payload: b64('custom') })).toMatchObject({
      status: 200,
      text: 'custom',
    });
    expect(sim.stats()).toMatchObject({ requests: 2, answers: 2 });

    await sim.stop();
    expect(sim.stats()).toMatchObject({ connected: 0, disconnects: 20, webhooksSent: 80, webhooksFailed: 0 });
    // A clean disconnect (reason normal) is OFFLINE at once; HALFCONN is for abnormal ends (docs/presence.md).
    expect(await presence('echo-0007')).toBe('OFFLINE');
    expect(await call('echo-0007')).toMatchObject({ status: 404, rrpcCode: 'OFFLINE' });
  });

  it('answers with a fixed reply after a delay, with error payloads, or not at all', async () => {
    await simulate({
      devices: 1,
      prefix: 'fixed-',
      behaviour: { reply: 'fixed', fixedPayload: 'FIXED', delay: { kind: 'uniform', minMs: 5, maxMs: 20 } },
    });
    await simulate({ devices: 1, prefix: 'broken-', behaviour: { reply: 'echo', errorRate: 1, errorMode: 'payload' } });
    const silent = await simulate({ devices: 1, prefix: 'silent-', behaviour: { reply: 'silent' } });
    await waitFor(async () => (await presence('silent-0001')) === 'ONLINE', 5000, 'presence');
    expect(await call('fixed-0001')).toMatchObject({ status: 200, text: 'FIXED' });
    expect(await call('broken-0001')).toMatchObject({ status: 200, text: DEFAULT_ERROR_PAYLOAD });
    expect(await call('silent-0001', { timeoutMs: 1000 })).toMatchObject({ status: 504, rrpcCode: 'TIMEOUT' });
    expect(silent.stats()).toMatchObject({ requests: 1, unanswered: 1 });
  });

  it('flaps connections and reports each disconnect and reconnect as a webhook', async () => {
    const sim = await simulate({ devices: 4, prefix: 'flap-', behaviour: { reply: 'echo' }, flapEverySeconds: 2, reconnectPeriodMs: 100 });
    await waitFor(() => sim.stats().disconnects >= 4 && sim.stats().connects >= 8, 10_000, 'every device to flap once');
    const stats = sim.stats();
    await sim.stop();
    expect(stats.connectFailures).toBe(0);
    expect(sim.stats().webhooksFailed).toBe(0);
    // Each connect is followed by a session.subscribed of the device's request filter.
    expect(sim.stats().webhooksSent).toBe(2 * sim.stats().connects + sim.stats().disconnects);
  });
});

const BIN = fileURLToPath(new URL('../bin/rrpc-sim.js', import.meta.url));

function run(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe('rrpc-sim command', () => {
  it('prints help, and exits 2 on a bad option', async () => {
    const help = run(['--help']);
    expect(await help.exited).toBe(0);
    expect(help.output()).toContain('--webhook-url URL');
    const bad = run(['--error-rate', '2']);
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toContain('between 0 and 1');
  });

  it('runs devices until SIGINT, then disconnects them and reports them offline', async () => {
    const sim = run([
      '--url',
      cluster.mosquitto.url,
      '--product-key',
      PK,
      '-n',
      '3',
      '--prefix',
      'cli-',
      '--reply-payload',
      'from-cli',
      '--webhook-url',
      `${cluster.ingests[0]?.url}/hooks/emqx`,
      '--webhook-token',
      WEBHOOK_TOKEN,
      '--stats-interval',
      '0',
      '--register',
      cluster.apis[0]!.url,
      '--api-key',
      API_KEY,
    ]);
    await waitFor(() => sim.output().includes('3 of 3 devices online'), 10_000, `rrpc-sim to connect:\n${sim.output()}`);
    await waitFor(async () => (await presence('cli-0003')) === 'ONLINE', 5000, 'presence from the played webhook');
    expect(await call('cli-0003')).toMatchObject({ status: 200, text: 'from-cli' });
    sim.child.kill('SIGINT');
    expect(await sim.exited).toBe(0);
    expect(sim.output()).toMatch(/stopped\. online 0\/3, .*answered 1.*webhooks 9 sent, 0 failed/);
    expect(await presence('cli-0003')).toBe('OFFLINE'); // a clean disconnect
  });
});
