import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startCluster, type TestCluster } from './support/cluster.js';

/**
 * Alibaba Cloud IoT's device management actions on /compat/aliyun, with Alibaba's parameter and field names:
 * RegisterDevice, QueryDeviceDetail, GetDeviceStatus, BatchGetDeviceState, DeleteDevice, DisableThing,
 * EnableThing — as query parameters, form bodies (DeviceName.N) and JSON.
 */
const PK = 'a1AliDev';
const SCOPED_KEY = 'aliyun-scoped-key-0123456789';
let cluster: TestCluster;
let dir: string;

type Json = Record<string, unknown>;

async function form(params: Record<string, string>, key = API_KEY): Promise<{ status: number; body: Json; text: string }> {
  const res = await fetch(`${cluster.apis[0]!.url}/compat/aliyun`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...params, AccessKeyId: 'LTAI-ignored', SignatureNonce: 'n-1', Format: 'JSON' }),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Json, text };
}
const query = async (params: Record<string, string>) => {
  const res = await fetch(`${cluster.apis[0]!.url}/compat/aliyun?${new URLSearchParams(params).toString()}`, {
    headers: { authorization: `Bearer ${API_KEY}` },
  });
  return { status: res.status, body: (await res.json()) as Json };
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rrpc-aliyun-keys-'));
  writeFileSync(join(dir, 'keys'), `${SCOPED_KEY} products=a1Elsewhere\n`);
  cluster = await startCluster({ env: { RRPC_API_KEYS_FILE: join(dir, 'keys') } });
});
afterAll(async () => {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('/compat/aliyun device actions', () => {
  it('RegisterDevice: Data{ProductKey, DeviceName, DeviceSecret}; a generated name without DeviceName; iot.device.AlreadyExistedDeviceName twice', async () => {
    const res = await form({ Action: 'RegisterDevice', ProductKey: PK, DeviceName: 'light-1' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ Success: true, Data: { ProductKey: PK, DeviceName: 'light-1' } });
    expect(typeof res.body['RequestId']).toBe('string');
    const secret = (res.body['Data'] as Json)['DeviceSecret'];
    expect(secret).toMatch(/^[A-Za-z0-9]{32}$/);
    expect((await cluster.devices.registry.credentials({ productKey: PK, deviceName: 'light-1' }))?.secret).toBe(secret);
    const generated = await form({ Action: 'RegisterDevice', ProductKey: PK });
    expect((generated.body['Data'] as Json)['DeviceName']).toMatch(/^[A-Za-z0-9]{20}$/);
    const twice = await form({ Action: 'RegisterDevice', ProductKey: PK, DeviceName: 'light-1' });
    expect(twice.status).toBe(409);
    expect(twice.body).toMatchObject({ Success: false, Code: 'iot.device.AlreadyExistedDeviceName' });
    expect(twice.text).not.toContain(String(secret));
  });

  it('QueryDeviceDetail and GetDeviceStatus: UNACTIVE, then ONLINE; never the stored DeviceSecret', async () => {
    const created = await form({ Action: 'RegisterDevice', ProductKey: PK, DeviceName: 'detail-1' });
    const secret = String((created.body['Data'] as Json)['DeviceSecret']);
    const before = await form({ Action: 'QueryDeviceDetail', ProductKey: PK, DeviceName: 'detail-1' });
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ Success: true, Data: { ProductKey: PK, DeviceName: 'detail-1', Status: 'UNACTIVE' } });
    const data = before.body['Data'] as Json;
    expect(data['GmtCreate']).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(Date.parse(String(data['UtcCreate']))).toBeGreaterThan(Date.now() - 60_000);
    expect(data['DeviceSecret']).toBeUndefined();
    expect(before.text).not.toContain(secret);
    expect((await query({ Action: 'GetDeviceStatus', ProductKey: PK, DeviceName: 'detail-1' })).body).toMatchObject({
      Success: true,
      Data: { Status: 'UNACTIVE' },
    });
    await cluster.connectDevice(PK, 'detail-1');
    expect((await query({ Action: 'GetDeviceStatus', ProductKey: PK, DeviceName: 'detail-1' })).body).toMatchObject({
      Data: { Status: 'ONLINE' },
    });
    const after = await form({ Action: 'QueryDeviceDetail', ProductKey: PK, DeviceName: 'detail-1' });
    expect((after.body['Data'] as Json)['Status']).toBe('ONLINE');
    expect(typeof (after.body['Data'] as Json)['UtcOnline']).toBe('string');
  });

  it('BatchGetDeviceState: DeviceName.N (form) or a JSON list, registered devices only, at most 50', async () => {
    await form({ Action: 'RegisterDevice', ProductKey: PK, DeviceName: 'batch-1' });
    await form({ Action: 'RegisterDevice', ProductKey: PK, DeviceName: 'batch-2' });
    await cluster.connectDevice(PK, 'batch-2');
    const res = await form({
      Action: 'BatchGetDeviceState',
      ProductKey: PK,
      'DeviceName.1': 'batch-1',
      'DeviceName.2': 'batch-2',
      'DeviceName.3': 'unknown-1',
    });
    expect(res.status).toBe(200);
    const states = ((res.body['DeviceStatusList'] as Json)['DeviceStatus'] as Json[]).map((s) => [s['DeviceName'], s['Status']]);
    expect(states).toEqual([
      ['batch-1', 'UNACTIVE'],
      ['batch-2', 'ONLINE'],
    ]);
    const viaJson = await fetch(`${cluster.apis[0]!.url}/compat/aliyun`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ Action: 'BatchGetDeviceState', ProductKey: PK, DeviceName: ['batch-2'] }),
    });
    expect((((await viaJson.json()) as Json)['DeviceStatusList'] as Json)['DeviceStatus']).toMatchObject([
      { DeviceName: 'batch-2', Status: 'ONLINE' },
    ]);
    const many: Record<string, string> = { Action: 'BatchGetDeviceState', ProductKey: PK };
    for (let i = 1; i <= 51; i++) many[`DeviceName.${i}`] = `many-${i}`;
    expect(await form(many)).toMatchObject({ status: 400, body: { Success: false, Code: 'InvalidParameter' } });
    expect(await form({ Action: 'BatchGetDeviceState', ProductKey: PK })).toMatchObject({
      status: 400,
      body: { Code: 'InvalidParameter' },
    });
  });

  it('DisableThing / EnableThing: Status DISABLE, RRpc refused (iot.device.DisabledDevice), then back', async () => {
    await form({ Action: 'RegisterDevice', ProductKey: PK, DeviceName: 'thing-1' });
    await cluster.connectDevice(PK, 'thing-1');
    expect(await form({ Action: 'DisableThing', ProductKey: PK, DeviceName: 'thing-1' })).toMatchObject({
      status: 200,
      body: { Success: true },
    });
    expect((await query({ Action: 'GetDeviceStatus', ProductKey: PK, DeviceName: 'thing-1' })).body).toMatchObject({
      Data: { Status: 'DISABLE' },
    });
    const before = cluster.published.length;
    const refused = await form({ Action: 'RRpc', ProductKey: PK, DeviceName: 'thing-1', RequestBase64Byte: 'eA==', Timeout: '1000' });
    expect(refused).toMatchObject({ status: 403, body: { Success: false, Code: 'iot.device.DisabledDevice' } });
    expect(cluster.published.slice(before).filter((t) => t.includes('/thing-1/'))).toEqual([]);
    expect(await form({ Action: 'EnableThing', ProductKey: PK, DeviceName: 'thing-1' })).toMatchObject({
      status: 200,
      body: { Success: true },
    });
    expect((await query({ Action: 'GetDeviceStatus', ProductKey: PK, DeviceName: 'thing-1' })).body).toMatchObject({
      Data: { Status: 'ONLINE' },
    });
  });

  it('DeleteDevice: then iot.device.NotExistedDevice for every action on it', async () => {
    await form({ Action: 'RegisterDevice', ProductKey: PK, DeviceName: 'gone-1' });
    expect(await form({ Action: 'DeleteDevice', ProductKey: PK, DeviceName: 'gone-1' })).toMatchObject({
      status: 200,
      body: { Success: true },
    });
    for (const Action of ['QueryDeviceDetail', 'GetDeviceStatus', 'DeleteDevice', 'DisableThing', 'EnableThing']) {
      const res = await form({ Action, ProductKey: PK, DeviceName: 'gone-1' });
      expect(res.status, Action).toBe(404);
      expect(res.body, Action).toMatchObject({ Success: false, Code: 'iot.device.NotExistedDevice' });
    }
    expect(await cluster.devices.registry.get({ productKey: PK, deviceName: 'gone-1' })).toBeUndefined();
  });

  it('refuses bad parameters (InvalidParameter), IotId (unsupported), an unknown Action, and other products of a scoped key', async () => {
    const bad: Array<Record<string, string>> = [
      { Action: 'QueryDeviceDetail', ProductKey: PK },
      { Action: 'QueryDeviceDetail', ProductKey: 'a b', DeviceName: 'light-1' },
      { Action: 'GetDeviceStatus', ProductKey: PK, DeviceName: 'x' },
      { Action: 'RegisterDevice', ProductKey: PK, DeviceName: 'a/b/c/d' },
      { Action: 'DisableThing', IotId: 'Q7uOhVRdZRRlDnTLv00100' },
      { Action: 'FlyToTheMoon', ProductKey: PK, DeviceName: 'light-1' },
    ];
    for (const params of bad) {
      const res = await form(params);
      expect(res.status, JSON.stringify(params)).toBe(400);
      expect(res.body).toMatchObject({ Success: false, Code: 'InvalidParameter' });
    }
    const denied = await form({ Action: 'RegisterDevice', ProductKey: PK, DeviceName: 'scoped-1' }, SCOPED_KEY);
    expect(denied).toMatchObject({ status: 403, body: { Success: false, Code: 'iot.common.AuthActionPermissionDeny' } });
    expect(await form({ Action: 'GetDeviceStatus', ProductKey: PK, DeviceName: 'light-1' }, SCOPED_KEY)).toMatchObject({ status: 403 });
    expect(await cluster.devices.registry.get({ productKey: PK, deviceName: 'scoped-1' })).toBeUndefined();
  });
});
