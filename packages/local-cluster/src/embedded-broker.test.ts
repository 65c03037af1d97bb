import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice } from '@rrpc/device-sdk';
import { freePort, waitFor } from '@rrpc/testing';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';

const TOKEN = 'embedded-broker-token-0123456789';
const hooks: Array<{ auth: string | undefined; body: Record<string, unknown> }> = [];
let receiver: Server;
let broker: EmbeddedBroker;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      hooks.push({ auth: req.headers.authorization, body: JSON.parse(data) as Record<string, unknown> });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"ok"}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  broker = await startEmbeddedBroker({ port: await freePort(), webhook: { url: `http://127.0.0.1:${port}/hooks/emqx`, token: TOKEN } });
});
afterAll(async () => {
  await broker.close();
  await new Promise((resolve) => receiver.close(resolve));
});

const forClient = (clientId: string) =>
  hooks.filter((h) => h.body['clientid'] === clientId && String(h.body['event']).startsWith('client.'));
const sessionEvents = (clientId: string) =>
  hooks.filter((h) => h.body['clientid'] === clientId && String(h.body['event']).startsWith('session.'));

describe('embedded broker presence webhooks', () => {
  it('posts EMQX 5 client.connected and client.disconnected bodies with the bearer token', async () => {
    const device = await connectDevice({ url: broker.url, productKey: 'pkEmb', deviceName: 'emb-0001', keepalive: 45 });
    const clientId = device.clientId as string;
    await waitFor(() => forClient(clientId).length === 1, 5000, 'the connected webhook');
    const connected = forClient(clientId)[0];
    expect(connected?.auth).toBe(`Bearer ${TOKEN}`);
    const local = device.client?.stream as Socket;
    expect(connected?.body).toMatchObject({
      event: 'client.connected',
      clientid: clientId,
      username: 'emb-0001&pkEmb',
      keepalive: 45,
      proto_ver: 4,
      peername: `127.0.0.1:${local.localPort}`,
      sockname: `127.0.0.1:${broker.port}`,
      node: expect.any(String),
      connected_at: expect.any(Number),
      timestamp: expect.any(Number),
    });

    await device.disconnect();
    await waitFor(() => forClient(clientId).length === 2, 5000, 'the disconnected webhook');
    expect(forClient(clientId)[1]?.body).toMatchObject({
      event: 'client.disconnected',
      clientid: clientId,
      username: 'emb-0001&pkEmb',
      reason: 'normal',
      connected_at: connected?.body['connected_at'],
      disconnected_at: expect.any(Number),
    });
  });

  it('reports a dropped connection as tcp_closed, and does not report clients that are not devices', async () => {
    const service = await mqtt.connectAsync(broker.url, { clientId: 'api-pod-1', protocolVersion: 4 });
    const device = await mqtt.connectAsync(broker.url, {
      clientId: 'drop-1|securemode=3|',
      username: 'drop-0001&pkEmb',
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await waitFor(() => forClient('drop-1|securemode=3|').length === 1, 5000, 'the connected webhook');
    (device.stream as Socket).destroy();
    await waitFor(() => forClient('drop-1|securemode=3|').length === 2, 5000, 'the disconnected webhook');
    expect(forClient('drop-1|securemode=3|')[1]?.body).toMatchObject({ event: 'client.disconnected', reason: 'tcp_closed' });
    await service.endAsync();
    await device.endAsync(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(forClient('api-pod-1')).toEqual([]);
  });
});

describe('embedded broker subscription webhooks', () => {
  it('posts EMQX 5 session.subscribed per filter and session.unsubscribed, after the connect', async () => {
    const clientId = 'sub-0001|securemode=3|';
    const device = await mqtt.connectAsync(broker.url, { clientId, username: 'sub-0001&pkEmb', protocolVersion: 4, reconnectPeriod: 0 });
    await device.subscribeAsync(['/sys/pkEmb/sub-0001/rrpc/request/+', '/ext/rrpc/+/pkEmb/sub-0001/user/get'], { qos: 0 });
    await waitFor(() => sessionEvents(clientId).length === 2, 5000, 'the subscribed webhooks');
    expect(sessionEvents(clientId).map((h) => h.body)).toEqual([
      expect.objectContaining({
        event: 'session.subscribed',
        clientid: clientId,
        username: 'sub-0001&pkEmb',
        topic: '/sys/pkEmb/sub-0001/rrpc/request/+',
        qos: 0,
        peerhost: '127.0.0.1',
        timestamp: expect.any(Number),
        node: expect.any(String),
      }),
      expect.objectContaining({ event: 'session.subscribed', topic: '/ext/rrpc/+/pkEmb/sub-0001/user/get' }),
    ]);
    const connectIndex = hooks.findIndex((h) => h.body['clientid'] === clientId && h.body['event'] === 'client.connected');
    const firstSub = hooks.findIndex((h) => h.body['clientid'] === clientId && h.body['event'] === 'session.subscribed');
    expect(connectIndex).toBeGreaterThanOrEqual(0);
    expect(connectIndex).toBeLessThan(firstSub);
    await device.unsubscribeAsync('/sys/pkEmb/sub-0001/rrpc/request/+');
    await waitFor(() => sessionEvents(clientId).length === 3, 5000, 'the unsubscribed webhook');
    expect(sessionEvents(clientId)[2]?.body).toMatchObject({
      event: 'session.unsubscribed',
      clientid: clientId,
      topic: '/sys/pkEmb/sub-0001/rrpc/request/+',
    });
    await device.endAsync();
  });
});
