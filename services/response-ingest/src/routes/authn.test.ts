import express from 'express';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox, devicePassword, type SignMethod } from '@rrpc/crypto';
import { createAuthnMetrics, createRegistry } from '@rrpc/metrics';
import { createLogger, errorHandler, listen, notFound } from '@rrpc/runtime';
import { DeviceRegistry, Keys, connectRedis, createRedis, type RedisClient } from '@rrpc/store';
import { startRedis, type ManagedServer } from '@rrpc/testing';
import { authorize, deviceAcl, evaluateAcl, type AclRule } from '@rrpc/topics';
import { Authenticator } from '../authenticator.js';
import { authnRoutes } from './authn.js';

const TOKEN = 'authn-test-token-0123456789';
const PLATFORM = 'rrpc-platform';
const PLATFORM_PASSWORD = 'platform-password-0123456789';
const logger = createLogger('test', 'silent');

// Alibaba's published example device.
const PK = 'a14Xib5kdYd';
const DN = 'light1983432';
const SECRET = 'oLyaKqVxtRvjH284LdhqVgVUx1UPy6zq';
const ALIBABA_CLIENT_ID = 'SN1928339|securemode=3,signmethod=hmacsha1,timestamp=1539421321846|';
const ALIBABA_PASSWORD = 'b2488041f64f425016b467ee1c94959ebd592ad1';

let redisServer: ManagedServer;
let redis: RedisClient;
let registry: DeviceRegistry;
const servers: Server[] = [];
let base: string;
let metricsText: () => Promise<string>;

async function serve(authenticator: Authenticator, metricsRegistry = createRegistry('test')): Promise<string> {
  const app = express();
  app.use(authnRoutes({ authenticator, metrics: createAuthnMetrics(metricsRegistry), logger, webhookToken: TOKEN, authDisabled: false }));
  app.use(notFound);
  app.use(errorHandler(logger));
  const server = createServer(app);
  servers.push(server);
  return `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
}

beforeAll(async () => {
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url, commandTimeoutMs: 1000, connectionName: 'authn-test' });
  await connectRedis(redis);
  registry = new DeviceRegistry(redis, new Keys('authn'), new SecretBox(randomBytes(32)));
  await registry.create({ productKey: PK, deviceName: DN }, SECRET);
  await registry.create({ productKey: PK, deviceName: 'light0000002' }, 'second-device-secret-0123456789');
  await registry.create({ productKey: PK, deviceName: 'disabled-0001' }, 'disabled-device-secret-01234567');
  await registry.setEnabled({ productKey: PK, deviceName: 'disabled-0001' }, false);
  const metrics = createRegistry('response-ingest');
  metricsText = () => metrics.metrics();
  base = await serve(
    new Authenticator({ registry, serviceUsername: PLATFORM, servicePassword: PLATFORM_PASSWORD, shareGroup: 'rrpc' }),
    metrics,
  );
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  redis.disconnect();
  await redisServer.stop();
});

interface Answer {
  status: number;
  body: { result?: string; is_superuser?: boolean; acl?: AclRule[] };
  contentType: string | null;
}

async function login(body: unknown, options: { token?: string | null; url?: string } = {}): Promise<Answer> {
  const token = options.token === undefined ? TOKEN : options.token;
  const res = await fetch(`${options.url ?? base}/authn/emqx`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Answer['body'], contentType: res.headers.get('content-type') };
}

function deviceLogin(
  deviceName: string,
  secret: string,
  method: SignMethod = 'hmacsha256',
  securemode = '3',
  claimed = `${deviceName}&${PK}`,
) {
  const id = `${deviceName}-sn`;
  const timestamp = '1700000000000';
  return {
    clientid: `${id}|securemode=${securemode},signmethod=${method},timestamp=${timestamp}|`,
    username: claimed,
    password: devicePassword(secret, { clientId: id, productKey: PK, deviceName, timestamp }, method),
    peerhost: '127.0.0.1',
  };
}

describe('POST /authn/emqx — devices', () => {
  it("allows Alibaba's published example device, with its own ACL and no superuser", async () => {
    const answer = await login({ clientid: ALIBABA_CLIENT_ID, username: `${DN}&${PK}`, password: ALIBABA_PASSWORD, peerhost: '10.0.0.7' });
    expect(answer.status).toBe(200);
    expect(answer.contentType).toMatch(/^application\/json/);
    expect(answer.body.result).toBe('allow');
    expect(answer.body.is_superuser).toBe(false);
    const acl = answer.body.acl!;
    expect(evaluateAcl(acl, { action: 'subscribe', topic: `/sys/${PK}/${DN}/rrpc/request/+` })).toBe('allow');
    expect(evaluateAcl(acl, { action: 'publish', topic: `/sys/${PK}/${DN}/rrpc/response/123`, retain: false })).toBe('allow');
    expect(evaluateAcl(acl, { action: 'publish', topic: `/sys/${PK}/${DN}/rrpc/response/123`, retain: true })).toBe('deny');
    expect(evaluateAcl(acl, { action: 'subscribe', topic: '#' })).toBe('deny');
    expect(evaluateAcl(acl, { action: 'subscribe', topic: `/sys/${PK}/light0000002/rrpc/request/+` })).toBe('deny');
    expect(evaluateAcl(acl, { action: 'publish', topic: `/sys/${PK}/light0000002/rrpc/response/1` })).toBe('deny');
  });

  it.each(['hmacmd5', 'hmacsha1', 'hmacsha256'] as const)(
    'allows a registered device signing with %s, securemode 2 and 3',
    async (method) => {
      for (const mode of ['2', '3'])
        expect((await login(deviceLogin('light0000002', 'second-device-secret-0123456789', method, mode))).body.result).toBe('allow');
    },
  );

  it('denies a wrong secret, an unknown device, a disabled device, a deleted device', async () => {
    expect((await login(deviceLogin('light0000002', 'not-the-secret-0123456789'))).body).toEqual({ result: 'deny', is_superuser: false });
    expect((await login(deviceLogin('nobody-0001', 'whatever-secret-0123456789'))).body.result).toBe('deny');
    expect((await login(deviceLogin('disabled-0001', 'disabled-device-secret-01234567'))).body.result).toBe('deny');
    await registry.create({ productKey: PK, deviceName: 'deleted-0001' }, 'deleted-device-secret-012345678');
    expect((await login(deviceLogin('deleted-0001', 'deleted-device-secret-012345678'))).body.result).toBe('allow');
    await registry.delete({ productKey: PK, deviceName: 'deleted-0001' });
    expect((await login(deviceLogin('deleted-0001', 'deleted-device-secret-012345678'))).body.result).toBe('deny');
  });

  it('denies at once after a secret rotation, and again allows once re-enabled', async () => {
    const device = { productKey: PK, deviceName: 'rotate-0001' };
    await registry.create(device, 'rotate-old-secret-0123456789');
    expect((await login(deviceLogin('rotate-0001', 'rotate-old-secret-0123456789'))).body.result).toBe('allow');
    await registry.replaceSecret(device, 'rotate-new-secret-0123456789');
    expect((await login(deviceLogin('rotate-0001', 'rotate-old-secret-0123456789'))).body.result).toBe('deny');
    expect((await login(deviceLogin('rotate-0001', 'rotate-new-secret-0123456789'))).body.result).toBe('allow');
    await registry.setEnabled(device, false);
    expect((await login(deviceLogin('rotate-0001', 'rotate-new-secret-0123456789'))).body.result).toBe('deny');
    await registry.setEnabled(device, true);
    expect((await login(deviceLogin('rotate-0001', 'rotate-new-secret-0123456789'))).body.result).toBe('allow');
  });

  it('denies a client whose username names another device (signed with its own secret, or replaying)', async () => {
    // A device signs honestly for itself but claims the other device's username.
    const own = deviceLogin('light0000002', 'second-device-secret-0123456789');
    expect((await login({ ...own, username: `${DN}&${PK}` })).body.result).toBe('deny');
    // The example device's valid password replayed with another client ID.
    expect(
      (
        await login({
          clientid: 'SN0000000|securemode=3,signmethod=hmacsha1,timestamp=1539421321846|',
          username: `${DN}&${PK}`,
          password: ALIBABA_PASSWORD,
        })
      ).body.result,
    ).toBe('deny');
  });

  it.each([
    ['no |...| block', { clientid: 'SN1928339', username: `${DN}&${PK}`, password: ALIBABA_PASSWORD }],
    [
      'an unknown signmethod',
      {
        clientid: 'SN1928339|securemode=3,signmethod=hmacsha512,timestamp=1539421321846|',
        username: `${DN}&${PK}`,
        password: ALIBABA_PASSWORD,
      },
    ],
    ['a non-hex password', { clientid: ALIBABA_CLIENT_ID, username: `${DN}&${PK}`, password: 'z'.repeat(40) }],
    ['no password', { clientid: ALIBABA_CLIENT_ID, username: `${DN}&${PK}` }],
    ['a number as password', { clientid: ALIBABA_CLIENT_ID, username: `${DN}&${PK}`, password: 42 }],
    [
      'an oversized client ID',
      { clientid: `${'S'.repeat(300)}|securemode=3,signmethod=hmacsha1|`, username: `${DN}&${PK}`, password: ALIBABA_PASSWORD },
    ],
    ['an oversized username', { clientid: ALIBABA_CLIENT_ID, username: `${'a'.repeat(200)}&${PK}`, password: ALIBABA_PASSWORD }],
    ['an oversized password', { clientid: ALIBABA_CLIENT_ID, username: `${DN}&${PK}`, password: 'a'.repeat(300) }],
    ['no username (anonymous)', { clientid: ALIBABA_CLIENT_ID, password: ALIBABA_PASSWORD }],
    ['an empty username', { clientid: ALIBABA_CLIENT_ID, username: '', password: '' }],
    ['a username that is not name&key', { clientid: ALIBABA_CLIENT_ID, username: `${DN}&${PK}&x`, password: ALIBABA_PASSWORD }],
    ['a username with a wildcard', { clientid: ALIBABA_CLIENT_ID, username: `light#1&${PK}`, password: ALIBABA_PASSWORD }],
    ['an object as client ID', { clientid: { toString: 'x' }, username: `${DN}&${PK}`, password: ALIBABA_PASSWORD }],
    ['EMQX rendering an absent field as "undefined"', { clientid: ALIBABA_CLIENT_ID, username: 'undefined', password: 'undefined' }],
  ])('denies (200, never 4xx/5xx) a login with %s', async (_why, body) => {
    const answer = await login(body);
    expect(answer.status).toBe(200);
    expect(answer.body.result).toBe('deny');
    expect(answer.body.acl).toBeUndefined();
  });

  it.each([
    ['not JSON', '{"clientid": '],
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"allow"'],
    ['null', 'null'],
    [
      'a body over 8 KiB',
      JSON.stringify({ clientid: ALIBABA_CLIENT_ID, username: `${DN}&${PK}`, password: ALIBABA_PASSWORD, pad: 'x'.repeat(10_000) }),
    ],
  ])('denies a body that is %s with 200', async (_why, raw) => {
    const answer = await login(raw);
    expect(answer.status).toBe(200);
    expect(answer.body.result).toBe('deny');
  });

  it('answers 401 without the bearer token or with a wrong one (EMQX: ignore, then the chain ends in deny)', async () => {
    const body = { clientid: ALIBABA_CLIENT_ID, username: `${DN}&${PK}`, password: ALIBABA_PASSWORD };
    for (const token of [null, 'wrong-token-0123456789', '']) {
      const answer = await login(body, { token });
      expect(answer.status).toBe(401);
      expect(answer.body.result).toBeUndefined();
    }
  });
});

describe('POST /authn/emqx — the platform user', () => {
  it('allows the platform username only with MQTT_PASSWORD, with the platform ACL', async () => {
    const ok = await login({ clientid: 'api-7f9c-1', username: PLATFORM, password: PLATFORM_PASSWORD });
    expect(ok.body.result).toBe('allow');
    expect(ok.body.is_superuser).toBe(false);
    const acl = ok.body.acl!;
    expect(evaluateAcl(acl, { action: 'subscribe', topic: '$share/rrpc//sys/+/+/rrpc/response/+' })).toBe('allow');
    expect(evaluateAcl(acl, { action: 'publish', topic: `/sys/${PK}/${DN}/rrpc/request/1`, retain: false })).toBe('allow');
    expect(evaluateAcl(acl, { action: 'subscribe', topic: '#' })).toBe('deny');
    expect(evaluateAcl(acl, { action: 'subscribe', topic: `/sys/${PK}/${DN}/rrpc/request/+` })).toBe('deny');
    for (const password of ['wrong-password-0123456789', `${PLATFORM_PASSWORD}x`, '', undefined, ALIBABA_PASSWORD]) {
      expect((await login({ clientid: 'api-7f9c-1', username: PLATFORM, password })).body.result, String(password)).toBe('deny');
    }
  });

  it('allows nobody as the platform when no password is configured', async () => {
    const url = await serve(new Authenticator({ registry, serviceUsername: PLATFORM, servicePassword: undefined, shareGroup: 'rrpc' }));
    for (const password of [undefined, '', 'anything-at-all-0123456789']) {
      expect((await login({ clientid: 'api-1', username: PLATFORM, password }, { url })).body.result).toBe('deny');
    }
  });
});

describe('POST /authn/emqx — RRPC_DEVICE_REGISTRY=off', () => {
  it('ignores device logins (another authenticator decides; alone in the chain: refused), still checks the platform', async () => {
    const url = await serve(
      new Authenticator({ registry: undefined, serviceUsername: PLATFORM, servicePassword: PLATFORM_PASSWORD, shareGroup: 'rrpc' }),
    );
    const device = await login({ clientid: ALIBABA_CLIENT_ID, username: `${DN}&${PK}`, password: ALIBABA_PASSWORD }, { url });
    expect(device.body).toEqual({ result: 'ignore', is_superuser: false });
    expect((await login({ clientid: 'SN1', username: `${DN}&${PK}`, password: ALIBABA_PASSWORD }, { url })).body.result).toBe('deny');
    expect((await login({ clientid: 'api-1', username: PLATFORM, password: PLATFORM_PASSWORD }, { url })).body.result).toBe('allow');
    expect((await login({ clientid: 'api-1', username: PLATFORM, password: 'nope-nope-nope-nope' }, { url })).body.result).toBe('deny');
  });
});

describe('POST /authn/emqx — metrics', () => {
  it('counts by result and reason, never a username, a device or a secret', async () => {
    await login(deviceLogin('light0000002', 'not-the-secret-0123456789'));
    const text = await metricsText();
    expect(text).toMatch(/rrpc_mqtt_authentications_total\{result="allow",reason="device",service="response-ingest"\} [1-9]/);
    expect(text).toMatch(/rrpc_mqtt_authentications_total\{result="deny",reason="bad_signature",service="response-ingest"\} [1-9]/);
    expect(text).toMatch(/rrpc_mqtt_authentications_total\{result="deny",reason="malformed",service="response-ingest"\} [1-9]/);
    expect(text).toMatch(/rrpc_mqtt_authentication_duration_seconds_count\{service="response-ingest"\} [1-9]/);
    for (const secret of [DN, PK, SECRET, PLATFORM_PASSWORD, 'light0000002', PLATFORM]) expect(text).not.toContain(secret);
  });
});

describe('device ACL and /authz/emqx agree', () => {
  it('whatever authorize() allows a device, its ACL allows; its ACL never reaches another device', () => {
    const me = { productKey: PK, deviceName: DN };
    const rules = deviceAcl(me);
    const topics: Array<['publish' | 'subscribe', string]> = [];
    for (const dn of [DN, 'light0000002']) {
      for (const pk of [PK, 'otherPk']) {
        topics.push(
          ['subscribe', `/sys/${pk}/${dn}/rrpc/request/+`],
          ['subscribe', `/sys/${pk}/${dn}/rrpc/request/1234`],
          ['subscribe', `/ext/rrpc/+/${pk}/${dn}/user/get`],
          ['subscribe', `/ext/rrpc/+/${pk}/${dn}/user/a/b`],
          ['publish', `/sys/${pk}/${dn}/rrpc/response/1234`],
          ['publish', `/ext/rrpc/42/${pk}/${dn}/user/get`],
          ['publish', `/sys/${pk}/${dn}/rrpc/request/1234`],
          ['subscribe', `/sys/${pk}/${dn}/rrpc/response/+`],
          ['subscribe', `/sys/${pk}/+/rrpc/request/+`],
          ['subscribe', `/sys/${pk}/#`],
        );
      }
    }
    topics.push(['subscribe', '#'], ['subscribe', '+/#'], ['subscribe', '$SYS/#'], ['publish', '$SYS/x'], ['subscribe', '/ext/rrpc/#']);
    for (const [action, topic] of topics) {
      const authz = authorize({ username: `${DN}&${PK}`, action, topic, retain: false }, { serviceUsername: PLATFORM }).allow;
      const viaAcl = evaluateAcl(rules, { action, topic, retain: false }) === 'allow';
      if (authz) expect(viaAcl, `${action} ${topic}`).toBe(true);
      if (viaAcl) expect(topic.includes(`/${PK}/${DN}/`), `${action} ${topic}`).toBe(true);
    }
  });
});
