import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectedEvent, disconnectedEvent, startCluster, type TestCluster } from './support/cluster.js';

/**
 * Presence from EMQX webhooks: out of order, repeated, stale disconnects of taken-over sessions; EMQX 5
 * rule-engine events and EMQX 4 web-hook bodies with the fields EMQX documents (fixtures).
 */
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../services/response-ingest/test/fixtures/emqx/${name}.json`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  await cluster.stop();
});

async function status(pk: string, dn: string): Promise<string | undefined> {
  const res = await cluster.api(`/v1/devices/${pk}/${dn}`);
  if (res.status === 404) return undefined;
  return ((await res.json()) as { status: string }).status;
}

async function hook(body: unknown): Promise<string> {
  const res = await cluster.webhook(body);
  expect(res.status).toBe(200);
  return ((await res.json()) as { result: string }).result;
}

const PK = 'a1Presence';
const long = 3600; // keep-alive long enough that "offline" would read HALFCONN; the tests use ONLINE vs not

describe('EMQX documented payloads', () => {
  it('takes the EMQX 5 client.connected / client.disconnected fixtures', async () => {
    const connected = fixture('v5-client-connected');
    const disconnected = fixture('v5-client-disconnected');
    expect(await hook(connected)).toBe('online');
    expect(await status('a14Xib5kdYd', 'light1983432')).toBe('ONLINE');
    const shown = (await (await cluster.api('/v1/devices/a14Xib5kdYd/light1983432')).json()) as Record<string, unknown>;
    expect(shown['clientId']).toBe(connected['clientid']);
    expect(shown['connectedAt']).toBe(new Date(connected['connected_at'] as number).toISOString());
    expect(shown['keepaliveSeconds']).toBe(connected['keepalive']);
    expect(await hook(disconnected)).toBe('offline');
    expect(await status('a14Xib5kdYd', 'light1983432')).not.toBe('ONLINE');
  });

  it('takes the EMQX 4 client_connected / client_disconnected fixtures (ms or s timestamps)', async () => {
    const connected = { ...fixture('v4-client-connected'), username: 'lamp-v4&a1V4' };
    const disconnected = { ...fixture('v4-client-disconnected'), username: 'lamp-v4&a1V4' };
    expect(await hook(connected)).toBe('online');
    expect(await status('a1V4', 'lamp-v4')).toBe('ONLINE');
    expect(await hook(disconnected)).toBe('offline');
    expect(await status('a1V4', 'lamp-v4')).toBe('OFFLINE'); // 60 s keep-alive ended long ago (2023)
    // Seconds, as the EMQX 4 docs describe: a later connect in seconds is newer than the ms disconnect.
    const secs = Math.floor(Date.now() / 1000);
    expect(await hook({ ...connected, connected_at: secs })).toBe('online');
    expect(await status('a1V4', 'lamp-v4')).toBe('ONLINE');
  });

  it('ignores clients that are not devices and events it does not handle, with 200', async () => {
    const service = await cluster.webhook({ ...connectedEvent(PK, 'svc-1', Date.now()), username: 'rrpc-api' });
    expect(service.status).toBe(200);
    expect(await service.json()).toMatchObject({ result: 'ignored' });
    const other = await cluster.webhook({ event: 'session.subscribed', clientid: 'c', username: 'u', topic: 't' });
    expect(await other.json()).toMatchObject({ result: 'ignored' });
  });
});

describe('ordering', () => {
  it('a stale disconnect of a taken-over session never marks the newer connection offline', async () => {
    const t = Date.now() - 10_000;
    expect(await hook(connectedEvent(PK, 'dev-take', t, long))).toBe('online');
    expect(await hook(connectedEvent(PK, 'dev-take', t + 1000, long))).toBe('online');
    // The old session's disconnect arrives late, with EMQX's takenover reason …
    expect(await hook(disconnectedEvent(PK, 'dev-take', t + 1001, 'takenover', t))).toBe('superseded');
    expect(await status(PK, 'dev-take')).toBe('ONLINE');
    // … or as a plain disconnect that carries the old connected_at …
    expect(await hook(disconnectedEvent(PK, 'dev-take', t + 1002, 'normal', t))).toBe('stale');
    // … or with no connected_at but a disconnect time before the current connection began.
    expect(await hook(disconnectedEvent(PK, 'dev-take', t + 999, 'tcp_closed'))).toBe('stale');
    expect(await status(PK, 'dev-take')).toBe('ONLINE');
  });

  it('a connect that arrives after its own disconnect stays ended; repeats are harmless', async () => {
    const t = Date.now() - 10_000;
    expect(await hook(disconnectedEvent(PK, 'dev-late', t + 500, 'normal', t))).toBe('offline');
    expect(await hook(connectedEvent(PK, 'dev-late', t, long))).toBe('stale');
    expect(await status(PK, 'dev-late')).not.toBe('ONLINE');
    expect(await hook(connectedEvent(PK, 'dev-late', t + 2000, long))).toBe('online');
    expect(await hook(connectedEvent(PK, 'dev-late', t + 2000, long))).toBe('repeat');
    expect(await hook(disconnectedEvent(PK, 'dev-late', t + 3000, 'normal', t + 2000))).toBe('offline');
    expect(await hook(disconnectedEvent(PK, 'dev-late', t + 3000, 'normal', t + 2000))).toBe('repeat');
    expect(await hook(connectedEvent(PK, 'dev-late', t + 2000, long))).toBe('stale');
    expect(await status(PK, 'dev-late')).not.toBe('ONLINE');
  });

  it('an older connect arriving after a newer one changes nothing', async () => {
    const t = Date.now() - 10_000;
    expect(await hook(connectedEvent(PK, 'dev-old', t + 5000, long, 'newer|x|'))).toBe('online');
    expect(await hook(connectedEvent(PK, 'dev-old', t, long, 'older|x|'))).toBe('stale');
    const shown = (await (await cluster.api(`/v1/devices/${PK}/dev-old`)).json()) as Record<string, unknown>;
    expect(shown['clientId']).toBe('newer|x|');
  });
});

describe('webhook guard rails', () => {
  it('requires the bearer token', async () => {
    const res = await cluster.webhook(connectedEvent(PK, 'dev-auth', Date.now()), 0, 'wrong-token-wrong-token');
    expect(res.status).toBe(401);
    expect(await status(PK, 'dev-auth')).toBeUndefined();
  });

  it('answers 400 with a JSON error on malformed bodies and changes nothing', async () => {
    const bodies: unknown[] = [
      [],
      'text',
      {},
      { event: 'client.connected' },
      { event: 'client.connected', clientid: 5, username: `dev-bad1&${PK}` },
      { event: 'client.connected', clientid: 'c', username: 7 },
      { event: 'client.connected', clientid: 'c', username: `dev-bad1&${PK}`, keepalive: 'x' },
    ];
    for (const body of bodies) {
      const res = await cluster.webhook(body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
    }
    const broken = await fetch(`${cluster.ingests[0]!.url}/hooks/emqx`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cluster.env['RRPC_WEBHOOK_TOKEN']}`, 'content-type': 'application/json' },
      body: '{"event":',
    });
    expect(broken.status).toBe(400);
    expect(await status(PK, 'dev-bad1')).toBeUndefined();
  });

  it('answers 413 to an oversize body', async () => {
    const res = await cluster.webhook({ ...connectedEvent(PK, 'dev-big1', Date.now()), padding: 'x'.repeat(70 * 1024) });
    expect(res.status).toBe(413);
    expect(await status(PK, 'dev-big1')).toBeUndefined();
  });
});
