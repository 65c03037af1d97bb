/**
 * examples/device.mjs runs as docs/examples.md says: a process of its own, pointed at a broker, answering
 * calls made through the api on its system topic and its custom topic, and stopping on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { startCluster, type TestCluster } from './support/cluster.js';

const EXAMPLE = fileURLToPath(new URL('../examples/device.mjs', import.meta.url));
const PK = 'a1Example';
const DN = 'example-1';
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ apis: 1, ingests: 1 });
});
afterAll(async () => {
  await cluster.stop();
});

describe('examples/device.mjs', () => {
  it('answers calls on its system and custom topics, and stops on SIGINT', async () => {
    const child = spawn(process.execPath, [EXAMPLE], {
      env: { PATH: process.env['PATH'] ?? '', MQTT_URL: cluster.mosquitto.url, PRODUCT_KEY: PK, DEVICE_NAME: DN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => output.includes(`ready: ${PK}/${DN}`) || child.exitCode !== null, 15_000, 'the example to connect');
      expect(output).toContain(`ready: ${PK}/${DN} on ${cluster.mosquitto.url}`);
      await cluster.connectDevice(PK, DN);

      const res = await cluster.call(PK, DN, { payload: Buffer.from('hello device').toString('base64'), timeoutMs: 5000 });
      const body = (await res.json()) as { rrpcCode: string; payload: string };
      expect(res.status).toBe(200);
      expect(Buffer.from(body.payload, 'base64').toString()).toBe('ecived olleh');
      expect(output).toMatch(/call \d+: "hello device"/);

      const time = await cluster.call(PK, DN, { payload: '', topic: `/${PK}/${DN}/user/time`, timeoutMs: 5000 });
      const timeBody = (await time.json()) as { payload: string };
      expect(time.status).toBe(200);
      expect(Number.isNaN(Date.parse(Buffer.from(timeBody.payload, 'base64').toString()))).toBe(false);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });
});
