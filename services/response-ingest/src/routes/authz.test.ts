import express from 'express';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIngestConfig } from '@rrpc/config';
import { createLogger, errorHandler, listen, notFound } from '@rrpc/runtime';
import { startMosquitto, startRedis, type ManagedServer } from '@rrpc/testing';
import { createIngestService, type IngestService } from '../ingest-service.js';
import { authzRoutes } from './authz.js';

const TOKEN = 'authz-test-token-0123456789';
const SERVICE = 'rrpc-platform';
const logger = createLogger('test', 'silent');

// The device of the EMQX fixtures: username `${deviceName}&${productKey}`.
const PK = 'a14Xib5kdYd';
const DN = 'light1983432';
const DEVICE = `${DN}&${PK}`;
const OTHER_DN = 'light0000001';

/** EMQX 5 HTTP authz body, as our EMQX config renders it (all values are string templates). */
function emqxBody(over: Record<string, unknown>) {
  return {
    clientid: 'SN1928339|securemode=3,signmethod=hmacsha1,timestamp=1539421321846|',
    username: DEVICE,
    peerhost: '127.0.0.1',
    topic: 't/1',
    action: 'publish',
    qos: '1',
    retain: 'false',
    ...over,
  };
}

let server: Server;
let base: string;

beforeAll(async () => {
  const app = express();
  app.use(authzRoutes({ logger, webhookToken: TOKEN, authDisabled: false, serviceUsername: SERVICE }));
  app.use(notFound);
  app.use(errorHandler(logger));
  server = createServer(app);
  base = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function ask(body: unknown, token: string | null = TOKEN, url = base): Promise<{ status: number; result?: string }> {
  const res = await fetch(`${url}/authz/emqx`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const json = (await res.json().catch(() => ({}))) as { result?: string };
  return { status: res.status, result: json.result };
}

async function decide(action: 'publish' | 'subscribe', topic: string, over: Record<string, unknown> = {}): Promise<string | undefined> {
  const answer = await ask(emqxBody({ action, topic, ...over }));
  expect(answer.status).toBe(200);
  return answer.result;
}

describe('POST /authz/emqx — device', () => {
  it.each([
    ['subscribe', `/sys/${PK}/${DN}/rrpc/request/+`],
    ['subscribe', `/sys/${PK}/${DN}/rrpc/request/1234567890123`],
    ['subscribe', `/ext/rrpc/+/${PK}/${DN}/user/get`],
    ['subscribe', `/ext/rrpc/+/${PK}/${DN}/user/a/b-c/d_e`],
    ['subscribe', `/ext/rrpc/42/${PK}/${DN}/user/get`],
    ['publish', `/sys/${PK}/${DN}/rrpc/response/1234567890123`],
    ['publish', `/ext/rrpc/42/${PK}/${DN}/user/get`],
  ] as const)('allows %s on its own topic %s', async (action, topic) => {
    expect(await decide(action, topic)).toBe('allow');
  });

  it.each([
    // wildcards beyond the two allowed request filters
    ['subscribe', '#'],
    ['subscribe', '/sys/#'],
    ['subscribe', `/sys/${PK}/#`],
    ['subscribe', `/sys/${PK}/+/rrpc/request/+`],
    ['subscribe', `/sys/+/${DN}/rrpc/request/+`],
    ['subscribe', `/sys/${PK}/${DN}/rrpc/request/#`],
    ['subscribe', `/sys/${PK}/${DN}/rrpc/+/+`],
    ['subscribe', `/sys/${PK}/${DN}/rrpc/response/+`],
    ['subscribe', '/ext/rrpc/#'],
    ['subscribe', `/ext/rrpc/+/${PK}/${DN}/user/#`],
    ['subscribe', `/ext/rrpc/+/${PK}/${DN}/user/+`],
    ['subscribe', `/ext/rrpc/+/${PK}/+/user/get`],
    ['subscribe', '$share/g/#'],
    ['subscribe', `$share/g//sys/${PK}/${DN}/rrpc/request/+`],
    ['subscribe', '$SYS/#'],
    // another device
    ['subscribe', `/sys/${PK}/${OTHER_DN}/rrpc/request/+`],
    ['subscribe', `/ext/rrpc/+/${PK}/${OTHER_DN}/user/get`],
    ['publish', `/sys/${PK}/${OTHER_DN}/rrpc/response/1`],
    ['publish', `/ext/rrpc/1/${PK}/${OTHER_DN}/user/get`],
    // wrong direction: a device never publishes requests
    ['publish', `/sys/${PK}/${DN}/rrpc/request/1`],
    // wildcards in a publish
    ['publish', `/sys/${PK}/${DN}/rrpc/response/+`],
    ['publish', `/sys/${PK}/${DN}/rrpc/response/#`],
    ['publish', `/ext/rrpc/+/${PK}/${DN}/user/get`],
    // malformed message IDs and shapes
    ['publish', `/sys/${PK}/${DN}/rrpc/response/0`],
    ['publish', `/sys/${PK}/${DN}/rrpc/response/abc`],
    ['publish', `/sys/${PK}/${DN}/rrpc/response/99999999999999999999`],
    ['publish', `/sys/${PK}/${DN}/rrpc/response/1/extra`],
    ['publish', `sys/${PK}/${DN}/rrpc/response/1`],
    ['publish', `//sys/${PK}/${DN}/rrpc/response/1`],
    // injection: NUL, '..', stray separators
    ['publish', `/sys/${PK}/${DN}/rrpc/response/1\u0000`],
    ['subscribe', `/sys/${PK}/${DN}\u0000/rrpc/request/+`],
    ['publish', `/sys/${PK}/${DN}/rrpc/response/../../${OTHER_DN}/rrpc/response/1`],
    ['publish', `/ext/rrpc/1/${PK}/${DN}/user/../../${PK}/${OTHER_DN}`],
    ['subscribe', `/ext/rrpc/+/${PK}/${DN}/user/..`],
    ['publish', `/ext/rrpc/1/${PK}/${DN}/user/`],
    ['publish', `/ext/rrpc/1/${PK}/${DN}/user//get`],
    ['publish', 't/1'],
    ['publish', ''],
  ] as const)('denies %s on %j', async (action, topic) => {
    expect(await decide(action, topic)).toBe('deny');
  });

  it('denies a username that names another identity or none', async () => {
    const topic = `/sys/${PK}/${DN}/rrpc/response/1`;
    expect(await decide('publish', topic, { username: `${OTHER_DN}&${PK}` })).toBe('deny');
    expect(await decide('publish', topic, { username: `${DN}&${PK}&x` })).toBe('deny');
    expect(await decide('publish', topic, { username: `${DN}+&${PK}` })).toBe('deny');
    expect(await decide('publish', topic, { username: 'undefined' })).toBe('deny');
    expect(await decide('publish', topic, { username: '' })).toBe('deny');
    expect(await decide('publish', topic, { username: undefined })).toBe('deny');
    expect(await decide('publish', topic, { username: 42 })).toBe('deny');
  });

  it('denies retained publishes and unknown actions', async () => {
    const topic = `/sys/${PK}/${DN}/rrpc/response/1`;
    expect(await decide('publish', topic, { retain: 'true' })).toBe('deny');
    expect(await decide('publish', topic, { retain: true })).toBe('deny');
    expect(await decide('publish', topic, { retain: false, qos: 0 })).toBe('allow');
    expect(await decide('publish', topic, { qos: '3' })).toBe('deny');
    expect((await ask(emqxBody({ action: 'all', topic }))).result).toBe('deny');
    expect((await ask(emqxBody({ action: 'PUBLISH', topic }))).result).toBe('deny');
  });

  it('accepts the documented minimal body (username, topic, action only)', async () => {
    expect((await ask({ username: DEVICE, topic: `/sys/${PK}/${DN}/rrpc/request/+`, action: 'subscribe' })).result).toBe('allow');
  });
});

describe('POST /authz/emqx — platform clients', () => {
  it.each([
    ['subscribe', '/sys/+/+/rrpc/response/+'],
    ['subscribe', '/ext/rrpc/#'],
    ['subscribe', '$share/rrpc//sys/+/+/rrpc/response/+'],
    ['subscribe', '$share/rrpc//ext/rrpc/#'],
    ['publish', `/sys/${PK}/${DN}/rrpc/request/1234567890123`],
    ['publish', `/sys/${PK}/${OTHER_DN}/rrpc/request/7`],
    ['publish', `/ext/rrpc/42/${PK}/${DN}/user/get`],
  ] as const)('allows %s on %s', async (action, topic) => {
    expect(await decide(action, topic, { username: SERVICE, clientid: 'rrpc-api-0' })).toBe('allow');
  });

  it.each([
    ['subscribe', '#'],
    ['subscribe', '/sys/#'],
    ['subscribe', '$share/rrpc/#'],
    ['subscribe', '$share/a/b//sys/+/+/rrpc/response/+'],
    ['subscribe', `/sys/${PK}/${DN}/rrpc/request/+`],
    ['publish', `/sys/${PK}/${DN}/rrpc/request/+`],
    ['publish', `/sys/${PK}/${DN}/rrpc/response/1`],
    ['publish', '/sys/+/+/rrpc/request/1'],
    ['publish', `/sys/${PK}/${DN}/rrpc/request/../1`],
    ['publish', `/ext/rrpc/#`],
    ['publish', 'anything/else'],
  ] as const)('denies %s on %j', async (action, topic) => {
    expect(await decide(action, topic, { username: SERVICE })).toBe('deny');
  });
});

describe('POST /authz/emqx — transport', () => {
  const body = emqxBody({ action: 'subscribe', topic: `/sys/${PK}/${DN}/rrpc/request/+` });

  it('refuses callers without the bearer token (EMQX then applies no_match = deny)', async () => {
    expect((await ask(body, null)).status).toBe(401);
    expect((await ask(body, 'wrong-token-wrong-token')).status).toBe(401);
  });

  it('denies bodies it cannot read', async () => {
    expect(await ask({})).toEqual({ status: 200, result: 'deny' });
    expect(await ask([])).toEqual({ status: 200, result: 'deny' });
    // Not JSON at all: 400, which EMQX treats as "ignore" and its no_match = deny refuses.
    expect((await ask('{not json')).status).toBe(400);
  });
});

describe('POST /authz/emqx on the response-ingest service', () => {
  let redis: ManagedServer;
  let mosquitto: ManagedServer;
  let service: IngestService;
  let url: string;

  beforeAll(async () => {
    [redis, mosquitto] = await Promise.all([startRedis(), startMosquitto()]);
    const config = loadIngestConfig({
      REDIS_URL: redis.url,
      MQTT_URL: mosquitto.url,
      RRPC_WEBHOOK_TOKEN: TOKEN,
      RRPC_SECRETS_KEY: Buffer.alloc(32, 5).toString('base64'),
      RRPC_SERVICE_MQTT_USERNAME: SERVICE,
      PORT: '0',
      RRPC_INSTANCE_ID: 'authz-test',
    });
    service = createIngestService(config, logger);
    url = `http://127.0.0.1:${await service.start()}`;
  });
  afterAll(async () => {
    await service?.stop();
    await Promise.all([redis?.stop(), mosquitto?.stop()]);
  });

  it('serves the endpoint with the webhook token and the configured service username', async () => {
    expect(await ask(emqxBody({ action: 'subscribe', topic: `/sys/${PK}/${DN}/rrpc/request/+` }), TOKEN, url)).toEqual({
      status: 200,
      result: 'allow',
    });
    expect(await ask(emqxBody({ action: 'subscribe', topic: '#' }), TOKEN, url)).toEqual({ status: 200, result: 'deny' });
    expect(await ask(emqxBody({ username: SERVICE, action: 'subscribe', topic: '$share/rrpc//ext/rrpc/#' }), TOKEN, url)).toEqual({
      status: 200,
      result: 'allow',
    });
    expect((await ask(emqxBody({}), null, url)).status).toBe(401);
  });
});
