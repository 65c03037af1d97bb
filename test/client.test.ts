import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeviceDisabledError,
  DeviceNotFoundError,
  DeviceOfflineError,
  DeviceTimeoutError,
  InvalidArgumentError,
  NetworkError,
  PayloadTooLargeError,
  RateLimitedError,
  RrpcClient,
  RrpcClientError,
  UnauthenticatedError,
  UnavailableError,
} from '@rrpc/client';
import { freePort, waitFor } from '@rrpc/testing';
import { API_KEY, connectedEvent, startCluster, type TestCluster } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';

/** @rrpc/client against a running cluster: answers, every error class, presence and stored outcomes. */
const PK = 'a1Client';
const MAX_PAYLOAD = 4096;
let cluster: TestCluster;
let rrpc: RrpcClient;
const devices: TestDevice[] = [];

beforeAll(async () => {
  cluster = await startCluster({ env: { RRPC_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD), REDIS_COMMAND_TIMEOUT_MS: '500' } });
  rrpc = new RrpcClient({ baseUrl: cluster.apis[0]!.url, apiKey: API_KEY });
  devices.push(
    await startDevice(cluster.mosquitto.url, PK, 'echo-1', ({ payload, messageId }) =>
      Buffer.concat([Buffer.from(`${messageId}:`), payload]),
    ),
  );
  devices.push(await startDevice(cluster.mosquitto.url, PK, 'silent-1', () => undefined));
  devices.push(
    await startDevice(cluster.mosquitto.url, PK, 'custom-1', ({ topic, payload }) => `${topic}|${payload.toString()}`, [
      `/${PK}/custom-1/user/ping`,
    ]),
  );
  for (const name of ['echo-1', 'silent-1', 'custom-1']) await cluster.connectDevice(PK, name);
});
afterAll(async () => {
  await Promise.all(devices.map((d) => d.close()));
  await cluster.stop();
});

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('call', () => {
  it('returns the answer as a Buffer with the 64-bit message ID as a string', async () => {
    const result = await rrpc.call({ productKey: PK, deviceName: 'echo-1', payload: 'hello', timeoutMs: 5000 });
    expect(typeof result.messageId).toBe('string');
    expect(BigInt(result.messageId) > 2n ** 53n).toBe(true);
    expect(Buffer.isBuffer(result.payload)).toBe(true);
    expect(result.payload.toString()).toBe(`${result.messageId}:hello`);
    expect(result.durationMs).toBeGreaterThan(0);
  });

  it('sends Buffers and Uint8Array views byte for byte', async () => {
    const backing = new Uint8Array([9, 9, 0, 255, 128, 1, 9]);
    const view = backing.subarray(2, 6); // an offset view: only these 4 bytes may travel
    const fromView = await rrpc.call({ productKey: PK, deviceName: 'echo-1', payload: view });
    expect(fromView.payload.subarray(fromView.messageId.length + 1)).toEqual(Buffer.from([0, 255, 128, 1]));
    const fromBuffer = await rrpc.call({ productKey: PK, deviceName: 'echo-1', payload: Buffer.alloc(0) });
    expect(fromBuffer.payload.toString()).toBe(`${fromBuffer.messageId}:`);
  });

  it('calls on a custom topic', async () => {
    const topic = `/${PK}/custom-1/user/ping`;
    const result = await rrpc.call({ productKey: PK, deviceName: 'custom-1', payload: 'p', topic });
    expect(result.payload.toString()).toBe(`/ext/rrpc/${result.messageId}${topic}|p`);
  });

  it('uses the client-wide default timeout', async () => {
    const quick = new RrpcClient({ baseUrl: cluster.apis[0]!.url, apiKey: API_KEY, timeoutMs: 1000 });
    const error = await rejection(quick.call({ productKey: PK, deviceName: 'silent-1', payload: 'x' }));
    expect(error).toBeInstanceOf(DeviceTimeoutError);
  });
});

describe('typed errors', () => {
  it('DeviceOfflineError OFFLINE for a registered device never seen', async () => {
    await cluster.devices.register([{ productKey: PK, deviceName: 'offline-1' }]);
    const error = await rejection(rrpc.call({ productKey: PK, deviceName: 'offline-1', payload: 'x' }));
    expect(error).toBeInstanceOf(DeviceOfflineError);
    expect(error).toBeInstanceOf(RrpcClientError);
    expect(error).toMatchObject({ code: 'DEVICE_OFFLINE', status: 404, rrpcCode: 'OFFLINE' });
  });

  it('DeviceOfflineError HALFCONN within one keep-alive of a disconnect', async () => {
    await cluster.webhook(connectedEvent(PK, 'half-1', Date.now() - 5000, 30));
    await cluster.disconnectDevice(PK, 'half-1', 'keepalive_timeout');
    const error = await rejection(rrpc.call({ productKey: PK, deviceName: 'half-1', payload: 'x' }));
    expect(error).toBeInstanceOf(DeviceOfflineError);
    expect((error as DeviceOfflineError).rrpcCode).toBe('HALFCONN');
  });

  it('DeviceTimeoutError with the message ID of the call, whose stored outcome is TIMEOUT', async () => {
    const error = await rejection(rrpc.call({ productKey: PK, deviceName: 'silent-1', payload: 'x', timeoutMs: 1000 }));
    expect(error).toBeInstanceOf(DeviceTimeoutError);
    const timeout = error as DeviceTimeoutError;
    expect(timeout).toMatchObject({ code: 'DEVICE_TIMEOUT', status: 504, rrpcCode: 'TIMEOUT' });
    expect(timeout.messageId).toMatch(/^[1-9][0-9]+$/);
    const outcome = await rrpc.outcome(timeout.messageId);
    expect(outcome).toMatchObject({ messageId: timeout.messageId, rrpcCode: 'TIMEOUT', deviceName: 'silent-1' });
  });

  it('InvalidArgumentError names the refused field', async () => {
    const cases = [
      { call: { productKey: PK, deviceName: 'echo-1', payload: 'x', timeoutMs: 10 }, field: 'timeoutMs' },
      { call: { productKey: PK, deviceName: 'echo-1', payload: 'x', topic: '/other/device/user/x' }, field: 'topic' },
      { call: { productKey: PK, deviceName: 'a b', payload: 'x' }, field: 'deviceName' },
      { call: { productKey: PK, deviceName: '', payload: 'x' }, field: 'deviceName', local: true },
    ];
    for (const c of cases) {
      const error = await rejection(rrpc.call(c.call));
      expect(error, JSON.stringify(c)).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).field).toBe(c.field);
      expect((error as InvalidArgumentError).status).toBe(c.local ? undefined : 400);
    }
  });

  it('UnauthenticatedError for a wrong key and for no key', async () => {
    for (const apiKey of ['wrong-key', undefined]) {
      const client = new RrpcClient({ baseUrl: cluster.apis[0]!.url, apiKey });
      const error = await rejection(client.call({ productKey: PK, deviceName: 'echo-1', payload: 'x' }));
      expect(error).toBeInstanceOf(UnauthenticatedError);
      expect(error).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    }
  });

  it('PayloadTooLargeError over the cluster limit; the limit itself passes', async () => {
    const error = await rejection(rrpc.call({ productKey: PK, deviceName: 'echo-1', payload: Buffer.alloc(MAX_PAYLOAD + 1) }));
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect(error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413 });
    const atLimit = await rrpc.call({ productKey: PK, deviceName: 'echo-1', payload: Buffer.alloc(MAX_PAYLOAD, 7) });
    expect(atLimit.payload.length).toBe(atLimit.messageId.length + 1 + MAX_PAYLOAD);
  });

  it('NetworkError when nothing listens', async () => {
    const client = new RrpcClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, apiKey: API_KEY });
    const error = await rejection(client.call({ productKey: PK, deviceName: 'echo-1', payload: 'x' }));
    expect(error).toBeInstanceOf(NetworkError);
    expect(error).toMatchObject({ code: 'NETWORK', status: undefined, timedOut: false });
  });

  it('InvalidArgumentError for a baseUrl that is not http(s)', () => {
    expect(() => new RrpcClient({ baseUrl: 'localhost:8080' })).toThrow(InvalidArgumentError);
  });
});

describe('answers the cluster does not give itself (a gateway, a rate limiter, a stalled server)', () => {
  let server: Server;
  let url: string;
  let answer: (res: import('node:http').ServerResponse) => void = () => undefined;
  beforeAll(async () => {
    server = createServer((_req, res) => answer(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('RateLimitedError carries Retry-After in seconds', async () => {
    answer = (res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' });
      res.end(JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'Too many requests.' } }));
    };
    const error = await rejection(new RrpcClient({ baseUrl: url }).call({ productKey: PK, deviceName: 'echo-1', payload: 'x' }));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfter: 7 });
  });

  it('UnavailableError for a gateway 502 with an HTML body', async () => {
    answer = (res) => {
      res.writeHead(502, { 'content-type': 'text/html', 'retry-after': 'Thu, 01 Jan 2099 00:00:00 GMT' });
      res.end('<html>Bad Gateway</html>');
    };
    const error = await rejection(new RrpcClient({ baseUrl: url }).device(PK, 'echo-1'));
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).status).toBe(502);
    expect((error as UnavailableError).retryAfter).toBeGreaterThan(0); // an HTTP date in the future
  });

  it('NetworkError with timedOut when no answer comes within the deadline', async () => {
    answer = () => undefined; // never answers
    const client = new RrpcClient({ baseUrl: url, requestTimeoutMs: 300 });
    const error = await rejection(client.device(PK, 'echo-1'));
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).timedOut).toBe(true);
  });
});

describe('presence and outcomes', () => {
  it('device() returns presence, and null for a device never seen', async () => {
    const presence = await rrpc.device(PK, 'echo-1');
    expect(presence).toMatchObject({ productKey: PK, deviceName: 'echo-1', status: 'ONLINE' });
    expect(presence?.connectedAt).toBeInstanceOf(Date);
    expect(await rrpc.device(PK, 'never-seen')).toBeNull();
  });

  it('outcome() returns a stored answer, and null for an unknown message ID', async () => {
    const result = await rrpc.call({ productKey: PK, deviceName: 'echo-1', payload: 'kept' });
    const outcome = await rrpc.outcome(result.messageId);
    expect(outcome).toMatchObject({ messageId: result.messageId, productKey: PK, deviceName: 'echo-1', rrpcCode: 'SUCCESS' });
    expect(outcome?.payload).toEqual(result.payload);
    expect(outcome?.createdAt).toBeInstanceOf(Date);
    expect(await rrpc.outcome('1234567890123456789')).toBeNull();
  });
});

describe('Redis down', () => {
  it('UnavailableError while it is down; calls succeed again after the restart', async () => {
    await cluster.redis.kill('SIGKILL');
    try {
      const error = await rejection(rrpc.call({ productKey: PK, deviceName: 'echo-1', payload: 'x' }));
      expect(error).toBeInstanceOf(UnavailableError);
      expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 503 });
    } finally {
      await cluster.redis.restart();
    }
    // The test Redis keeps nothing: the broker's next webhook restores presence.
    await waitFor(async () => (await fetch(`${cluster.apis[0]!.url}/readyz`)).status === 200, 10_000, 'api ready again');
    await cluster.connectDevice(PK, 'echo-1');
    expect((await rrpc.call({ productKey: PK, deviceName: 'echo-1', payload: 'x' })).payload.toString()).toMatch(/:x$/);
  });
});

describe('device registry', () => {
  const RK = 'a1ClientReg';
  it('registers, reads, lists, disables, rotates and deletes devices', async () => {
    const created = await rrpc.registerDevice({ productKey: RK, deviceName: 'cli-dev-1' });
    expect(created).toMatchObject({ productKey: RK, deviceName: 'cli-dev-1', enabled: true });
    expect(created.deviceSecret).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(created.createdAt).toBeInstanceOf(Date);
    const generated = await rrpc.registerDevice({ productKey: RK, deviceSecret: 'given-secret-0123456789' });
    expect(generated.deviceName).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(generated.deviceSecret).toBe('given-secret-0123456789');
    expect(await rrpc.device(RK, 'cli-dev-1')).toMatchObject({ status: 'UNACTIVE', enabled: true, createdAt: created.createdAt });
    const imported = await rrpc.importDevices([
      { productKey: RK, deviceName: 'cli-dev-2', deviceSecret: 'import-secret-0123456789' },
      { productKey: RK, deviceName: 'cli-dev-1', deviceSecret: 'import-secret-0123456789' },
      { productKey: RK, deviceName: 'cli-dev-3', deviceSecret: 'short' },
    ]);
    expect(imported).toMatchObject({ created: 1, existing: 1, failed: [{ index: 2, error: { code: 'INVALID_ARGUMENT' } }] });
    const first = await rrpc.listDevices(RK, { limit: 2 });
    expect(first.devices).toHaveLength(2);
    expect(first.nextCursor).not.toBeNull();
    const rest = await rrpc.listDevices(RK, { limit: 2, cursor: first.nextCursor ?? undefined });
    expect([...first.devices, ...rest.devices].map((d) => d.deviceName).sort()).toEqual(
      ['cli-dev-1', 'cli-dev-2', generated.deviceName].sort(),
    );
    expect(rest.nextCursor).toBeNull();
    expect(await rrpc.setDeviceEnabled(RK, 'cli-dev-1', false)).toMatchObject({ enabled: false });
    await cluster.connectDevice(RK, 'cli-dev-1');
    const disabled = await rejection(rrpc.call({ productKey: RK, deviceName: 'cli-dev-1', payload: 'x' }));
    expect(disabled).toBeInstanceOf(DeviceDisabledError);
    expect(disabled).toMatchObject({ code: 'DEVICE_DISABLED', status: 403 });
    const secret = await rrpc.rotateDeviceSecret(RK, 'cli-dev-1');
    expect(secret).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(secret).not.toBe(created.deviceSecret);
    await rrpc.deleteDevice(RK, 'cli-dev-1');
    expect(await rrpc.device(RK, 'cli-dev-1')).toBeNull();
    const missing = await rejection(rrpc.call({ productKey: RK, deviceName: 'cli-dev-1', payload: 'x' }));
    expect(missing).toBeInstanceOf(DeviceNotFoundError);
    expect(await rejection(rrpc.deleteDevice(RK, 'cli-dev-1'))).toBeInstanceOf(DeviceNotFoundError);
    const exists = await rejection(rrpc.registerDevice({ productKey: RK, deviceName: 'cli-dev-2' }));
    expect(exists).toMatchObject({ code: 'DEVICE_EXISTS', status: 409 });
  });
});
