import { effectiveFilter, isTrackableFilter, parseUsername, type DeviceRef } from '@rrpc/topics';

/**
 * Reads EMQX presence webhooks: EMQX 5 rule-engine events (`event`: client.connected / client.disconnected,
 * times in ms) and EMQX 4 web-hook bodies (`action`: client_connected / client_disconnected; the 4.x docs
 * say seconds, 4.x code sends ms: values below 1e12 are taken as seconds). Subscriptions: EMQX 5's
 * session.subscribed / session.unsubscribed (clientid, username, topic, qos, sub_props | unsub_props,
 * timestamp, node, peerhost) and EMQX 4's session_subscribed / session_unsubscribed (topic, opts).
 */
export type PresenceEvent =
  | {
      kind: 'connected';
      device: DeviceRef;
      clientId: string;
      connectedAt: number;
      keepaliveSeconds: number;
      node?: string;
      peer?: string;
      cleanStart?: boolean;
    }
  | { kind: 'subscribed' | 'unsubscribed'; device: DeviceRef; clientId: string; at: number; filter: string }
  | { kind: 'disconnected'; device: DeviceRef; clientId: string; disconnectedAt: number; connectedAt?: number; reason: string };

export type ParsedWebhook =
  | { ok: true; event: PresenceEvent }
  /** Well-formed, but nothing for presence: another event type, or a client that is not a device. */
  | { ok: true; event: undefined; ignored: string }
  | { ok: false; problem: string };

function millis(value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return undefined;
  return value < 1e12 ? Math.round(value * 1000) : Math.round(value);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= 1024 ? value : undefined;
}

export function parseEmqxWebhook(body: unknown, now = Date.now()): ParsedWebhook {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, problem: 'body must be a JSON object' };
  const b = body as Record<string, unknown>;
  const name = typeof b['event'] === 'string' ? b['event'] : typeof b['action'] === 'string' ? b['action'] : undefined;
  if (name === undefined) return { ok: false, problem: 'body must have "event" (EMQX 5) or "action" (EMQX 4)' };
  const kind =
    name === 'client.connected' || name === 'client_connected'
      ? 'connected'
      : name === 'client.disconnected' || name === 'client_disconnected'
        ? 'disconnected'
        : name === 'session.subscribed' || name === 'session_subscribed'
          ? 'subscribed'
          : name === 'session.unsubscribed' || name === 'session_unsubscribed'
            ? 'unsubscribed'
            : undefined;
  if (kind === undefined) return { ok: true, event: undefined, ignored: `event ${name.slice(0, 64)}` };
  const clientId = text(b['clientid']);
  if (clientId === undefined) return { ok: false, problem: '"clientid" must be a non-empty string' };
  if (b['username'] !== undefined && b['username'] !== null && typeof b['username'] !== 'string') {
    return { ok: false, problem: '"username" must be a string' };
  }
  const device = parseUsername(b['username']);
  if (device === undefined)
    return { ok: true, event: undefined, ignored: 'client is not a device (username is not deviceName&productKey)' };
  const fallback = millis(b['timestamp']) ?? now;
  const node = text(b['node']);
  if (kind === 'subscribed' || kind === 'unsubscribed') {
    const topic = b['topic'];
    if (typeof topic !== 'string' || topic.length === 0 || topic.length > 65_535)
      return { ok: false, problem: '"topic" must be a non-empty string' };
    const filter = effectiveFilter(topic);
    if (!isTrackableFilter(filter)) return { ok: true, event: undefined, ignored: 'topic filter is too long or not a valid filter' };
    return { ok: true, event: { kind, device, clientId, at: fallback, filter } };
  }
  if (kind === 'connected') {
    const keepalive = b['keepalive'];
    if (keepalive !== undefined && (typeof keepalive !== 'number' || !Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65535)) {
      return { ok: false, problem: '"keepalive" must be a whole number of seconds' };
    }
    const peer = text(b['peername']) ?? text(b['ipaddress']);
    return {
      ok: true,
      event: {
        kind,
        device,
        clientId,
        connectedAt: millis(b['connected_at']) ?? fallback,
        keepaliveSeconds: typeof keepalive === 'number' ? keepalive : 60,
        ...(node !== undefined ? { node } : {}),
        ...(peer !== undefined ? { peer } : {}),
        ...(typeof b['clean_start'] === 'boolean' ? { cleanStart: b['clean_start'] } : {}),
      },
    };
  }
  const connectedAt = millis(b['connected_at']);
  return {
    ok: true,
    event: {
      kind,
      device,
      clientId,
      disconnectedAt: millis(b['disconnected_at']) ?? fallback,
      ...(connectedAt !== undefined ? { connectedAt } : {}),
      reason: text(b['reason'])?.slice(0, 64) ?? 'unknown',
    },
  };
}
