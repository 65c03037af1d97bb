import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { Redis } from 'ioredis';
import { Keys, ReconcileStore } from '@rrpc/store';
import { deviceRequestFilter } from '@rrpc/topics';
import { deviceClientId, startCluster, type TestCluster } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';

/**
 * Reconciliation of presence with the broker (issue 14): a small HTTP server answers as EMQX 5's REST API
 * does (the documented bodies of /api/v5/clients/{clientid}, /api/v5/clients/{clientid}/subscriptions and
 * /api/v5/clients?_page=&_limit=; there is no EMQX here); Redis, Mosquitto, api and ingest are real.
 */
const PK = 'a1Recon';
const API_KEY_ID = 'rrpc-reconcile';
const API_SECRET = 'reconcile-secret-0123456789';

interface FakeClient {
  username: string;
  connectedAt: number;
  subscriptions: string[];
}
/** The broker's view: client ID → client. Anything else answers 404 CLIENTID_NOT_FOUND. */
const broker = new Map<string, FakeClient>();
const requests: Array<{ path: string; authorization: string | undefined }> = [];

function clientBody(clientid: string, c: FakeClient) {
  return {
    clientid,
    username: c.username,
    node: 'emqx@127.0.0.1',
    proto_name: 'MQTT',
    proto_ver: 4,
    ip_address: '127.0.0.1',
    port: 52000,
    is_bridge: false,
    connected: true,
    connected_at: new Date(c.connectedAt).toISOString(),
    created_at: new Date(c.connectedAt).toISOString(),
    zone: 'default',
    keepalive: 60,
    clean_start: true,
    expiry_interval: 0,
    subscriptions_cnt: c.subscriptions.length,
    subscriptions_max: 'infinity',
    inflight_cnt: 0,
    inflight_max: 32,
    mqueue_len: 0,
    mqueue_max: 1000,
    mqueue_dropped: 0,
    heap_size: 610,
    reductions: 3911,
    recv_cnt: 4,
    send_cnt: 3,
  };
}

let emqx: Server;
let cluster: TestCluster;
const devices: TestDevice[] = [];

beforeAll(async () => {
  emqx = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ path: url.pathname + url.search, authorization: req.headers.authorization });
    const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.headers.authorization !== `Basic ${Buffer.from(`${API_KEY_ID}:${API_SECRET}`).toString('base64')}`) {
      return send(401, { code: 'BAD_API_KEY_OR_SECRET', message: 'Check api_key/api_secret' });
    }
    if (url.pathname === '/api/v5/clients') {
      const data = [...broker.entries()].map(([id, c]) => clientBody(id, c));
      return send(200, {
        data,
        meta: {
          page: Number(url.searchParams.get('_page') ?? 1),
          limit: Number(url.searchParams.get('_limit') ?? 100),
          hasnext: false,
          count: data.length,
        },
      });
    }
    const m = /^\/api\/v5\/clients\/([^/]+)(\/subscriptions)?$/.exec(url.pathname);
    const id = m ? decodeURIComponent(m[1]!) : undefined;
    const c = id === undefined ? undefined : broker.get(id);
    if (!m || !c || id === undefined) return send(404, { code: 'CLIENTID_NOT_FOUND', message: 'Client ID not found' });
    if (m[2])
      return send(
        200,
        c.subscriptions.map((topic) => ({ node: 'emqx@127.0.0.1', clientid: id, topic, qos: 0, nl: 0, rap: 0, rh: 0 })),
      );
    return send(200, clientBody(id, c));
  });
  await new Promise<void>((r) => emqx.listen(0, '127.0.0.1', r));
  const port = (emqx.address() as { port: number }).port;
  cluster = await startCluster({
    env: {
      EMQX_API_URL: `http://127.0.0.1:${port}`,
      EMQX_API_KEY: API_KEY_ID,
      EMQX_API_SECRET: API_SECRET,
      // The sweep is driven by hand below (reconciler.sweep()); the timeout drain runs on its own.
      RRPC_RECONCILE_INTERVAL_MS: '3600000',
      RRPC_TRACK_SUBSCRIPTIONS: 'true',
    },
  });
});
afterAll(async () => {
  await Promise.all(devices.map((d) => d.close()));
  await cluster.stop();
  await new Promise((r) => emqx.close(r));
});

const reconciler = () => {
  const r = cluster.ingests[0]!.service.reconciler;
  if (!r) throw new Error('no reconciler: EMQX_API_URL not taken');
  return r;
};
async function view(dn: string): Promise<Record<string, any>> {
  return (await (await cluster.api(`/v1/devices/${PK}/${dn}`)).json()) as Record<string, any>;
}
async function corrections(kind: string): Promise<number> {
  const text = await (await fetch(`${cluster.ingests[0]!.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('rrpc_presence_corrections_total{') && l.includes(`kind="${kind}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}
const known = (dn: string, subscriptions: string[] = [deviceRequestFilter({ productKey: PK, deviceName: dn })]) =>
  broker.set(deviceClientId(dn), { username: `${dn}&${PK}`, connectedAt: Date.now() - 60_000, subscriptions });

describe('reconciliation with the broker', () => {
  it('a lost disconnect webhook: the sweep finds the session gone and marks the device OFFLINE at once', async () => {
    await cluster.connectDevice(PK, 'lost-1', 3600);
    await cluster.subscribeDevice(PK, 'lost-1');
    known('kept-1');
    await cluster.connectDevice(PK, 'kept-1', 3600);
    await cluster.subscribeDevice(PK, 'kept-1');
    expect((await view('lost-1'))['status']).toBe('ONLINE');
    const before = await corrections('offline');
    expect(await reconciler().sweep()).toBe(true);
    expect(await view('lost-1')).toMatchObject({ status: 'OFFLINE', lastDisconnectReason: 'reconciled' });
    expect((await view('kept-1'))['status']).toBe('ONLINE');
    expect(await corrections('offline')).toBe(before + 1);
    expect(requests.some((r) => r.path === `/api/v5/clients/${encodeURIComponent(deviceClientId('lost-1'))}`)).toBe(true);
    const call = await cluster.call(PK, 'lost-1', { payload: 'aGk=', timeoutMs: 3000 });
    expect(((await call.json()) as { rrpcCode: string }).rrpcCode).toBe('OFFLINE');
  });

  it('a call that times out for a device marked ONLINE makes the ingest check it at once', async () => {
    const d = await startDevice(cluster.mosquitto.url, PK, 'silent-1', () => undefined);
    devices.push(d);
    await cluster.connectDevice(PK, 'silent-1', 3600);
    await cluster.subscribeDevice(PK, 'silent-1');
    const res = await cluster.call(PK, 'silent-1', { payload: 'aGk=', timeoutMs: 1000 });
    expect(res.status).toBe(504);
    await waitFor(async () => (await view('silent-1'))['status'] === 'OFFLINE', 10_000, 'the timed-out device corrected');
    expect((await view('silent-1'))['lastDisconnectReason']).toBe('reconciled');
  });

  it('lost subscription webhooks: the sweep takes the filters the broker lists', async () => {
    const filter = deviceRequestFilter({ productKey: PK, deviceName: 'subs-1' });
    known('subs-1', [`$share/g/${filter}`]);
    await cluster.connectDevice(PK, 'subs-1', 3600);
    expect((await view('subs-1'))['subscriptions']).toEqual([]);
    const before = await corrections('subscriptions');
    await reconciler().sweep();
    expect((await view('subs-1'))['subscriptions']).toEqual([filter]);
    expect(await corrections('subscriptions')).toBeGreaterThan(before);
  });

  it('a lost connect webhook: a client the broker lists becomes ONLINE, with its filters', async () => {
    known('adopt-1');
    // Registered (the broker lets only registered devices in), but its connect webhook never arrived.
    await cluster.devices.register([{ productKey: PK, deviceName: 'adopt-1' }]);
    expect(await view('adopt-1')).toMatchObject({ status: 'UNACTIVE' });
    await reconciler().sweep();
    expect(await view('adopt-1')).toMatchObject({
      status: 'ONLINE',
      clientId: deviceClientId('adopt-1'),
      subscriptions: [deviceRequestFilter({ productKey: PK, deviceName: 'adopt-1' })],
    });
    expect(await corrections('online')).toBeGreaterThan(0);
  });

  it('keeps the timeout reports bounded and expiring, and the lease to one replica', async () => {
    const redis = new Redis(cluster.redis.url);
    try {
      const store = new ReconcileStore(redis, new Keys('rrpc'));
      reconciler().stop(); // nothing drains the list meanwhile
      for (let i = 0; i < 1100; i++) await store.reportTimeout({ productKey: PK, deviceName: `bulk-${i}` });
      expect(await redis.llen('rrpc:reconcile:timeouts')).toBe(1000);
      expect(await redis.pttl('rrpc:reconcile:timeouts')).toBeGreaterThan(0);
      const taken = await store.takeTimeouts(50);
      expect(taken).toHaveLength(50);
      expect(taken[0]).toEqual({ productKey: PK, deviceName: 'bulk-100' }); // the oldest kept
      expect(await store.acquireLease('ingest-other', 60_000)).toBe(false); // held by ingest-0 since its sweeps
      expect(await redis.pttl('rrpc:reconcile:lease')).toBeGreaterThan(0);
      await redis.del('rrpc:reconcile:timeouts');
    } finally {
      redis.disconnect();
    }
  });

  it('sends the API key and secret as basic auth', () => {
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((r) => r.authorization === `Basic ${Buffer.from(`${API_KEY_ID}:${API_SECRET}`).toString('base64')}`)).toBe(true);
  });
});
