import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseEmqxWebhook } from './emqx-events.js';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../test/fixtures/emqx/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;
const device = { productKey: 'a14Xib5kdYd', deviceName: 'light1983432' };

describe('EMQX webhook bodies', () => {
  it('reads EMQX 5 client.connected', () => {
    const body = fixture('v5-client-connected');
    expect(parseEmqxWebhook(body)).toEqual({
      ok: true,
      event: {
        kind: 'connected',
        device,
        clientId: body['clientid'],
        connectedAt: 1694681417714,
        keepaliveSeconds: 30,
        node: 'emqx@127.0.0.1',
        peer: '127.0.0.1:61003',
        cleanStart: body['clean_start'],
      },
    });
  });

  it('reads EMQX 5 client.disconnected', () => {
    expect(parseEmqxWebhook(fixture('v5-client-disconnected'))).toMatchObject({
      ok: true,
      event: { kind: 'disconnected', device, disconnectedAt: 1694681417729, reason: 'normal' },
    });
  });

  it('reads EMQX 4 bodies, with second or millisecond timestamps', () => {
    expect(parseEmqxWebhook(fixture('v4-client-connected'))).toMatchObject({
      ok: true,
      event: { kind: 'connected', connectedAt: 1694681417714, keepaliveSeconds: 60, peer: '127.0.0.1' },
    });
    expect(parseEmqxWebhook({ ...fixture('v4-client-connected'), connected_at: 1694681417 })).toMatchObject({
      event: { connectedAt: 1694681417000 },
    });
    expect(parseEmqxWebhook(fixture('v4-client-disconnected'))).toMatchObject({
      ok: true,
      event: { kind: 'disconnected', reason: 'keepalive_timeout', disconnectedAt: 1694681477729 },
    });
  });

  it('falls back to the event timestamp, then to now', () => {
    const { connected_at: _drop, ...noTime } = fixture('v5-client-connected');
    expect(parseEmqxWebhook(noTime)).toMatchObject({ event: { connectedAt: 1694681417717 } });
    const { timestamp: _t, ...bare } = noTime;
    expect(parseEmqxWebhook(bare, 42_000_000_000_000)).toMatchObject({ event: { connectedAt: 42_000_000_000_000 } });
  });

  it('ignores other events and non-device clients; rejects malformed bodies', () => {
    expect(parseEmqxWebhook({ event: 'message.publish', clientid: 'c' })).toMatchObject({ ok: true, event: undefined });
    expect(parseEmqxWebhook({ ...fixture('v5-client-connected'), username: 'undefined' })).toMatchObject({ ok: true, event: undefined });
    expect(parseEmqxWebhook({ ...fixture('v4-client-connected'), username: null })).toMatchObject({ ok: true, event: undefined });
    for (const bad of [null, [], 'x', {}, { event: 'client.connected' }, { event: 'client.connected', clientid: '' }]) {
      expect(parseEmqxWebhook(bad).ok).toBe(false);
    }
  });
});

describe('EMQX subscription webhook bodies', () => {
  const sub = {
    event: 'session.subscribed',
    clientid: 'c1|securemode=3|',
    username: 'light1983432&a14Xib5kdYd',
    topic: '$share/g//sys/a14Xib5kdYd/light1983432/rrpc/request/+',
    qos: 1,
    sub_props: {},
    peerhost: '127.0.0.1',
    node: 'emqx@127.0.0.1',
    timestamp: 1694681417800,
  };
  it('reads session.subscribed / session.unsubscribed, $share/<group>/ taken off', () => {
    expect(parseEmqxWebhook(sub)).toEqual({
      ok: true,
      event: {
        kind: 'subscribed',
        device,
        clientId: 'c1|securemode=3|',
        at: 1694681417800,
        filter: '/sys/a14Xib5kdYd/light1983432/rrpc/request/+',
      },
    });
    const { sub_props: _p, ...rest } = sub;
    expect(parseEmqxWebhook({ ...rest, event: 'session.unsubscribed', unsub_props: {}, topic: '/x/#' })).toMatchObject({
      ok: true,
      event: { kind: 'unsubscribed', filter: '/x/#' },
    });
    expect(parseEmqxWebhook({ ...sub, event: undefined, action: 'session_subscribed' })).toMatchObject({
      ok: true,
      event: { kind: 'subscribed' },
    });
  });

  it('refuses a missing topic, ignores filters it cannot keep', () => {
    expect(parseEmqxWebhook({ ...sub, topic: undefined })).toMatchObject({ ok: false });
    expect(parseEmqxWebhook({ ...sub, topic: 7 })).toMatchObject({ ok: false });
    expect(parseEmqxWebhook({ ...sub, topic: `/a/${'x'.repeat(600)}` })).toMatchObject({ ok: true, event: undefined });
    expect(parseEmqxWebhook({ ...sub, topic: '/a/#/b' })).toMatchObject({ ok: true, event: undefined });
  });
});
