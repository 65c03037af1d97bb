import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startMosquitto, startRedis, type ManagedServer } from '@rrpc/testing';
import { startService, type ServiceProcess } from './faults/support/services.js';

/**
 * Ops and binding (issue 12), on the built services as real processes: RRPC_OPS_PORT serves /metrics on a
 * port of its own and takes it off the public port; RRPC_BIND_HOST=127.0.0.1 makes a service unreachable
 * from any other address of the machine (the default, 0.0.0.0, is the control).
 */
const API_KEY = 'ops-test-api-key-0123456789abcdef';
const WEBHOOK_TOKEN = 'ops-test-webhook-token-0123456789';

/** An address of this machine other than loopback (every container has one). */
const outside = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;

let redis: ManagedServer;
let mosquitto: ManagedServer;
let api: ServiceProcess;
let ingest: ServiceProcess;
let apiOps: number;
let ingestOps: number;

beforeAll(async () => {
  [redis, mosquitto] = await Promise.all([startRedis(), startMosquitto()]);
  [apiOps, ingestOps] = [await freePort(), await freePort()];
  const env = {
    REDIS_URL: redis.url,
    MQTT_URL: mosquitto.url,
    RRPC_API_KEYS: API_KEY,
    RRPC_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    RRPC_DEVICE_REGISTRY: 'off',
  };
  api = await startService('api', 'api-ops', { ...env, RRPC_OPS_PORT: String(apiOps), RRPC_BIND_HOST: '127.0.0.1' });
  ingest = await startService('response-ingest', 'ingest-ops', { ...env, RRPC_OPS_PORT: String(ingestOps) });
}, 60_000);
afterAll(async () => {
  await Promise.allSettled([api?.kill('SIGTERM'), ingest?.kill('SIGTERM')]);
  await Promise.allSettled([redis?.stop(), mosquitto?.stop()]);
});

const reach = (url: string) =>
  fetch(url).then(
    (r) => r.status,
    () => 'refused' as const,
  );

describe('RRPC_OPS_PORT', () => {
  it('serves /metrics on the ops port only; /livez and /readyz on both', async () => {
    for (const [service, opsPort] of [
      [api, apiOps],
      [ingest, ingestOps],
    ] as const) {
      const open = await fetch(`${service.url}/metrics`);
      expect(open.status).toBe(service === api ? 401 : 404); // the api asks for a key first; neither serves metrics
      expect(await open.text()).not.toContain('rrpc_');
      expect((await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${API_KEY}` } })).status).toBe(404);
      const metrics = await fetch(`http://127.0.0.1:${opsPort}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^# HELP rrpc_/m);
      for (const path of ['/livez', '/readyz']) {
        expect(await reach(`${service.url}${path}`)).toBe(200);
        expect(await reach(`http://127.0.0.1:${opsPort}${path}`)).toBe(200);
      }
      // The ops port serves nothing else.
      expect(await reach(`http://127.0.0.1:${opsPort}/v1/devices/pk/dn`)).toBe(404);
    }
  });
});

describe('RRPC_BIND_HOST', () => {
  it.runIf(outside !== undefined)('127.0.0.1: reachable on loopback only; the default (0.0.0.0) from outside too', async () => {
    const apiPort = new URL(api.url).port;
    const ingestPort = new URL(ingest.url).port;
    expect(await reach(`http://127.0.0.1:${apiPort}/livez`)).toBe(200);
    expect(await reach(`http://${outside}:${apiPort}/livez`)).toBe('refused');
    expect(await reach(`http://${outside}:${apiOps}/metrics`)).toBe('refused');
    expect(await reach(`http://${outside}:${ingestPort}/livez`)).toBe(200);
  });
});
