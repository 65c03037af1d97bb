import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { BrokerClient } from '@rrpc/broker';
import { RrpcError, UnavailableError } from '@rrpc/errors';
import { CallStore, ReplyChannel, type BeginCall, type BeginResult, type PresenceEvents } from '@rrpc/store';
import { ORIGIN_PROPERTY, requestTopic, type DeviceRef } from '@rrpc/topics';
import {
  SpanKind,
  TRACEPARENT,
  TRACESTATE,
  encodeTraceHeaders,
  mqttAttributes,
  type Span,
  type TraceHeaders,
  type Tracing,
} from '@rrpc/tracing';

export interface CallRequest {
  device: DeviceRef;
  payload: Buffer;
  timeoutMs: number;
  /** A custom topic `/${pk}/${dn}/user/...`, already checked with checkCustomTopic. */
  topic?: string | undefined;
  /**
   * Called with the message ID once the pending call is recorded and before its request is published
   * (the worker records it, so that after a crash it reads the outcome instead of sending again).
   * If it fails, the call ends without a request.
   */
  onPending?: ((messageId: string) => Promise<void>) | undefined;
  /** The device's downlink rate limit (checked in the same Redis round trip as presence); absent: none. */
  deviceRate?: { perSecond: number; burst?: number } | undefined;
  /**
   * The caller's W3C trace context (validated): the parent of the call's publish span, or, with tracing off,
   * passed on to the device unchanged. Absent: a new trace (or none).
   */
  trace?: TraceHeaders | undefined;
  /** The id of the API key the call is made for: its outcome belongs to that key. */
  owner?: string | undefined;
}

export type CallOutcome =
  | { rrpcCode: 'SUCCESS'; messageId: string; payload: Buffer; durationMs: number }
  | { rrpcCode: 'TIMEOUT'; messageId: string; durationMs: number }
  | { rrpcCode: 'OFFLINE' | 'HALFCONN'; durationMs: number }
  /** RRPC_TRACK_SUBSCRIPTIONS: the device is connected but not subscribed to the request topic; nothing was sent. */
  | { rrpcCode: 'NOT_SUBSCRIBED'; durationMs: number };

interface Waiter {
  resolve(outcome: CallOutcome): void;
  timer: NodeJS.Timeout;
  started: number;
}

export interface CallerOptions {
  calls: CallStore;
  broker: BrokerClient;
  instanceId: string;
  protocolVersion: 4 | 5;
  logger: Logger;
  onResubscribed?: () => void;
  /** Answers whose notification was lost and that were read from their stored outcome instead. */
  onRecovered?: (via: 'resubscribe' | 'timeout', count: number) => void;
  /** OpenTelemetry (docs/tracing.md); undefined: no spans (the request's trace context is still passed on). */
  tracing?: Tracing | undefined;
  /**
   * Presence events (device online / subscribed), to wait for a device that connected less than
   * RRPC_SUBSCRIBE_GRACE_MS ago and has not subscribed yet; absent: one plain wait, then one more check.
   */
  presenceEvents?: (() => PresenceEvents | undefined) | undefined;
}

/**
 * Makes synchronous calls: one Redis round trip (presence + pending record), one publish, then a wait
 * on the pod's in-memory waiter table, resolved by the pod's single reply subscription.
 */
export class Caller {
  private readonly waiters = new Map<string, Waiter>();
  private replyChannel: ReplyChannel | undefined;
  private readonly idle: Array<() => void> = [];
  /** Calls inside begin() (before their waiter exists, or publishing): drained() waits for them too. */
  private beginning = 0;

  constructor(private readonly options: CallerOptions) {}

  /** This pod's reply channel name (the pending records name it). */
  get channel(): string {
    return this.options.calls.keys.replyChannel(this.options.instanceId);
  }

  get ready(): boolean {
    return this.replyChannel?.ready ?? false;
  }

  get inFlight(): number {
    return this.waiters.size;
  }

  /** Subscribes the reply channel on a dedicated connection (see createSubscriber in @rrpc/store). */
  async start(subscriber: { connection: Redis; sharded: boolean }): Promise<void> {
    this.replyChannel = new ReplyChannel(subscriber.connection, this.channel, subscriber.sharded, {
      onReply: (messageId, payload) => this.settle(messageId, payload),
      onResubscribed: () => {
        this.options.onResubscribed?.();
        void this.sweep();
      },
    });
    await this.replyChannel.start();
  }

  /**
   * One call. Its wait holds no suspended async frame and nothing of the request: only the waiter (the
   * promise's resolve, the start time and the timer), so 20,000 pending calls cost little memory.
   */
  call(request: CallRequest): Promise<CallOutcome> {
    return new Promise<CallOutcome>((resolve, reject) => {
      this.beginning++;
      const begun =
        this.options.tracing === undefined
          ? this.begin(request, resolve, request.trace, undefined)
          : this.beginTraced(this.options.tracing, request, resolve);
      begun.catch(reject).finally(() => {
        this.beginning--;
        this.notifyIfIdle();
      });
    });
  }

  /**
   * With tracing: a producer span from before call-begin to the end of the publish. Its context is stored in
   * the pending record (when sampled; the ingest's span continues it) and sent to the device.
   */
  private async beginTraced(tracing: Tracing, request: CallRequest, resolve: (outcome: CallOutcome) => void): Promise<void> {
    const span = tracing.startSpan('publish rrpc request', {
      kind: SpanKind.PRODUCER,
      parent: request.trace,
      attributes: mqttAttributes('send', '', undefined, this.options.broker.options.clientId),
    });
    span.setAttribute('rrpc.device', `${request.device.productKey}/${request.device.deviceName}`);
    try {
      await this.begin(request, resolve, tracing.headersOf(span), span);
      tracing.end(span);
    } catch (error) {
      tracing.end(span, error);
      throw error;
    }
  }

  /** Presence + pending record, then the publish; returns once the request is sent (or the call ended). */
  private async begin(
    request: CallRequest,
    resolve: (outcome: CallOutcome) => void,
    trace: TraceHeaders | undefined,
    span: Span | undefined,
  ): Promise<void> {
    const started = performance.now();
    if (!this.options.broker.connected) throw new UnavailableError('The MQTT broker');
    const call: BeginCall = {
      device: request.device,
      instanceId: this.options.instanceId,
      timeoutMs: request.timeoutMs,
      kind: request.topic === undefined ? 'sys' : 'ext',
      deviceRate: request.deviceRate,
      trace: span?.isRecording() && trace !== undefined ? encodeTraceHeaders(trace) : undefined,
      owner: request.owner,
      topic: request.topic,
    };
    let begun = await this.options.calls.begin(call);
    if (begun.status === 'awaitSubscription') begun = await this.awaitSubscription(call, begun.waitMs);
    if (begun.status === 'unsubscribed' || begun.status === 'awaitSubscription') {
      span?.setAttribute('rrpc.code', 'NOT_SUBSCRIBED');
      return resolve({ rrpcCode: 'NOT_SUBSCRIBED', durationMs: performance.now() - started });
    }
    if (begun.status === 'offline') {
      span?.setAttribute('rrpc.code', begun.rrpcCode);
      return resolve({ rrpcCode: begun.rrpcCode, durationMs: performance.now() - started });
    }
    if (begun.status === 'refused') {
      const { productKey, deviceName } = request.device;
      span?.setAttribute('rrpc.code', begun.code);
      throw new RrpcError(begun.code, {
        message:
          begun.code === 'DEVICE_DISABLED'
            ? `Device ${productKey}/${deviceName} is disabled.`
            : `No device ${productKey}/${deviceName} is registered.`,
      });
    }
    if (begun.status === 'limited') {
      const { productKey, deviceName } = request.device;
      throw new RrpcError('RATE_LIMITED', {
        message: `Too many calls for device ${productKey}/${deviceName} (limit ${request.deviceRate?.perSecond} a second); retry after ${begun.retryAfterMs} ms.`,
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(begun.retryAfterMs / 1000))) },
      });
    }

    const { messageId } = begun;
    const topic = requestTopic(request.device, messageId, request.topic);
    if (span !== undefined) span.setAttributes({ 'messaging.message.id': messageId, 'messaging.destination.name': topic });
    if (request.onPending) {
      try {
        await request.onPending(messageId);
      } catch (error) {
        void this.options.calls.expire(messageId).catch(() => undefined);
        throw error;
      }
    }
    // The timer's callback is shared and gets its arguments: no closure over this call's request.
    const timer = setTimeout(Caller.onTimer, request.timeoutMs, this, messageId);
    this.waiters.set(messageId, { resolve, timer, started });
    try {
      await this.options.broker.publish(topic, request.payload, {
        qos: 0,
        properties: this.options.protocolVersion === 5 ? { userProperties: this.userProperties(trace) } : undefined,
      });
    } catch (error) {
      this.drop(messageId);
      void this.options.calls.expire(messageId).catch(() => undefined);
      throw new RrpcError('UNAVAILABLE', { message: 'The MQTT broker is unavailable; the request was not sent.', messageId, cause: error });
    }
  }

  /** MQTT 5 user properties of a request: the origin mark, and the W3C trace context when there is one. */
  private userProperties(trace: TraceHeaders | undefined): Record<string, string> {
    if (trace === undefined) return { [ORIGIN_PROPERTY]: this.options.instanceId };
    const properties: Record<string, string> = { [ORIGIN_PROPERTY]: this.options.instanceId, [TRACEPARENT]: trace.traceparent };
    if (trace.tracestate !== undefined) properties[TRACESTATE] = trace.tracestate;
    return properties;
  }

  /**
   * The device connected moments ago and has not subscribed yet (devices subscribe right after CONNACK):
   * wait for its subscription event, at most until its grace ends, then begin once more.
   */
  private async awaitSubscription(call: BeginCall, waitMs: number): Promise<BeginResult> {
    const events = this.options.presenceEvents?.();
    if (events === undefined) {
      await new Promise((r) => setTimeout(r, waitMs));
      return this.options.calls.begin(call);
    }
    await events.start(); // subscribed before the next check, so no subscription event is missed
    const watch = events.watch(call.device);
    try {
      for (let round = 0; round < 100; round++) {
        const begun = await this.options.calls.begin(call);
        if (begun.status !== 'awaitSubscription') return begun;
        await watch.wait(begun.waitMs);
      }
      return { status: 'unsubscribed' };
    } finally {
      watch.cancel();
    }
  }

  private static onTimer(this: void, caller: Caller, messageId: string): void {
    void caller.expire(messageId);
  }

  private settle(messageId: string, payload: Buffer): void {
    const waiter = this.waiters.get(messageId);
    if (!waiter) return;
    this.drop(messageId);
    waiter.resolve({ rrpcCode: 'SUCCESS', messageId, payload, durationMs: performance.now() - waiter.started });
  }

  private drop(messageId: string): void {
    const waiter = this.waiters.get(messageId);
    if (!waiter) return;
    clearTimeout(waiter.timer);
    this.waiters.delete(messageId);
    this.notifyIfIdle();
  }

  private notifyIfIdle(): void {
    if (this.waiters.size === 0 && this.beginning === 0) for (const notify of this.idle.splice(0)) notify();
  }

  /** The timer ran out: take a stored answer whose notification was lost, else end the call as TIMEOUT. */
  private async expire(messageId: string): Promise<void> {
    const waiter = this.waiters.get(messageId);
    if (!waiter) return;
    let stored: Awaited<ReturnType<CallStore['expire']>> | undefined;
    try {
      stored = await this.options.calls.expire(messageId);
    } catch (error) {
      this.options.logger.warn({ err: error, messageId }, 'could not read the outcome of a timed-out call');
    }
    if (!this.waiters.has(messageId)) return; // the answer arrived meanwhile
    this.drop(messageId);
    const durationMs = performance.now() - waiter.started;
    if (stored?.state === 'answered') {
      this.options.onRecovered?.('timeout', 1);
      waiter.resolve({ rrpcCode: 'SUCCESS', messageId, payload: stored.payload, durationMs });
    } else waiter.resolve({ rrpcCode: 'TIMEOUT', messageId, durationMs });
  }

  /** After a re-subscribe: answers published while the subscription was down are read from their records. */
  private async sweep(): Promise<void> {
    const ids = [...this.waiters.keys()];
    try {
      const answered = await this.options.calls.answered(ids);
      for (const [messageId, payload] of answered) this.settle(messageId, payload);
      if (answered.size > 0) {
        this.options.onRecovered?.('resubscribe', answered.size);
        this.options.logger.info({ recovered: answered.size }, 'recovered answers after re-subscribe');
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not re-read pending outcomes after re-subscribe');
    }
  }

  /** Resolves when no call is in flight, counting calls still beginning (each ends by its own timeout at the latest). */
  drained(): Promise<void> {
    if (this.waiters.size === 0 && this.beginning === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  async stop(): Promise<void> {
    await this.replyChannel?.stop();
  }
}
