import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { startCluster, connectedEvent, type TestCluster } from '../support/cluster.js';
import { startDevice, type TestDevice } from '../support/device.js';

/**
 * Abuse limits: calls per second per device and per API key (cluster-wide, in Redis: 429 + Retry-After),
 * calls in flight per pod (503 + Retry-After), slow clients (header and request timeouts), webhook bodies.
 * A refused call publishes nothing: the '#' subscriber counts request topics.
 */
const PK = 'a1Abuse';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const requestsPublished = (c: TestCluster) => c.published.filter((t) => t.includes('/rrpc/request/')).length;

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { rrpcCode?: string; error?: { code: string; message: string } };
}

async function answer(res: Response): Promise<Answer> {
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Answer['body'] };
}

const DEVICES = ['dev-rate-1', 'dev-rate-2', 'dev-rate-3', 'dev-rate-4', 'dev-rate-5'];

describe('rate limits (shared by every pod)', () => {
  let cluster: TestCluster;
  let devices: TestDevice[];

  beforeAll(async () => {
    cluster = await startCluster({ apis: 2, env: { RRPC_RATE_LIMIT_PER_DEVICE: '5', RRPC_RATE_LIMIT_PER_KEY: '12' } });
    devices = await Promise.all(DEVICES.map((dn) => startDevice(cluster.mosquitto.url, PK, dn, ({ payload }) => payload)));
    for (const dn of DEVICES) await cluster.connectDevice(PK, dn);
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close()));
    await cluster.stop();
  });

  it('refuses calls to one device above its rate with 429 RATE_LIMITED and Retry-After, across both pods, publishing nothing for them', async () => {
    const before = requestsPublished(cluster);
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => cluster.call(PK, 'dev-rate-1', { payload: b64(`r${i}`), timeoutMs: 2000 }, i % 2).then(answer)),
    );
    const ok = answers.filter((a) => a.status === 200);
    const limited = answers.filter((a) => a.status === 429);
    expect(ok.length + limited.length).toBe(12);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(limited.length).toBeGreaterThanOrEqual(1); // a burst of 5 (+ refills while they run) of 10
    for (const a of limited) {
      expect(a.body.error?.code).toBe('RATE_LIMITED');
      expect(a.body.error?.message).toContain('dev-rate-1');
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(requestsPublished(cluster) - before).toBe(ok.length);
    // Another device is not affected by this one's limit.
    expect((await cluster.call(PK, 'dev-rate-2', { payload: b64('x') })).status).toBe(200);
  });

  it("refuses an API key's calls above its rate, whatever the device, and lets them through again after Retry-After", async () => {
    await new Promise((r) => setTimeout(r, 1100)); // the key's bucket refills
    const answers: Answer[] = [];
    for (let i = 0; i < 16; i++) {
      // Four devices, four calls each: under the devices' limit (5), over the key's (12).
      answers.push(await answer(await cluster.call(PK, DEVICES[1 + (i % 4)]!, { payload: b64('k') }, i % 2)));
    }
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    expect(limited.every((a) => a.body.error?.message.includes('API key'))).toBe(true);
    const wait = Math.max(...limited.map((a) => Number(a.retryAfter)));
    await new Promise((r) => setTimeout(r, wait * 1000));
    expect((await cluster.call(PK, 'dev-rate-5', { payload: b64('k') })).status).toBe(200);
  });
});

describe('calls in flight per pod', () => {
  let cluster: TestCluster;
  let silent: TestDevice;
  beforeAll(async () => {
    cluster = await startCluster({ env: { RRPC_MAX_IN_FLIGHT: '3', RRPC_RATE_LIMIT_PER_DEVICE: '0' } });
    silent = await startDevice(cluster.mosquitto.url, PK, 'dev-silent', () => undefined);
    await cluster.connectDevice(PK, 'dev-silent');
  });
  afterAll(async () => {
    await silent.close();
    await cluster.stop();
  });

  it('sheds calls beyond the cap with 503 UNAVAILABLE and Retry-After at once; the pod serves again when they end', async () => {
    const held = Array.from({ length: 3 }, () => cluster.call(PK, 'dev-silent', { payload: b64('hold'), timeoutMs: 1500 }).then(answer));
    await waitFor(() => silent.requests.length === 3, 5000, 'three calls in flight');
    const shed = await answer(await cluster.call(PK, 'dev-silent', { payload: b64('more'), timeoutMs: 1500 }));
    expect(shed.status).toBe(503);
    expect(shed.body.error?.code).toBe('UNAVAILABLE');
    expect(shed.retryAfter).toBe('1');
    expect(silent.requests.length).toBe(3); // the shed call was never published
    const results = await Promise.all(held);
    expect(results.map((r) => r.status)).toEqual([504, 504, 504]);
    expect((await cluster.call(PK, 'dev-silent', { payload: b64('again'), timeoutMs: 1000 })).status).toBe(504);
  });
});

describe('slow clients and big bodies', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startCluster({ env: { RRPC_HEADERS_TIMEOUT_MS: '1000', RRPC_REQUEST_TIMEOUT_MS: '2000' } });
  });
  afterAll(() => cluster.stop());

  /** Opens a socket, runs `feed` on it, and resolves with what the server wrote before it closed the socket. */
  function slowClient(url: string, feed: (socket: Socket) => void): Promise<string> {
    const { port } = new URL(url);
    return new Promise((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => feed(socket));
      let received = '';
      socket.on('data', (d) => (received += d.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(received));
    });
  }

  it('closes a connection whose headers trickle in (slowloris) with 408, on the api and the ingest', async () => {
    for (const url of [cluster.apis[0]!.url, cluster.ingests[0]!.url]) {
      let timer: NodeJS.Timeout | undefined;
      const got = await slowClient(url, (socket) => {
        socket.write('POST /v1/devices/a1Abuse/dev-x/rrpc HTTP/1.1\r\nHost: x\r\n');
        timer = setInterval(() => socket.writable && socket.write('X-Slow: a\r\n'), 200);
      });
      clearInterval(timer);
      expect(got).toMatch(/^HTTP\/1\.1 408/);
    }
  });

  it('closes a connection whose body trickles in past the request timeout with 408', async () => {
    let timer: NodeJS.Timeout | undefined;
    const got = await slowClient(cluster.apis[0]!.url, (socket) => {
      socket.write(
        `POST /v1/devices/${PK}/dev-x/rrpc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-api-key-0123456789abcdef\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"payload":"`,
      );
      timer = setInterval(() => socket.writable && socket.write('A'), 200);
    });
    clearInterval(timer);
    expect(got).toMatch(/^HTTP\/1\.1 408/);
    // The pod still serves everyone else.
    expect((await cluster.api(`/v1/devices/${PK}/dev-x`)).status).toBe(404);
  });

  it('refuses a webhook body over 64 KiB with 413 and records nothing; one under the limit is taken', async () => {
    const big = { ...connectedEvent(PK, 'dev-hook', Date.now()), padding: 'x'.repeat(64 * 1024) };
    const refused = await cluster.webhook(big);
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await cluster.api(`/v1/devices/${PK}/dev-hook`)).status).toBe(404);
    const fits = await cluster.webhook({ ...connectedEvent(PK, 'dev-hook', Date.now()), padding: 'x'.repeat(60 * 1024) });
    expect(fits.status).toBe(200);
    expect((await cluster.api(`/v1/devices/${PK}/dev-hook`)).status).toBe(200);
  });
});
