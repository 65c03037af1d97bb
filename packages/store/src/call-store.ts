import { Cluster } from 'ioredis';
import { deviceId, requestTopic, type DeviceRef, type TopicKind } from '@rrpc/topics';
import { Keys } from './keys.js';
import { MessageIds, timeOfMessageId } from './message-ids.js';
import { withScripts, type ScriptCommands } from './scripts.js';
import { guard, type RedisClient } from './connection.js';

export type BeginResult =
  | { status: 'pending'; messageId: string; deadline: number; startedAt: number }
  | { status: 'offline'; rrpcCode: 'OFFLINE' | 'HALFCONN' }
  | { status: 'limited'; retryAfterMs: number }
  | { status: 'refused'; code: 'DEVICE_NOT_FOUND' | 'DEVICE_DISABLED' }
  /** Subscriptions tracked: the device's session has no filter for the request topic (after the grace). */
  | { status: 'unsubscribed' }
  /** Subscriptions tracked: no filter yet, but the device connected less than the grace ago; try again within waitMs. */
  | { status: 'awaitSubscription'; waitMs: number };

export type ClaimResult = 'matched' | 'unknown' | 'rejected' | 'own' | 'duplicate' | 'late';

export type ExpireResult = { state: 'answered'; payload: Buffer } | { state: 'timedOut' } | { state: 'unknown' };

export type CallState = 'PENDING' | 'SUCCESS' | 'TIMEOUT';

export interface CallRecord extends DeviceRef {
  messageId: string;
  state: CallState;
  createdAt: number;
  deadline: number;
  finishedAt: number | undefined;
  payload: Buffer | undefined;
  /** The id of the API key that made the call; undefined for a record written before owners were. */
  owner: string | undefined;
}

export interface BeginCall {
  device: DeviceRef;
  instanceId: string;
  timeoutMs: number;
  kind: TopicKind;
  /** The device's downlink rate limit, taken in the same script (no extra round trip); absent: none. */
  deviceRate?: { perSecond: number; burst?: number } | undefined;
  /** The trace context of the call's publish span, stored for the ingest (an opaque string, at most 1 KiB). */
  trace?: string | undefined;
  /** The id of the API key the call is made for (written into the pending record); absent: "". */
  owner?: string | undefined;
  /** The custom topic (kind "ext"), to check the device's subscriptions against the request topic. */
  topic?: string | undefined;
}

export interface CallStoreOptions {
  deviceRegistry: boolean;
  /** RRPC_TRACK_SUBSCRIPTIONS: call-begin requires a subscription that matches the request topic. */
  trackSubscriptions?: boolean | undefined;
  /** RRPC_SUBSCRIBE_GRACE_MS: how long after connecting a device without a matching filter is waited for. */
  subscribeGraceMs?: number | undefined;
}

export interface ClaimAnswer {
  device: DeviceRef;
  messageId: string;
  payload: Buffer;
  /** See call-claim-1.lua ARGV[6]: the ingest's instance id on MQTT 3.1.1 brokers, else "". */
  orderEchoInstance: string;
}

/** A claim's result and, when asked for and the call has one, its stored trace context (see BeginCall.trace). */
export interface TracedClaim {
  result: ClaimResult;
  trace: string | undefined;
}

const MAX_TRACE_CONTEXT = 1024;

/** Pending calls and their outcomes: the whole reply path's Redis side. */
export class CallStore {
  private readonly redis: RedisClient & ScriptCommands;
  private readonly ids = new MessageIds();
  /** On a Redis Cluster, notifications go over sharded pub/sub (SPUBLISH), outside the claim script. */
  private readonly sharded: boolean;

  /** "1": call-begin requires a registered, enabled device (RRPC_DEVICE_REGISTRY=on). */
  private readonly registryArg: '1' | '0';
  private readonly trackArg: '1' | '0';
  private readonly graceMs: number;

  constructor(
    redis: RedisClient,
    readonly keys: Keys,
    private readonly resultTtlMs: number,
    options: CallStoreOptions = { deviceRegistry: true },
  ) {
    this.redis = withScripts(redis);
    this.sharded = redis instanceof Cluster;
    this.registryArg = options.deviceRegistry ? '1' : '0';
    this.trackArg = options.trackSubscriptions ? '1' : '0';
    this.graceMs = options.subscribeGraceMs ?? 2000;
  }

  /** Registry check, presence check, the device's rate limit and the pending record in one round trip. */
  async begin(call: BeginCall): Promise<BeginResult> {
    const presenceKey = this.keys.presence(call.device);
    const rateKey = this.keys.deviceRateLimit(call.device);
    const deviceKey = this.keys.device(call.device);
    const rate = call.deviceRate && call.deviceRate.perSecond > 0 ? call.deviceRate : undefined;
    const interval = rate ? (1000 / rate.perSecond).toFixed(6) : '0';
    const burst = rate ? Math.max(1, Math.floor(rate.burst ?? rate.perSecond)) : 1;
    const slot = this.keys.deviceSlot(call.device);
    const id = deviceId(call.device);
    for (let attempt = 0; attempt < 8; attempt++) {
      const messageId = this.ids.next(slot);
      const reply = await guard(
        this.redis.rrpcCallBegin(
          presenceKey,
          this.keys.call(messageId, slot),
          rateKey,
          deviceKey,
          id,
          call.instanceId,
          call.timeoutMs,
          this.resultTtlMs,
          call.kind === 'ext' ? 'e' : 's',
          interval,
          burst,
          this.registryArg,
          call.trace !== undefined && call.trace.length <= MAX_TRACE_CONTEXT ? call.trace : '',
          call.owner ?? '',
          this.trackArg,
          this.graceMs,
          this.trackArg === '1' ? requestTopic(call.device, messageId, call.kind === 'ext' ? call.topic : undefined) : '',
        ),
      );
      if (reply[0] === 1) return { status: 'pending', messageId, deadline: Number(reply[1]), startedAt: Number(reply[2]) };
      if (reply[0] === 2) return { status: 'offline', rrpcCode: reply[1] === 'HALFCONN' ? 'HALFCONN' : 'OFFLINE' };
      if (reply[0] === 4) return { status: 'limited', retryAfterMs: Number(reply[1]) };
      if (reply[0] === 6)
        return reply[1] === 'WAIT' ? { status: 'awaitSubscription', waitMs: Number(reply[2]) } : { status: 'unsubscribed' };
      if (reply[0] === 5) return { status: 'refused', code: reply[1] === 'DEVICE_DISABLED' ? 'DEVICE_DISABLED' : 'DEVICE_NOT_FOUND' };
    }
    throw new Error('could not draw an unused message ID in 8 attempts');
  }

  async claim(answer: ClaimAnswer): Promise<ClaimResult> {
    return (await this.claimWith(answer, false)).result;
  }

  /** claim(), also returning the trace context call-begin stored (same single script, no extra round trip). */
  claimTraced(answer: ClaimAnswer): Promise<TracedClaim> {
    return this.claimWith(answer, true);
  }

  private async claimWith(answer: ClaimAnswer, traced: boolean): Promise<TracedClaim> {
    const reply = await guard(
      this.redis.rrpcCallClaim(
        this.keys.call(answer.messageId),
        deviceId(answer.device),
        answer.payload,
        this.keys.replyChannelPrefix,
        answer.messageId,
        this.resultTtlMs,
        answer.orderEchoInstance,
        this.sharded ? 's' : 'p',
        traced ? 't' : '',
      ),
    );
    const nl = traced ? reply.indexOf('\n') : -1;
    const result = nl < 0 ? reply : reply.slice(0, nl);
    const trace = nl < 0 ? undefined : reply.slice(nl + 1);
    if (result.startsWith('matched:')) {
      const channel = this.keys.replyChannel(result.slice('matched:'.length));
      await guard(this.redis.spublish(channel, Buffer.concat([Buffer.from(`${answer.messageId} `), answer.payload])));
      return { result: 'matched', trace };
    }
    return { result: result as ClaimResult, trace };
  }

  /** At a call's timeout: the stored answer if there is one, else the call is marked timed out. */
  async expire(messageId: string): Promise<ExpireResult> {
    const reply = await guard(this.redis.rrpcCallExpireBuffer(this.keys.call(messageId), this.resultTtlMs));
    const state = reply[0]?.toString();
    if (state === 'S') return { state: 'answered', payload: reply[1] ?? Buffer.alloc(0) };
    if (state === 'T') return { state: 'timedOut' };
    return { state: 'unknown' };
  }

  /** Stored answers of several calls (after a reply-channel resubscribe): message ID → payload. */
  async answered(messageIds: readonly string[]): Promise<Map<string, Buffer>> {
    const found = new Map<string, Buffer>();
    // One command per call, all written before any reply is read (one round trip on the wire; on a
    // cluster, ioredis sends each to its slot's node).
    const replies = await guard(Promise.all(messageIds.map((id) => this.redis.hmgetBuffer(this.keys.call(id), 's', 'r'))));
    replies.forEach(([state, payload], i) => {
      const id = messageIds[i];
      if (id !== undefined && state?.toString() === 'S') found.set(id, payload ?? Buffer.alloc(0));
    });
    return found;
  }

  async get(messageId: string): Promise<CallRecord | undefined> {
    const [d, s, t, dl, at, r, o] = await guard(this.redis.hmgetBuffer(this.keys.call(messageId), 'd', 's', 't', 'dl', 'at', 'r', 'o'));
    if (!d || !s) return undefined;
    const [productKey = '', deviceName = ''] = d.toString().split('/');
    const deadline = Number(dl?.toString() ?? timeOfMessageId(messageId));
    let state: CallState = s.toString() === 'S' ? 'SUCCESS' : s.toString() === 'T' ? 'TIMEOUT' : 'PENDING';
    // A pending call whose pod died is never marked; past its deadline it has timed out all the same.
    if (state === 'PENDING' && Date.now() > deadline) state = 'TIMEOUT';
    return {
      messageId,
      productKey,
      deviceName,
      state,
      createdAt: Number(t?.toString() ?? timeOfMessageId(messageId)),
      deadline,
      finishedAt: at ? Number(at.toString()) : undefined,
      payload: state === 'SUCCESS' ? (r ?? Buffer.alloc(0)) : undefined,
      owner: o && o.length > 0 ? o.toString() : undefined,
    };
  }
}
