/**
 * An RRPC cluster for tests: a private redis-server and mosquitto, and any number of api pods and
 * response-ingest replicas started in this process (each with its own connections, as separate pods).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { loadApiConfig, loadIngestConfig, type Env } from '@rrpc/config';
import { createApiService, type ApiService } from '@rrpc/api';
import { createIngestService, type IngestService } from '@rrpc/response-ingest';
import { createLogger } from '@rrpc/runtime';
import { deviceRequestFilter } from '@rrpc/topics';
import { TEST_SECRETS_KEY, startMosquitto, startRedis, type ManagedServer } from '@rrpc/testing';
import { connectTestRegistry, registryOptionsOf, type TestRegistry } from './registry.js';

export const API_KEY = 'test-api-key-0123456789abcdef';
export const WEBHOOK_TOKEN = 'test-webhook-token-0123456789';

export interface ClusterOptions {
  apis?: number;
  ingests?: number;
  sharedSubscription?: boolean;
  protocolVersion?: 4 | 5;
  env?: Env;
}

export interface TestCluster {
  redis: ManagedServer;
  mosquitto: ManagedServer;
  apis: Array<{ service: ApiService; url: string }>;
  ingests: Array<{ service: IngestService; url: string }>;
  env: Env;
  /** Every topic published on the broker since the cluster started (a '#' subscriber). */
  published: string[];
  /** The device registry: webhook() and connectDevice() register the device of a client.connected event. */
  devices: TestRegistry;
  api(path: string, init?: RequestInit & { pod?: number }): Promise<Response>;
  call(productKey: string, deviceName: string, body: unknown, pod?: number): Promise<Response>;
  webhook(body: unknown, replica?: number, token?: string): Promise<Response>;
  connectDevice(productKey: string, deviceName: string, keepalive?: number): Promise<void>;
  disconnectDevice(productKey: string, deviceName: string, reason?: string): Promise<void>;
  /**
   * The broker's session.subscribed webhook for each filter (default: the device's system request filter),
   * as EMQX sends it right after the device subscribes; `unsubscribe: true` sends session.unsubscribed.
   */
  subscribeDevice(
    productKey: string,
    deviceName: string,
    filters?: string[],
    options?: { unsubscribe?: boolean; clientId?: string },
  ): Promise<void>;
  stop(): Promise<void>;
}

const logger = createLogger('test', process.env['TEST_LOG_LEVEL'] ?? 'silent');

export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const [redis, mosquitto] = await Promise.all([startRedis(), startMosquitto()]);
  const env: Env = {
    REDIS_URL: redis.url,
    MQTT_URL: mosquitto.url,
    MQTT_PROTOCOL_VERSION: String(options.protocolVersion ?? 5),
    RRPC_API_KEYS: API_KEY,
    RRPC_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    RRPC_SECRETS_KEY: TEST_SECRETS_KEY,
    RRPC_SHARED_SUBSCRIPTION: String(options.sharedSubscription ?? true),
    PORT: '0',
    ...options.env,
  };
  const published: string[] = [];
  const devices = connectTestRegistry(registryOptionsOf(env));
  const spy: MqttClient = await mqtt.connectAsync(mosquitto.url, { clientId: `spy-${process.pid}-${Date.now()}`, protocolVersion: 5 });
  await spy.subscribeAsync('#', { qos: 0 });
  spy.on('message', (topic) => published.push(topic));

  const ingests: TestCluster['ingests'] = [];
  for (let i = 0; i < (options.ingests ?? 1); i++) {
    const service = createIngestService(loadIngestConfig({ ...env, RRPC_INSTANCE_ID: `ingest-${i}` }), logger);
    const port = await service.start();
    ingests.push({ service, url: `http://127.0.0.1:${port}` });
  }
  const apis: TestCluster['apis'] = [];
  for (let i = 0; i < (options.apis ?? 1); i++) {
    const service = createApiService(loadApiConfig({ ...env, RRPC_INSTANCE_ID: `api-${i}` }), logger);
    const port = await service.start();
    apis.push({ service, url: `http://127.0.0.1:${port}` });
  }

  const cluster: TestCluster = {
    redis,
    mosquitto,
    apis,
    ingests,
    env,
    published,
    devices,
    api(path, init = {}) {
      const pod = apis[init.pod ?? 0];
      if (!pod) throw new Error(`no api pod ${init.pod}`);
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${API_KEY}`);
      return fetch(pod.url + path, { ...init, headers });
    },
    call(productKey, deviceName, body, pod = 0) {
      return cluster.api(`/v1/devices/${productKey}/${deviceName}/rrpc`, {
        method: 'POST',
        pod,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    },
    async webhook(body, replica = 0, token = WEBHOOK_TOKEN) {
      const ingest = ingests[replica];
      if (!ingest) throw new Error(`no ingest replica ${replica}`);
      // A device connects only when it is registered: register it before the broker reports the connection.
      const undo = await devices.registerConnected(body);
      const res = await fetch(`${ingest.url}/hooks/emqx`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      if (res.status !== 200) await undo(); // the broker did not accept the connection after all
      return res;
    },
    async connectDevice(productKey, deviceName, keepalive = 60) {
      const res = await cluster.webhook(connectedEvent(productKey, deviceName, Date.now(), keepalive));
      if (res.status !== 200) throw new Error(`connect webhook: ${res.status} ${await res.text()}`);
    },
    async subscribeDevice(productKey, deviceName, filters = [deviceRequestFilter({ productKey, deviceName })], options = {}) {
      for (const filter of filters) {
        const body = subscriptionEvent(
          options.unsubscribe ? 'unsubscribed' : 'subscribed',
          productKey,
          deviceName,
          filter,
          Date.now(),
          options.clientId,
        );
        const res = await cluster.webhook(body);
        if (res.status !== 200) throw new Error(`subscription webhook: ${res.status} ${await res.text()}`);
      }
    },
    async disconnectDevice(productKey, deviceName, reason = 'normal') {
      const res = await cluster.webhook(disconnectedEvent(productKey, deviceName, Date.now(), reason));
      if (res.status !== 200) throw new Error(`disconnect webhook: ${res.status} ${await res.text()}`);
    },
    async stop() {
      await Promise.allSettled(apis.map((a) => a.service.stop()));
      await Promise.allSettled(ingests.map((i) => i.service.stop()));
      await spy.endAsync();
      await devices.close();
      await Promise.allSettled([redis.stop(), mosquitto.stop()]);
    },
  };
  return cluster;
}

/** EMQX 5 rule-engine `client.connected` body (fields as EMQX sends them). */
export function connectedEvent(
  productKey: string,
  deviceName: string,
  connectedAt: number,
  keepalive = 60,
  clientId = deviceClientId(deviceName),
) {
  return {
    event: 'client.connected',
    clientid: clientId,
    username: `${deviceName}&${productKey}`,
    connected_at: connectedAt,
    keepalive,
    proto_ver: 4,
    proto_name: 'MQTT',
    peername: '127.0.0.1:50000',
    sockname: '127.0.0.1:1883',
    clean_start: true,
    expiry_interval: 0,
    is_bridge: false,
    node: 'emqx@127.0.0.1',
    timestamp: connectedAt,
    metadata: { rule_id: 'rrpc-presence' },
  };
}

/** The client ID the webhook helpers give a device's session unless told otherwise. */
export function deviceClientId(deviceName: string): string {
  return `${deviceName}|securemode=3,signmethod=hmacsha1|`;
}

/** EMQX 5 rule-engine `session.subscribed` / `session.unsubscribed` body (fields as EMQX documents them). */
export function subscriptionEvent(
  kind: 'subscribed' | 'unsubscribed',
  productKey: string,
  deviceName: string,
  topic: string,
  at: number,
  clientId = deviceClientId(deviceName),
) {
  return {
    event: `session.${kind}`,
    clientid: clientId,
    username: `${deviceName}&${productKey}`,
    topic,
    qos: 0,
    ...(kind === 'subscribed' ? { sub_props: { 'User-Property': {} } } : { unsub_props: { 'User-Property': {} } }),
    peerhost: '127.0.0.1',
    node: 'emqx@127.0.0.1',
    timestamp: at,
    metadata: { rule_id: 'rrpc-presence' },
  };
}

/** EMQX 5 rule-engine `client.disconnected` body. */
export function disconnectedEvent(
  productKey: string,
  deviceName: string,
  disconnectedAt: number,
  reason = 'normal',
  connectedAt?: number,
  clientId = deviceClientId(deviceName),
) {
  return {
    event: 'client.disconnected',
    clientid: clientId,
    username: `${deviceName}&${productKey}`,
    reason,
    disconnected_at: disconnectedAt,
    ...(connectedAt !== undefined ? { connected_at: connectedAt } : {}),
    node: 'emqx@127.0.0.1',
    timestamp: disconnectedAt,
    disconn_props: { 'User-Property': {} },
    metadata: { rule_id: 'rrpc-presence' },
  };
}
