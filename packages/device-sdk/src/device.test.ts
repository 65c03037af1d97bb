import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { parseClientId } from '@rrpc/topics';
import { startCluster, type TestCluster } from '../../../test/support/cluster.js';
import { connectDevice, createDevice, RrpcHandlerError, type RrpcDevice } from './index.js';

const PK = 'a1Sdk';
const SECRET = 'device-secret-for-tests';
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

let cluster: TestCluster;
const devices: RrpcDevice[] = [];

beforeAll(async () => {
  cluster = await startCluster({ apis: 1, ingests: 1 });
});
afterAll(async () => {
  await Promise.all(devices.map((d) => d.disconnect()));
  await cluster.stop();
});

function track(device: RrpcDevice): RrpcDevice {
  devices.push(device);
  return device;
}

async function call(deviceName: string, body: Record<string, unknown>) {
  const res = await cluster.call(PK, deviceName, { timeoutMs: 3000, ...body });
  const json = (await res.json()) as { rrpcCode: string; messageId: string; payload?: string };
  return { status: res.status, ...json, text: json.payload === undefined ? undefined : Buffer.from(json.payload, 'base64').toString() };
}

describe('device SDK against a running cluster', () => {
  it('answers system-topic calls with the handler result, signed the Alibaba way', async () => {
    const seen: string[] = [];
    const device = track(
      await connectDevice({
        url: cluster.mosquitto.url,
        productKey: PK,
        deviceName: 'sdk-sys-1',
        deviceSecret: SECRET,
        signMethod: 'hmacsha256',
      }),
    );
    await device.onRrpc((payload, ctx) => {
      seen.push(ctx.messageId);
      return `got ${payload.toString()}`;
    });
    expect(parseClientId(device.clientId ?? '')).toMatchObject({
      id: `${PK}.sdk-sys-1`,
      ext: false,
      params: { securemode: '3', signmethod: 'hmacsha256' },
    });
    expect(device.client?.options.password).toMatch(/^[0-9a-f]{64}$/);
    await cluster.connectDevice(PK, 'sdk-sys-1');

    const answer = await call('sdk-sys-1', { payload: b64('ping') });
    expect(answer).toMatchObject({ status: 200, rrpcCode: 'SUCCESS', text: 'got ping' });
    expect(seen).toEqual([answer.messageId]);
  });

  it('answers custom-topic calls once although it hears its own answer, with ext=1 declared before connect', async () => {
    const device = track(createDevice({ url: cluster.mosquitto.url, productKey: PK, deviceName: 'sdk-ext-1' }));
    const calls: Array<{ messageId: string; customTopic: string | undefined }> = [];
    await device.onRrpc('user/get', (payload, ctx) => {
      calls.push({ messageId: ctx.messageId, customTopic: ctx.customTopic });
      return Buffer.concat([Buffer.from('custom:'), payload]);
    });
    await device.connect();
    expect(parseClientId(device.clientId ?? '').ext).toBe(true);
    await cluster.connectDevice(PK, 'sdk-ext-1');

    const answer = await call('sdk-ext-1', { payload: b64('x'), topic: `/${PK}/sdk-ext-1/user/get` });
    expect(answer).toMatchObject({ status: 200, rrpcCode: 'SUCCESS', text: 'custom:x' });
    // The answer went out on the request's own topic: the device heard it and did not answer it again.
    await waitFor(
      () => cluster.published.filter((t) => t.includes(answer.messageId)).length >= 2,
      2000,
      'request and answer on the broker',
    );
    expect(calls).toEqual([{ messageId: answer.messageId, customTopic: `/${PK}/sdk-ext-1/user/get` }]);
  });

  it('reconnects with ext=1 when a custom topic is registered after connecting', async () => {
    const device = track(await connectDevice({ url: cluster.mosquitto.url, productKey: PK, deviceName: 'sdk-ext-2' }));
    await device.onRrpc(() => 'system');
    expect(parseClientId(device.clientId ?? '').ext).toBe(false);
    await device.onRrpc(`/${PK}/sdk-ext-2/user/set`, () => 'custom');
    expect(parseClientId(device.clientId ?? '').ext).toBe(true);
    await cluster.connectDevice(PK, 'sdk-ext-2');

    expect(await call('sdk-ext-2', { payload: b64('a'), topic: `/${PK}/sdk-ext-2/user/set` })).toMatchObject({
      status: 200,
      text: 'custom',
    });
    expect(await call('sdk-ext-2', { payload: b64('b') })).toMatchObject({ status: 200, text: 'system' });
  });

  it('rejects a custom topic of another device', async () => {
    const device = createDevice({ url: cluster.mosquitto.url, productKey: PK, deviceName: 'sdk-ext-3' });
    await expect(device.onRrpc(`/${PK}/someone-else/user/get`, () => 'x')).rejects.toThrow(/must start with/);
  });

  it('reports a failing handler through the error event, sends no answer and keeps serving', async () => {
    const device = track(await connectDevice({ url: cluster.mosquitto.url, productKey: PK, deviceName: 'sdk-err-1' }));
    const errors: Error[] = [];
    device.on('error', (error) => errors.push(error));
    // eslint-disable-next-line @typescript-eslint/require-await -- async on purpose: the throw becomes a rejection, the case under test
    await device.onRrpc(async (payload) => {
      if (payload.toString() === 'boom') throw new Error('handler exploded');
      return 'fine';
    });
    await cluster.connectDevice(PK, 'sdk-err-1');

    const failed = await call('sdk-err-1', { payload: b64('boom'), timeoutMs: 1000 });
    expect(failed).toMatchObject({ status: 504, rrpcCode: 'TIMEOUT' });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(RrpcHandlerError);
    expect(errors[0]).toMatchObject({ messageId: failed.messageId, message: expect.stringContaining('handler exploded') });

    expect(await call('sdk-err-1', { payload: b64('ok') })).toMatchObject({ status: 200, text: 'fine' });
  });

  it('resubscribes after the broker restarts, and calls work again', async () => {
    const device = track(
      await connectDevice({ url: cluster.mosquitto.url, productKey: PK, deviceName: 'sdk-recon-1', reconnectPeriodMs: 100 }),
    );
    await device.onRrpc((payload) => `again ${payload.toString()}`);
    await device.onRrpc('user/ping', () => 'pong');
    await cluster.connectDevice(PK, 'sdk-recon-1');
    expect(await call('sdk-recon-1', { payload: b64('1') })).toMatchObject({ status: 200, text: 'again 1' });

    let reconnects = 0;
    device.on('connect', () => reconnects++);
    await cluster.mosquitto.restart(); // a new mosquitto: every subscription is gone
    await waitFor(() => reconnects > 0 && device.ready, 10_000, 'the device to reconnect and resubscribe');
    // The services reconnect on their own schedule: retry until the whole path is back.
    await waitFor(
      async () => (await call('sdk-recon-1', { payload: b64('2'), timeoutMs: 1000 })).status === 200,
      15_000,
      'a call after the restart',
    );
    expect(await call('sdk-recon-1', { payload: b64('3') })).toMatchObject({ status: 200, text: 'again 3' });
    expect(await call('sdk-recon-1', { payload: b64('4'), topic: `/${PK}/sdk-recon-1/user/ping` })).toMatchObject({
      status: 200,
      text: 'pong',
    });
  });

  it('keeps an answer produced while the broker is gone and sends it on reconnect: the call succeeds', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let asked = false;
    const device = track(
      await connectDevice({ url: cluster.mosquitto.url, productKey: PK, deviceName: 'sdk-queue-1', reconnectPeriodMs: 1000 }),
    );
    await device.onRrpc(async (payload) => {
      asked = true;
      await gate;
      return `late ${payload.toString()}`;
    });
    await cluster.connectDevice(PK, 'sdk-queue-1');
    const answer = call('sdk-queue-1', { payload: b64('q'), timeoutMs: 20_000 });
    await waitFor(() => asked, 10_000, 'the request to reach the handler');
    await cluster.mosquitto.kill('SIGKILL');
    await waitFor(() => !device.ready, 5000, 'the device to notice');
    release(); // the answer is produced while disconnected
    await waitFor(() => device.queuedAnswerCount === 1, 5000, 'the answer to be kept');
    await cluster.mosquitto.restart();
    expect(await answer).toMatchObject({ status: 200, rrpcCode: 'SUCCESS', text: 'late q' });
    expect(device.queuedAnswerCount).toBe(0);
  }, 60_000);
});
