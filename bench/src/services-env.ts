/** What every bench tool gives the api and ingest it starts: their settings, the API key, and presence. */
import { randomBytes } from 'node:crypto';
import { PRODUCT_KEY } from './nonce-payload.js';

export const API_KEY = 'bench-api-key-0123456789abcdef';
export const WEBHOOK_TOKEN = 'bench-webhook-token-0123456789';
/** One secrets key per bench run, shared by every service it starts (device secrets are sealed under it). */
const SECRETS_KEY = randomBytes(32).toString('base64');

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
    RRPC_SECRETS_KEY: SECRETS_KEY,
    RRPC_SHARED_SUBSCRIPTION: 'true',
    RRPC_RATE_LIMIT_PER_KEY: '0',
    RRPC_RATE_LIMIT_PER_DEVICE: '0',
    // As deployed (compose, k8s): call-begin checks the request topic against the device's subscriptions.
    RRPC_TRACK_SUBSCRIPTIONS: 'true',
  };
}

/**
 * BENCH_TRACE: `off` (default, no OTEL_* at all), `0` or `1`: OpenTelemetry on, exporting OTLP/HTTP protobuf
 * to `endpoint` (the bench's own counting sink), sampling that ratio of new traces. Compare calls/s and api CPU
 * per 1,000 calls across the three (docs/tracing.md).
 */
export const TRACE_MODES = ['off', '0', '1'] as const;
export type TraceMode = (typeof TRACE_MODES)[number];

export function traceMode(value: string | undefined): TraceMode {
  const mode = value === undefined || value === '' ? 'off' : value;
  if (!(TRACE_MODES as readonly string[]).includes(mode)) throw new Error(`BENCH_TRACE must be off, 0 or 1 (got "${value}")`);
  return mode as TraceMode;
}

export function tracingEnv(mode: TraceMode, endpoint: string | undefined): Record<string, string> {
  if (mode === 'off' || endpoint === undefined) return {};
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: mode,
  };
}

/** Registers the devices through the api (POST /v1/devices/import, 10,000 at a time); existing ones stay. */
export async function registerDevices(apiUrl: string, deviceNames: string[]): Promise<void> {
  for (let i = 0; i < deviceNames.length; i += 10_000) {
    const devices = deviceNames
      .slice(i, i + 10_000)
      .map((deviceName) => ({ productKey: PRODUCT_KEY, deviceName, deviceSecret: `bench-secret-${deviceName}`.padEnd(16, '0') }));
    const res = await fetch(`${apiUrl}/v1/devices/import`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ devices }),
    });
    const body = (await res.json()) as { failed?: unknown[] };
    if (res.status !== 200 || (body.failed?.length ?? 0) > 0)
      throw new Error(`device import: ${res.status} ${JSON.stringify(body).slice(0, 500)}`);
  }
}

/**
 * Marks the devices online, as EMQX would: registers them (a device connects only when it is registered),
 * then a client.connected webhook each, to the ingest, then a session.subscribed for its system and custom
 * request filters (RRPC_TRACK_SUBSCRIPTIONS is on).
 */
export async function postPresence(ingestUrl: string, deviceNames: string[], apiUrl: string): Promise<void> {
  await registerDevices(apiUrl, deviceNames);
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
