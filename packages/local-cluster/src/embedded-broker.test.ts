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

const forClient = (clientId: string) => hooks.filter((h) => h.body['clientid'] === clientId);

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
    const device = await mqtt.connectAsync(broker.url, { clientId: 'drop-1|securemode=3|', username: 'drop-0001&pkEmb', protocolVersion: 4, reconnectPeriod: 0 });
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
