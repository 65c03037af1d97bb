/**
 * The issue's attacks on the local cluster (`npm start`'s embedded broker, real service processes, a real
 * Redis), each one now refused at CONNECT: an anonymous client subscribing to `#`, a client claiming
 * `device-0001&demo`, a device with a wrong secret or signing for another device, three clients claiming
 * `rrpc-platform` to join the ingest's subscription. The simulated devices (registered, signing with their
 * own secrets) and the platform's own services keep working: calls still succeed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox, devicePassword, parseSecretsKey } from '@rrpc/crypto';
import { connectDevice, deviceCredentials, type RrpcDevice } from '@rrpc/device-sdk';
import { startLocalCluster, type LocalCluster } from '@rrpc/local-cluster';
import { DeviceRegistry, Keys, connectRedis, createRedis, type RedisClient } from '@rrpc/store';

const root = fileURLToPath(new URL('../', import.meta.url));
const SECRETS_KEY = randomBytes(32).toString('base64');
let cluster: LocalCluster;
let redis: RedisClient;
let registry: DeviceRegistry;
const clients: MqttClient[] = [];
const devices: RrpcDevice[] = [];

beforeAll(async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', RRPC_SECRETS_KEY: SECRETS_KEY };
  for (const name of ['MQTT_URL', 'REDIS_URL', 'RRPC_API_KEYS', 'RRPC_WEBHOOK_TOKEN', 'MQTT_USERNAME', 'MQTT_PASSWORD', 'RRPC_NAMESPACE'])
    delete env[name];
  cluster = await startLocalCluster({ root, logDir: mkdtempSync(join(tmpdir(), 'rrpc-authn-')), env, devices: 2 });
  redis = createRedis({ url: cluster.redisUrl, commandTimeoutMs: 2000, connectionName: 'authn-test' });
  await connectRedis(redis);
  registry = new DeviceRegistry(redis, new Keys('rrpc'), new SecretBox(parseSecretsKey(SECRETS_KEY)));
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await Promise.all(devices.map((d) => d.disconnect().catch(() => undefined)));
  redis?.disconnect();
  await cluster?.stop();
}, 60_000);

/** Connects once, without retries; resolves with the CONNACK refusal code, or 0 when let in. */
async function tryConnect(options: mqtt.IClientOptions): Promise<{ code: number; client?: MqttClient }> {
  const client = mqtt.connect(cluster.mqttUrl, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, ...options });
  clients.push(client);
  return new Promise((resolve) => {
    client.once('connect', () => resolve({ code: 0, client }));
    client.once('error', (error) => resolve({ code: (error as Error & { code?: number }).code ?? -1 }));
    client.once('close', () => resolve({ code: -1 }));
  });
}

async function call(deviceName: string, text: string): Promise<{ status: number; payload?: string }> {
  const res = await fetch(`${cluster.apiUrl}/v1/devices/${cluster.productKey}/${deviceName}/rrpc`, {
    method: 'POST',
    headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ payload: Buffer.from(text).toString('base64'), timeoutMs: 5000 }),
  });
  const body = (await res.json()) as { payload?: string };
  return { status: res.status, ...(body.payload ? { payload: Buffer.from(body.payload, 'base64').toString() } : {}) };
}

describe('the embedded broker authenticates every CONNECT through response-ingest', () => {
  it('the registered simulated devices and the platform are in: a call is answered', async () => {
    expect(await call(cluster.deviceNames[0]!, 'still works')).toEqual({ status: 200, payload: 'still works' });
  });

  it('refuses an anonymous client, so nobody subscribes to # any more', async () => {
    expect((await tryConnect({ clientId: 'eavesdropper' })).code).toBe(4);
    expect((await tryConnect({ clientId: 'eavesdropper|securemode=3,signmethod=hmacsha1|', username: '', password: '' })).code).toBe(4);
  });

  it('refuses a client claiming device-0001&demo without its secret (no password, wrong secret, replayed signature)', async () => {
    const victim = cluster.deviceNames[0]!;
    const base = { productKey: cluster.productKey, deviceName: victim, clientId: 'impostor', timestamp: Date.now() };
    expect(
      (await tryConnect({ clientId: 'impostor|securemode=3,signmethod=hmacsha1|', username: `${victim}&${cluster.productKey}` })).code,
    ).toBe(4);
    const wrong = deviceCredentials({ ...base, deviceSecret: 'a-guessed-secret-0123456789' });
    expect((await tryConnect({ clientId: wrong.clientId, username: wrong.username, password: wrong.password! })).code).toBe(4);
    // The victim is still the only one answering its calls.
    expect(await call(victim, 'mine')).toEqual({ status: 200, payload: 'mine' });
  });

  it('refuses a registered device with a wrong secret, or signing with its own secret for another device', async () => {
    const deviceName = `own-${randomBytes(3).toString('hex')}`;
    await registry.create({ productKey: cluster.productKey, deviceName }, 'own-device-secret-0123456789');
    // Its real secret lets it in, and it may use only its own topics.
    const me = await connectDevice({
      url: cluster.mqttUrl,
      productKey: cluster.productKey,
      deviceName,
      deviceSecret: 'own-device-secret-0123456789',
      reconnectPeriodMs: 0,
    });
    devices.push(me);
    expect(me.client?.connected).toBe(true);
    // SUBACK 0x80 for another device's requests and for '#' (mqtt.js rejects on it).
    await expect(me.client!.subscribeAsync(`/sys/${cluster.productKey}/${cluster.deviceNames[0]}/rrpc/request/+`)).rejects.toThrow(
      /Subscribe error/,
    );
    await expect(me.client!.subscribeAsync('#')).rejects.toThrow(/Subscribe error/);
    const own = await me.client!.subscribeAsync(`/sys/${cluster.productKey}/${deviceName}/rrpc/request/+`);
    expect(own[0]?.qos).toBe(0);

    const wrong = deviceCredentials({
      productKey: cluster.productKey,
      deviceName,
      clientId: 'x1',
      deviceSecret: 'not-my-secret-0123456789',
      timestamp: Date.now(),
    });
    expect((await tryConnect({ clientId: wrong.clientId, username: wrong.username, password: wrong.password! })).code).toBe(4);
    // Signs correctly with its own secret, but names the victim in the username.
    const victim = cluster.deviceNames[1]!;
    const id = 'x2';
    const password = devicePassword(
      'own-device-secret-0123456789',
      { clientId: id, productKey: cluster.productKey, deviceName, timestamp: '1' },
      'hmacsha1',
    );
    expect(
      (
        await tryConnect({
          clientId: `${id}|securemode=3,signmethod=hmacsha1,timestamp=1|`,
          username: `${victim}&${cluster.productKey}`,
          password,
        })
      ).code,
    ).toBe(4);
    // Disabled: refused at the next login.
    await registry.setEnabled({ productKey: cluster.productKey, deviceName }, false);
    const again = deviceCredentials({
      productKey: cluster.productKey,
      deviceName,
      clientId: 'x3',
      deviceSecret: 'own-device-secret-0123456789',
      timestamp: Date.now(),
    });
    expect((await tryConnect({ clientId: again.clientId, username: again.username, password: again.password! })).code).toBe(4);
  });

  it("refuses three clients claiming rrpc-platform, so none joins the ingest's subscription; every answer still arrives", async () => {
    for (const [i, password] of [undefined, '', 'rrpc-mqtt-guess-0123456789'].entries()) {
      expect(
        (await tryConnect({ clientId: `thief-${i}`, username: 'rrpc-platform', ...(password !== undefined ? { password } : {}) })).code,
      ).toBe(4);
    }
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => call(cluster.deviceNames[i % 2]!, `answer ${i}`)));
    expect(answers).toEqual(Array.from({ length: 20 }, (_, i) => ({ status: 200, payload: `answer ${i}` })));
  });
});
