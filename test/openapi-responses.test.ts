import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  aliyunAnswer,
  aliyunDeviceAnswer,
  aliyunError,
  callAnswer,
  callOutcome,
  deviceCreated,
  deviceImportResult,
  devicePage,
  deviceSecretAnswer,
  errorBody,
  liveness,
  presence,
  readiness,
} from '../services/api/src/response-schemas.js';
import { waitFor } from '@rrpc/testing';
import { API_KEY, connectedEvent, startCluster, type TestCluster } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';

/**
 * The answers docs/openapi.json describes are the answers the api gives: real answers of a running cluster,
 * parsed with the (strict) response schemas the document is built from.
 */
const PK = 'a1Doc';
const b64 = (s: string) => Buffer.from(s).toString('base64');
let cluster: TestCluster;
const devices: TestDevice[] = [];

beforeAll(async () => {
  cluster = await startCluster({ env: { RRPC_MAX_PAYLOAD_BYTES: '1024' } });
  devices.push(await startDevice(cluster.mosquitto.url, PK, 'echo-1', ({ payload }) => payload));
  devices.push(await startDevice(cluster.mosquitto.url, PK, 'silent-1', () => undefined));
  await cluster.connectDevice(PK, 'echo-1');
  await cluster.connectDevice(PK, 'silent-1');
});
afterAll(async () => {
  await Promise.all(devices.map((d) => d.close()));
  await cluster.stop();
});

async function conforms(res: Response, status: number, schema: z.ZodType): Promise<Record<string, unknown>> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  const parsed = schema.safeParse(JSON.parse(text));
  expect(parsed.success ? [] : parsed.error.issues, text).toEqual([]);
  return JSON.parse(text) as Record<string, unknown>;
}

describe('/v1 answers match the documented schemas', () => {
  it('call: CallAnswer, and ErrorBody for each failure', async () => {
    await conforms(await cluster.call(PK, 'echo-1', { payload: b64('hi') }), 200, callAnswer);
    await conforms(await cluster.call(PK, 'never-seen', { payload: b64('x') }), 404, errorBody); // DEVICE_NOT_FOUND
    await cluster.devices.register([{ productKey: PK, deviceName: 'offline-1' }]);
    await conforms(await cluster.call(PK, 'offline-1', { payload: b64('x') }), 404, errorBody); // DEVICE_OFFLINE
    await cluster.devices.registry.setEnabled({ productKey: PK, deviceName: 'offline-1' }, false);
    await conforms(await cluster.call(PK, 'offline-1', { payload: b64('x') }), 403, errorBody); // DEVICE_DISABLED
    await cluster.devices.registry.setEnabled({ productKey: PK, deviceName: 'offline-1' }, true);
    await conforms(await cluster.call(PK, 'silent-1', { payload: b64('x'), timeoutMs: 1000 }), 504, errorBody);
    await conforms(await cluster.call(PK, 'echo-1', { payload: 'not base64!' }), 400, errorBody);
    await conforms(await cluster.call(PK, 'echo-1', { payload: Buffer.alloc(2000).toString('base64') }), 413, errorBody);
    await conforms(
      await cluster.api(`/v1/devices/${PK}/echo-1/rrpc`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }),
      415,
      errorBody,
    );
    await conforms(
      await cluster.api(`/v1/devices/${PK}/echo-1/rrpc`, { method: 'POST', headers: { authorization: 'Bearer nope' } }),
      401,
      errorBody,
    );
  });

  it('presence: Presence online and after a disconnect; ErrorBody when never seen', async () => {
    await conforms(await cluster.api(`/v1/devices/${PK}/echo-1`), 200, presence);
    await cluster.webhook(connectedEvent(PK, 'gone-1', Date.now() - 5000, 30));
    await cluster.disconnectDevice(PK, 'gone-1', 'keepalive_timeout');
    const half = await conforms(await cluster.api(`/v1/devices/${PK}/gone-1`), 200, presence);
    expect(half).toMatchObject({ status: 'HALFCONN', lastDisconnectReason: 'keepalive_timeout' });
    await conforms(await cluster.api(`/v1/devices/${PK}/never-seen`), 404, errorBody);
  });

  it('registry: DeviceCreated, DeviceImportResult, Device (UNACTIVE), DevicePage, DeviceSecret; ErrorBody for 409', async () => {
    const json = (method: string, body?: unknown) => ({
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    await conforms(await cluster.api('/v1/devices', json('POST', { productKey: PK, deviceName: 'doc-reg-1' })), 201, deviceCreated);
    await conforms(await cluster.api('/v1/devices', json('POST', { productKey: PK, deviceName: 'doc-reg-1' })), 409, errorBody);
    const imported = {
      devices: [
        { productKey: PK, deviceName: 'doc-imp-1', deviceSecret: 'doc-secret-0123456789' },
        { productKey: PK, deviceName: 'x' },
      ],
    };
    await conforms(await cluster.api('/v1/devices/import', json('POST', imported)), 200, deviceImportResult);
    expect((await conforms(await cluster.api(`/v1/devices/${PK}/doc-reg-1`), 200, presence))['status']).toBe('UNACTIVE');
    await conforms(await cluster.api(`/v1/devices/${PK}/doc-reg-1`, json('PATCH', { enabled: false })), 200, presence);
    await conforms(await cluster.api(`/v1/products/${PK}/devices?limit=2`), 200, devicePage);
    await conforms(await cluster.api(`/v1/products/${PK}/devices?status=UNACTIVE`), 200, devicePage);
    await conforms(await cluster.api(`/v1/devices/${PK}/doc-reg-1/secret`, { method: 'POST' }), 200, deviceSecretAnswer);
    await conforms(await cluster.api(`/v1/devices/${PK}/never-seen`, json('PATCH', { enabled: true })), 404, errorBody);
    const aliyunPost = (params: Record<string, string>) =>
      fetch(`${cluster.apis[0]!.url}/compat/aliyun`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(params),
      });
    await conforms(await aliyunPost({ Action: 'RegisterDevice', ProductKey: PK, DeviceName: 'doc-ali-1' }), 200, aliyunDeviceAnswer);
    await conforms(await aliyunPost({ Action: 'QueryDeviceDetail', ProductKey: PK, DeviceName: 'echo-1' }), 200, aliyunDeviceAnswer);
    await conforms(await aliyunPost({ Action: 'GetDeviceStatus', ProductKey: PK, DeviceName: 'doc-ali-1' }), 200, aliyunDeviceAnswer);
    await conforms(
      await aliyunPost({ Action: 'BatchGetDeviceState', ProductKey: PK, 'DeviceName.1': 'echo-1', 'DeviceName.2': 'doc-ali-1' }),
      200,
      aliyunDeviceAnswer,
    );
    await conforms(await aliyunPost({ Action: 'DisableThing', ProductKey: PK, DeviceName: 'doc-ali-1' }), 200, aliyunDeviceAnswer);
    await conforms(await aliyunPost({ Action: 'DeleteDevice', ProductKey: PK, DeviceName: 'doc-ali-1' }), 200, aliyunDeviceAnswer);
    await conforms(await aliyunPost({ Action: 'DeleteDevice', ProductKey: PK, DeviceName: 'doc-ali-1' }), 404, aliyunError);
    expect((await cluster.api(`/v1/devices/${PK}/doc-reg-1`, { method: 'DELETE' })).status).toBe(204);
  });

  it('outcome: CallOutcome while pending, answered and timed out', async () => {
    const before = cluster.published.length;
    const pendingCall = cluster.call(PK, 'silent-1', { payload: b64('x'), timeoutMs: 2000 });
    // The message ID is known before the answer from the request topic the broker carried.
    const prefix = `/sys/${PK}/silent-1/rrpc/request/`;
    await waitFor(() => cluster.published.slice(before).some((t) => t.startsWith(prefix)), 5000, 'the request to be published');
    const pendingId = cluster.published
      .slice(before)
      .find((t) => t.startsWith(prefix))!
      .slice(prefix.length);
    expect((await conforms(await cluster.api(`/v1/rrpc/${pendingId}`), 200, callOutcome))['rrpcCode']).toBe('PENDING');
    const timedOut = (await (await pendingCall).json()) as { messageId: string };
    expect(timedOut.messageId).toBe(pendingId);
    const answered = (await (await cluster.call(PK, 'echo-1', { payload: b64('x') })).json()) as { messageId: string };
    expect((await conforms(await cluster.api(`/v1/rrpc/${answered.messageId}`), 200, callOutcome))['rrpcCode']).toBe('SUCCESS');
    expect((await conforms(await cluster.api(`/v1/rrpc/${timedOut.messageId}`), 200, callOutcome))['rrpcCode']).toBe('TIMEOUT');
    await conforms(await cluster.api('/v1/rrpc/1234567890123456789'), 404, errorBody);
    await conforms(await cluster.api('/v1/rrpc/not-an-id'), 400, errorBody);
  });
});

describe('compat and operations answers match the documented schemas', () => {
  const aliyun = (params: Record<string, string>, key = API_KEY) =>
    fetch(`${cluster.apis[0]!.url}/compat/aliyun?${new URLSearchParams(params).toString()}`, {
      headers: { authorization: `Bearer ${key}` },
    });
  const rrpc = { Action: 'RRpc', ProductKey: PK, RequestBase64Byte: b64('x'), Timeout: '1000' };

  it('aliyun: AliyunRRpcAnswer for every outcome, AliyunError for errors', async () => {
    expect((await conforms(await aliyun({ ...rrpc, DeviceName: 'echo-1' }), 200, aliyunAnswer))['RrpcCode']).toBe('SUCCESS');
    await cluster.devices.register([{ productKey: PK, deviceName: 'offline-2' }]);
    expect((await conforms(await aliyun({ ...rrpc, DeviceName: 'offline-2' }), 200, aliyunAnswer))['RrpcCode']).toBe('OFFLINE');
    await conforms(await aliyun({ ...rrpc, DeviceName: 'never-seen' }), 404, aliyunError);
    expect((await conforms(await aliyun({ ...rrpc, DeviceName: 'silent-1' }), 200, aliyunAnswer))['RrpcCode']).toBe('TIMEOUT');
    await conforms(await aliyun({ ...rrpc, DeviceName: 'echo-1', Timeout: '9000' }), 400, aliyunError);
    await conforms(await aliyun({ ...rrpc, DeviceName: 'echo-1' }, 'wrong-key'), 401, aliyunError);
  });

  it('livez and readyz', async () => {
    await conforms(await fetch(`${cluster.apis[0]!.url}/livez`), 200, liveness);
    await conforms(await fetch(`${cluster.apis[0]!.url}/readyz`), 200, readiness);
  });
});
