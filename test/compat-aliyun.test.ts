import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startCluster, type TestCluster } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';

/** Alibaba's RRpc action, answered as Alibaba answers it. */
const PK = 'a1Compat';
let cluster: TestCluster;
let device: TestDevice;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  cluster = await startCluster();
  device = await startDevice(
    cluster.mosquitto.url,
    PK,
    'light-1',
    ({ payload }) => (payload.toString() === 'mute' ? undefined : `ack:${payload.toString()}`),
    [`/${PK}/light-1/user/cmd`],
  );
  await cluster.connectDevice(PK, 'light-1');
});
afterAll(async () => {
  await device.close();
  await cluster.stop();
});

const auth = { authorization: `Bearer ${API_KEY}` };

describe('/compat/aliyun Action=RRpc', () => {
  it('answers SUCCESS with MessageId as a JSON integer with the exact 64-bit digits (JSON body)', async () => {
    const res = await fetch(`${cluster.apis[0]!.url}/compat/aliyun`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        Action: 'RRpc',
        ProductKey: PK,
        DeviceName: 'light-1',
        RequestBase64Byte: Buffer.from('on').toString('base64'),
        Timeout: 3000,
      }),
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    const digits = /"MessageId":([0-9]+)[,}]/.exec(text)?.[1];
    expect(digits).toMatch(/^[1-9][0-9]{15,18}$/);
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(body).toMatchObject({ Success: true, RrpcCode: 'SUCCESS', PayloadBase64Byte: Buffer.from('ack:on').toString('base64') });
    expect(typeof body['RequestId']).toBe('string');
    expect(typeof body['MessageId']).toBe('number');
    expect(device.requests.at(-1)?.topic).toBe(`/sys/${PK}/light-1/rrpc/request/${digits}`);
  });

  it('takes the query string (GET) and a form body, with a custom Topic', async () => {
    const q = new URLSearchParams({
      Action: 'RRpc',
      ProductKey: PK,
      DeviceName: 'light-1',
      RequestBase64Byte: Buffer.from('q').toString('base64'),
      Timeout: '2000',
    });
    const get = await fetch(`${cluster.apis[0]!.url}/compat/aliyun?${q.toString()}`, { headers: auth });
    expect(await get.json()).toMatchObject({ Success: true, RrpcCode: 'SUCCESS' });
    const form = new URLSearchParams({
      Action: 'RRpc',
      ProductKey: PK,
      DeviceName: 'light-1',
      RequestBase64Byte: Buffer.from('f').toString('base64'),
      Timeout: '2000',
      Topic: `/${PK}/light-1/user/cmd`,
    });
    const post = await fetch(`${cluster.apis[0]!.url}/compat/aliyun`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    expect(await post.json()).toMatchObject({
      Success: true,
      RrpcCode: 'SUCCESS',
      PayloadBase64Byte: Buffer.from('ack:f').toString('base64'),
    });
    expect(device.requests.at(-1)?.topic).toMatch(new RegExp(`^/ext/rrpc/[0-9]+/${PK}/light-1/user/cmd$`));
  });

  it('reports OFFLINE and TIMEOUT as Success:true with the RrpcCode', async () => {
    await cluster.devices.register([{ productKey: PK, deviceName: 'nobody-1' }]); // registered, never connected
    const off = await fetch(
      `${cluster.apis[0]!.url}/compat/aliyun?Action=RRpc&ProductKey=${PK}&DeviceName=nobody-1&RequestBase64Byte=eA%3D%3D&Timeout=1000`,
      { headers: auth },
    );
    const offBody = (await off.json()) as Record<string, unknown>;
    expect(offBody).toMatchObject({ Success: true, RrpcCode: 'OFFLINE' });
    expect(offBody['MessageId']).toBeUndefined();
    const slow = await fetch(
      `${cluster.apis[0]!.url}/compat/aliyun?Action=RRpc&ProductKey=${PK}&DeviceName=light-1&RequestBase64Byte=${encodeURIComponent(Buffer.from('mute').toString('base64'))}&Timeout=1000`,
      { headers: auth },
    );
    const slowText = await slow.text();
    expect(JSON.parse(slowText)).toMatchObject({ Success: true, RrpcCode: 'TIMEOUT' });
    expect(slowText).toMatch(/"MessageId":[0-9]+/);
  });

  it('answers API errors as {RequestId, Success:false, Code, ErrorMessage} and publishes nothing', async () => {
    const before = cluster.published.length;
    const bad: Array<[Record<string, string>, number, string]> = [
      [{ Action: 'RRpc', ProductKey: PK, DeviceName: 'light-1', RequestBase64Byte: 'eA==', Timeout: '9000' }, 400, 'InvalidParameter'],
      [{ Action: 'RRpc', ProductKey: PK, DeviceName: 'light-1', RequestBase64Byte: 'eA==' }, 400, 'InvalidParameter'],
      [{ Action: 'RRpc', ProductKey: 'a+b', DeviceName: 'light-1', RequestBase64Byte: 'eA==', Timeout: '2000' }, 400, 'InvalidParameter'],
      [{ Action: 'RRpc', ProductKey: PK, DeviceName: 'light-1', RequestBase64Byte: '***', Timeout: '2000' }, 400, 'InvalidParameter'],
      [
        {
          Action: 'RRpc',
          ProductKey: PK,
          DeviceName: 'light-1',
          RequestBase64Byte: 'eA==',
          Timeout: '2000',
          Topic: `/${PK}/light-1/user/#`,
        },
        400,
        'InvalidParameter',
      ],
      [{ Action: 'Pub', ProductKey: PK, DeviceName: 'light-1', RequestBase64Byte: 'eA==', Timeout: '2000' }, 400, 'InvalidParameter'],
    ];
    for (const [params, status, code] of bad) {
      const res = await fetch(`${cluster.apis[0]!.url}/compat/aliyun?${new URLSearchParams(params).toString()}`, { headers: auth });
      expect(res.status).toBe(status);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ Success: false, Code: code });
      expect(String(body['ErrorMessage']).length).toBeGreaterThan(3);
      expect(typeof body['RequestId']).toBe('string');
    }
    const unauth = await fetch(`${cluster.apis[0]!.url}/compat/aliyun?Action=RRpc`);
    expect(unauth.status).toBe(401);
    expect(await unauth.json()).toMatchObject({ Success: false });
    const malformed = await fetch(`${cluster.apis[0]!.url}/compat/aliyun`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"Action":',
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ Success: false, Code: 'InvalidParameter' });
    await sleep(50);
    expect(cluster.published.slice(before)).toEqual([]);
  });
});
