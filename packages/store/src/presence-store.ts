import { Cluster } from 'ioredis';
import { MAX_TRACKED_FILTERS, deviceId, topicMatchesFilter, type DeviceRef } from '@rrpc/topics';
import { Keys } from './keys.js';
import { withScripts, type ScriptCommands } from './scripts.js';
import { guard, type RedisClient } from './connection.js';

export type PresenceStatus = 'ONLINE' | 'OFFLINE' | 'HALFCONN';

export interface ConnectedEvent {
  device: DeviceRef;
  clientId: string;
  connectedAt: number;
  keepaliveSeconds: number;
  node?: string | undefined;
  peer?: string | undefined;
  /** false: the connection resumed its session (MQTT clean_start false), keeping its subscriptions. */
  cleanStart?: boolean | undefined;
}

export interface DisconnectedEvent {
  device: DeviceRef;
  clientId: string;
  disconnectedAt: number;
  /** The ended connection's connected_at, when the event carries it. */
  connectedAt?: number | undefined;
  reason: string;
}

export type ConnectResult = 'online' | 'repeat' | 'stale';
export type DisconnectResult = 'offline' | 'repeat' | 'stale' | 'superseded' | 'foreign';

/** A session subscribed to, or unsubscribed from, a topic filter (EMQX 5 session.subscribed / session.unsubscribed). */
export interface SubscriptionEvent {
  device: DeviceRef;
  clientId: string;
  /** The event's time, ms. */
  at: number;
  /** The filter, $share/<group>/ taken off (see effectiveFilter in @rrpc/topics). */
  filter: string;
}

export type SubscriptionResult = 'subscribed' | 'unsubscribed' | 'repeat' | 'stale' | 'full';

/**
 * Disconnect reasons after which the device is OFFLINE at once: it ended the connection itself (normal), or
 * the broker did (kicked, not_authorized, banned, ...). Every other reason (keepalive_timeout, sock_closed,
 * tcp_closed, ...) is an abnormal end: HALFCONN for one keep-alive period, the device is likely to come back.
 * (takenover and discarded never reach this: a newer session of the same client exists.)
 */
/** The reason recorded when reconciliation finds that the broker no longer has the device's session. */
export const RECONCILED_REASON = 'reconciled';

export const CLEAN_DISCONNECT_REASONS: ReadonlySet<string> = new Set([
  'normal',
  'kicked',
  'discarded',
  'takenover',
  'not_authorized',
  'banned',
  'auth_failure',
  'server_shutdown',
  RECONCILED_REASON,
]);

export interface PresenceView extends DeviceRef {
  status: PresenceStatus;
  clientId: string | undefined;
  connectedAt: number | undefined;
  disconnectedAt: number | undefined;
  keepaliveSeconds: number | undefined;
  lastDisconnectReason: string | undefined;
  /** The topic filters the current session is subscribed to (sorted). */
  subscriptions: string[];
}

/** The filters of the session on record (field sf, see presence-subscribe-1.lua). */
function sessionFilters(sf: string | undefined, clientId: string | undefined): string[] {
  if (sf === undefined || clientId === undefined) return [];
  try {
    const entries = JSON.parse(sf) as Record<string, [number, string, number]>;
    return Object.entries(entries)
      .filter(([, [, cid, on]]) => on === 1 && cid === clientId)
      .map(([filter]) => filter)
      .sort();
  } catch {
    return [];
  }
}

/** Whether a device's session (as shown by PresenceStore.get) hears the request topic. */
export function hearsTopic(view: Pick<PresenceView, 'subscriptions'>, topic: string): boolean {
  return view.subscriptions.some((filter) => topicMatchesFilter(filter, topic));
}

/** Device presence, kept from broker webhooks; every change is one atomic script. */
export class PresenceStore {
  private readonly redis: RedisClient & ScriptCommands;
  /**
   * On a Redis Cluster the online event goes over sharded pub/sub (SPUBLISH), outside the connect script (a
   * script may not publish to another slot's shard channel); a plain PUBLISH would reach every node.
   */
  private readonly sharded: boolean;

  constructor(
    redis: RedisClient,
    readonly keys: Keys,
    private readonly offlineTtlMs: number,
  ) {
    this.redis = withScripts(redis);
    this.sharded = redis instanceof Cluster;
  }

  async connected(e: ConnectedEvent): Promise<ConnectResult> {
    const result = (await guard(
      this.redis.rrpcPresenceConnect(
        this.keys.presence(e.device),
        e.clientId,
        e.connectedAt,
        e.keepaliveSeconds,
        e.node ?? '',
        e.peer ?? '',
        this.sharded ? '' : this.keys.presenceOnlineChannel,
        deviceId(e.device),
        e.cleanStart === false ? '0' : '1',
      ),
    )) as ConnectResult;
    if (this.sharded && result === 'online') await guard(this.redis.spublish(this.keys.presenceOnlineChannel, deviceId(e.device)));
    // The per-product index of connected devices (another slot than the presence hash, so not in the script;
    // onlineDevices() re-checks every member against its presence hash).
    if (result !== 'stale') await guard(this.redis.sadd(this.keys.onlineDevices(e.device.productKey), e.device.deviceName));
    if (result === 'online') await this.publishChange(e.device, 'ONLINE');
    return result;
  }

  /** The devices of a product connected now (the index re-checked against each presence record). */
  async onlineDevices(productKey: string): Promise<DeviceRef[]> {
    const indexKey = this.keys.onlineDevices(productKey);
    const names = await guard(this.redis.smembers(indexKey));
    const states = await guard(
      Promise.all(names.map((deviceName) => this.redis.hget(this.keys.presence({ productKey, deviceName }), 'st'))),
    );
    const online = names.filter((_, i) => states[i] === '1');
    const gone = names.filter((_, i) => states[i] !== '1');
    if (gone.length > 0) await guard(this.redis.srem(indexKey, ...gone));
    return online.sort().map((deviceName) => ({ productKey, deviceName }));
  }

  async disconnected(e: DisconnectedEvent): Promise<DisconnectResult> {
    const result = await this.disconnectedRecord(e);
    if (result === 'offline') {
      await guard(this.redis.srem(this.keys.onlineDevices(e.device.productKey), e.device.deviceName));
      await this.publishChange(e.device, 'OFFLINE');
    }
    return result;
  }

  /** Tells live views (the console's event stream) that a device's connection changed; at most once, like all pub/sub. */
  private async publishChange(device: DeviceRef, status: 'ONLINE' | 'OFFLINE'): Promise<void> {
    const message = JSON.stringify({ d: deviceId(device), s: status });
    await guard(
      this.sharded
        ? this.redis.spublish(this.keys.presenceChangesChannel, message)
        : this.redis.publish(this.keys.presenceChangesChannel, message),
    );
  }

  private async disconnectedRecord(e: DisconnectedEvent): Promise<DisconnectResult> {
    return (await guard(
      this.redis.rrpcPresenceDisconnect(
        this.keys.presence(e.device),
        e.clientId,
        e.disconnectedAt,
        e.connectedAt ?? '',
        e.reason,
        this.offlineTtlMs,
        CLEAN_DISCONNECT_REASONS.has(e.reason) ? '1' : '0',
      ),
    )) as DisconnectResult;
  }

  /** A session subscribed to a filter: recorded in order; wakes calls and jobs waiting for it. */
  subscribed(e: SubscriptionEvent): Promise<SubscriptionResult> {
    return this.subscription(e, 's');
  }

  /** A session unsubscribed from a filter. */
  unsubscribed(e: SubscriptionEvent): Promise<SubscriptionResult> {
    return this.subscription(e, 'u');
  }

  private async subscription(e: SubscriptionEvent, op: 's' | 'u'): Promise<SubscriptionResult> {
    const result = (await guard(
      this.redis.rrpcPresenceSubscribe(
        this.keys.presence(e.device),
        e.clientId,
        e.at,
        op,
        e.filter,
        MAX_TRACKED_FILTERS,
        this.sharded ? '' : this.keys.presenceOnlineChannel,
        deviceId(e.device),
        Math.max(1, this.offlineTtlMs),
      ),
    )) as SubscriptionResult;
    if (this.sharded && result === 'subscribed') await guard(this.redis.spublish(this.keys.presenceOnlineChannel, deviceId(e.device)));
    return result;
  }

  async get(device: DeviceRef, now = Date.now()): Promise<PresenceView | undefined> {
    const h = await guard(this.redis.hgetall(this.keys.presence(device)));
    if (h['st'] === undefined) return undefined;
    const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
    const disconnectedAt = num(h['da']);
    const keepaliveSeconds = num(h['ka']);
    let status: PresenceStatus = h['st'] === '1' ? 'ONLINE' : 'OFFLINE';
    // Same rule as call-begin-4.lua: disconnected less than one keep-alive period ago is HALFCONN.
    if (
      status === 'OFFLINE' &&
      h['cl'] !== '1' &&
      disconnectedAt !== undefined &&
      keepaliveSeconds !== undefined &&
      now - disconnectedAt < keepaliveSeconds * 1000
    ) {
      status = 'HALFCONN';
    }
    return {
      ...device,
      status,
      clientId: h['c'],
      connectedAt: num(h['ca']),
      disconnectedAt,
      keepaliveSeconds,
      lastDisconnectReason: h['r'],
      subscriptions: sessionFilters(h['sf'], h['c']),
    };
  }
}
