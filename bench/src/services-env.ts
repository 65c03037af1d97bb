/** What every bench tool gives the api and ingest it starts: their settings, the API key, and presence. */
import { PRODUCT_KEY } from './nonce-payload.js';

export const API_KEY = 'bench-api-key-0123456789abcdef';
export const WEBHOOK_TOKEN = 'bench-webhook-token-0123456789';

/**
 * The services' environment: MQTT 5 with the shared subscription, and the call path itself, without rate
 * limits (each active limit is one more Redis command per call; the defaults, 50 calls/s per device and
 * 1,000 per key, would cap the runs).
 */
export function servicesEnv(urls: { redis: string; mqtt: string }): Record<string, string> {
  return {
    REDIS_URL: urls.redis,
    MQTT_URL: urls.mqtt,
    MQTT_PROTOCOL_VERSION: '5',
    RRPC_API_KEYS: API_KEY,
    RRPC_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    RRPC_DEVICE_REGISTRY: 'off',
    RRPC_SHARED_SUBSCRIPTION: 'true',
    RRPC_RATE_LIMIT_PER_KEY: '0',
    RRPC_RATE_LIMIT_PER_DEVICE: '0',
    // As deployed (compose, k8s): call-begin checks the request topic against the device's subscriptions.
    RRPC_TRACK_SUBSCRIPTIONS: 'true',
  };
}

/**
 * Marks the devices online, as EMQX would: a client.connected webhook each, to the ingest, then a
 * session.subscribed for its system and custom request filters (RRPC_TRACK_SUBSCRIPTIONS is on).
 */
export async function postPresence(ingestUrl: string, deviceNames: string[]): Promise<void> {
  const post = async (name: string, body: Record<string, unknown>) => {
    const res = await fetch(`${ingestUrl}/hooks/emqx`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
      body: JSON.stringify(body),
    });
    if (res.status !== 200) throw new Error(`presence webhook for ${name}: ${res.status} ${await res.text()}`);
  };
  for (const name of deviceNames) {
    const now = Date.now();
    const clientid = `${name}|securemode=3,signmethod=hmacsha1,timestamp=${now}|`;
    const username = `${name}&${PRODUCT_KEY}`;
    await post(name, { event: 'client.connected', clientid, username, connected_at: now, keepalive: 60 });
    for (const topic of [`/sys/${PRODUCT_KEY}/${name}/rrpc/request/+`, `/ext/rrpc/+/${PRODUCT_KEY}/${name}/user/#`]) {
      await post(name, { event: 'session.subscribed', clientid, username, topic, qos: 0, timestamp: now });
    }
  }
}
