/**
 * An RRPC device: connects to the broker with Alibaba credentials, subscribes to its request topics
 * (again after every reconnect), hands each request to the matching handler once, and publishes the
 * handler's answer on the topic that belongs to that message ID.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import {
  checkCustomTopic,
  deviceCustomRequestFilter,
  deviceRequestFilter,
  isDeviceName,
  isProductKey,
  parseRequestTopic,
  type DeviceRef,
  type TopicKind,
} from '@rrpc/topics';
import { deviceCredentials, type SignMethod } from './credentials.js';

export interface RrpcContext {
  messageId: string;
  /** The topic the request arrived on. */
  topic: string;
  kind: TopicKind;
  /** For custom-topic calls: the caller's topic, `/${productKey}/${deviceName}/user/...`. */
  customTopic?: string;
  /**
   * The W3C trace context the request carried (MQTT 5 user properties `traceparent` / `tracestate`), so
   * the handler can continue the caller's trace. Sent back on the answer as it is when the handler returns:
   * a handler that makes its own span sets its traceparent here. Absent on MQTT 3.1.1.
   */
  traceparent?: string;
  tracestate?: string;
}

/** What a handler returns: the answer's bytes, or undefined / null to send no answer (the call times out). */
export type RrpcAnswer = Buffer | Uint8Array | string | undefined | null;
export type RrpcHandler = (payload: Buffer, ctx: RrpcContext) => RrpcAnswer | Promise<RrpcAnswer>;

export interface DeviceOptions {
  /** Broker URL: mqtt://, mqtts://, ws://, wss://. */
  url: string;
  productKey: string;
  deviceName: string;
  /** Signs the password (securemode=3); without it no password is sent. */
  deviceSecret?: string;
  /** The device's client ID before the `|...|` block; default `${productKey}.${deviceName}`. */
  clientId?: string;
  signMethod?: SignMethod;
  /** Connect with `ext=1` even before any custom-topic handler is registered. */
  ext?: boolean;
  /** MQTT keepalive in seconds (default 60). */
  keepalive?: number;
  /** Pause between reconnect attempts in ms (default 1000; 0 turns automatic reconnects off). */
  reconnectPeriodMs?: number;
  /** How long connect() waits for the first CONNACK and SUBACK (default 30 000 ms). */
  connectTimeoutMs?: number;
  /** MQTT protocol: 4 (3.1.1, as Alibaba devices speak; default) or 5. */
  protocolVersion?: 4 | 5;
  /** QoS of answers (default 0, as Alibaba's RRPC). */
  answerQos?: 0 | 1;
  /**
   * Answers produced while disconnected are kept and sent on the next connection: at most this many
   * (default 100; the oldest go first), and none older than queuedAnswerMaxAgeMs (default 60 000, the
   * longest call timeout: an older answer would arrive after its call ended).
   */
  maxQueuedAnswers?: number;
  queuedAnswerMaxAgeMs?: number;
  /** Anything else for mqtt.js; wins over the options above. */
  mqtt?: IClientOptions;
}

/** A handler threw or rejected, or returned something that is not an answer. No answer was sent. */
export class RrpcHandlerError extends Error {
  readonly messageId: string;
  readonly topic: string;
  constructor(messageId: string, topic: string, cause: unknown) {
    super(`RRPC handler failed for message ${messageId}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'RrpcHandlerError';
    this.messageId = messageId;
    this.topic = topic;
  }
}

/** Message IDs remembered to answer each one once (a custom-topic device hears its own answer). */
const REMEMBERED_MESSAGE_IDS = 10_000;

export interface RrpcDeviceEvents {
  /** Connected and subscribed (first connection and every reconnect). */
  connect: [];
  /** The connection was lost or closed. */
  offline: [];
  /** A handler failed, a subscription was refused, or the broker refused the connection. */
  error: [Error];
}

export class RrpcDevice extends EventEmitter<RrpcDeviceEvents> {
  readonly productKey: string;
  readonly deviceName: string;
  private readonly options: DeviceOptions;
  private systemHandler: RrpcHandler | undefined;
  private readonly customHandlers = new Map<string, RrpcHandler>();
  private readonly answered = new Set<string>();
  private ext: boolean;
  private mqttClient: MqttClient | undefined;
  private subscribed = false;
  /** Answers produced while disconnected, sent on the next connection (bounded: see DeviceOptions). */
  private readonly queuedAnswers: Array<{
    topic: string;
    payload: Buffer | string;
    at: number;
    extra: { properties?: { userProperties: Record<string, string> } };
  }> = [];
  /** connect() calls still waiting: disconnect() ends them at once. */
  private readonly waiters = new Set<(error: Error) => void>();

  constructor(options: DeviceOptions) {
    super();
    if (!isProductKey(options.productKey)) throw new TypeError('productKey: 1-32 letters, digits, "_" or "-"');
    if (!isDeviceName(options.deviceName)) throw new TypeError('deviceName: 4-32 letters, digits, "_", "-", "@", "." or ":"');
    this.options = options;
    this.productKey = options.productKey;
    this.deviceName = options.deviceName;
    this.ext = options.ext ?? false;
  }

  private get device(): DeviceRef {
    return { productKey: this.productKey, deviceName: this.deviceName };
  }

  /** The mqtt.js client of the current connection (undefined before connect()). */
  get client(): MqttClient | undefined {
    return this.mqttClient;
  }

  /** Connected and subscribed to every request topic. */
  get ready(): boolean {
    return this.mqttClient?.connected === true && this.subscribed;
  }

  /** The client ID of the current connection, `|...|` block included. */
  get clientId(): string | undefined {
    return this.mqttClient?.options.clientId;
  }

  /**
   * Registers the handler for system-topic calls, or with a topic (`/${pk}/${dn}/user/...` or just
   * `user/...`) for custom-topic calls. A custom topic needs `ext=1` in the client ID: if the device is
   * already connected without it, it reconnects with it. Resolves once the subscription is in place
   * (at once when not connected yet: connect() subscribes).
   */
  onRrpc(handler: RrpcHandler): Promise<void>;
  onRrpc(topic: string, handler: RrpcHandler): Promise<void>;
  async onRrpc(topicOrHandler: string | RrpcHandler, maybeHandler?: RrpcHandler): Promise<void> {
    if (typeof topicOrHandler === 'function') {
      this.systemHandler = topicOrHandler;
      await this.subscribeIfConnected([deviceRequestFilter(this.device)]);
      return;
    }
    if (typeof maybeHandler !== 'function') throw new TypeError('onRrpc(topic, handler): handler must be a function');
    const topic = this.fullCustomTopic(topicOrHandler);
    this.customHandlers.set(topic, maybeHandler);
    if (!this.ext) {
      this.ext = true;
      if (this.mqttClient !== undefined) await this.reconnect();
      return;
    }
    await this.subscribeIfConnected([deviceCustomRequestFilter(topic)]);
  }

  /** Connects (if not connected) and subscribes; rejects on refusal or after connectTimeoutMs. */
  async connect(): Promise<void> {
    if (this.mqttClient !== undefined) {
      if (!this.ready) await this.waitReady(this.mqttClient, false);
      return;
    }
    await this.waitReady(this.open(), true);
  }

  /** Closes the connection; no automatic reconnects until connect() or reconnect(). */
  async disconnect(): Promise<void> {
    const client = this.mqttClient;
    this.mqttClient = undefined;
    this.subscribed = false;
    for (const abort of [...this.waiters]) abort(new Error(`${this.deviceName}: disconnected before the connection was ready`));
    // Connected: say DISCONNECT (the broker then reports a normal disconnect). Otherwise just stop retrying.
    if (client !== undefined) await client.endAsync(!client.connected);
  }

  /** Drops the current connection and opens a new one (new timestamp in the client ID). */
  async reconnect(): Promise<void> {
    await this.disconnect();
    await this.connect();
  }

  private fullCustomTopic(topic: string): string {
    const full = topic.startsWith('/') ? topic : `/${this.productKey}/${this.deviceName}/${topic}`;
    const check = checkCustomTopic(full, this.device);
    if (!check.ok) throw new TypeError(`custom topic ${full}: ${check.reason}`);
    return full;
  }

  private filters(): string[] {
    const filters = this.systemHandler !== undefined ? [deviceRequestFilter(this.device)] : [];
    for (const topic of this.customHandlers.keys()) filters.push(deviceCustomRequestFilter(topic));
    return filters;
  }

  private open(): MqttClient {
    const credentials = deviceCredentials({
      productKey: this.productKey,
      deviceName: this.deviceName,
      deviceSecret: this.options.deviceSecret,
      clientId: this.options.clientId ?? `${this.productKey}.${this.deviceName}`,
      signMethod: this.options.signMethod,
      timestamp: Date.now(),
      ext: this.ext,
    });
    const client = mqtt.connect(this.options.url, {
      clientId: credentials.clientId,
      username: credentials.username,
      ...(credentials.password !== undefined ? { password: credentials.password } : {}),
      protocolVersion: this.options.protocolVersion ?? 4,
      keepalive: this.options.keepalive ?? 60,
      reconnectPeriod: this.options.reconnectPeriodMs ?? 1000,
      connectTimeout: this.options.connectTimeoutMs ?? 30_000,
      clean: true,
      resubscribe: false,
      queueQoSZero: false,
      ...this.options.mqtt,
    });
    this.mqttClient = client;
    this.subscribed = false;
    client.on('connect', () => {
      (client.stream as Partial<Socket>).setNoDelay?.(true);
      this.sendQueuedAnswers(client);
      // Clean session: the broker forgot the subscriptions; make them again on every connection.
      const filters = this.filters();
      if (filters.length === 0) {
        this.subscribed = true;
        this.emit('connect');
        return;
      }
      client.subscribe(filters, { qos: 0 }, (error, granted) => {
        if (client !== this.mqttClient) return;
        const refused = granted?.find((g) => g.qos === 128);
        if (error || refused) {
          this.report(error ?? new Error(`broker refused the subscription to ${refused?.topic}`));
          return;
        }
        this.subscribed = true;
        this.emit('connect');
      });
    });
    client.on('close', () => {
      if (client !== this.mqttClient) return;
      const was = this.subscribed;
      this.subscribed = false;
      if (was) this.emit('offline');
    });
    client.on('error', (error) => {
      if (client === this.mqttClient) this.report(error);
    });
    client.on('message', (topic, payload, packet) => {
      if (client === this.mqttClient) this.dispatch(client, topic, payload, packet.properties?.userProperties);
    });
    return client;
  }

  /** Waits for 'connect'; on the first connection a refusal or network error ends the attempt. */
  private waitReady(client: MqttClient, first: boolean): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs ?? 30_000;
    return new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(done);
        this.off('connect', onConnect);
        client.off('error', onError);
        if (error === undefined) return resolve();
        if (client === this.mqttClient) void this.disconnect();
        reject(error);
      };
      const onConnect = () => done();
      const onError = (error: Error) =>
        done(new Error(`${this.deviceName}: cannot connect to ${this.options.url}: ${error.message}`, { cause: error }));
      const timer = setTimeout(
        () => done(new Error(`${this.deviceName}: no connection to ${this.options.url} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.add(done);
      this.on('connect', onConnect);
      if (first) client.on('error', onError);
    });
  }

  private async subscribeIfConnected(filters: string[]): Promise<void> {
    const client = this.mqttClient;
    if (client === undefined || !client.connected) return;
    const granted = await client.subscribeAsync(filters, { qos: 0 });
    const refused = granted.find((g) => g.qos === 128);
    if (refused) throw new Error(`broker refused the subscription to ${refused.topic}`);
  }

  private dispatch(
    client: MqttClient,
    topic: string,
    payload: Buffer,
    userProperties: Record<string, string | string[]> | undefined,
  ): void {
    const request = parseRequestTopic(topic);
    if (request === undefined || this.answered.has(request.messageId)) return;
    this.answered.add(request.messageId);
    if (this.answered.size > REMEMBERED_MESSAGE_IDS) {
      const oldest = this.answered.values().next().value;
      if (oldest !== undefined) this.answered.delete(oldest);
    }
    let handler: RrpcHandler | undefined;
    const ctx: RrpcContext = { messageId: request.messageId, topic, kind: request.kind };
    const traceparent = traceProperty(userProperties?.['traceparent']);
    if (traceparent !== undefined) {
      ctx.traceparent = traceparent;
      const tracestate = traceProperty(userProperties?.['tracestate']);
      if (tracestate !== undefined) ctx.tracestate = tracestate;
    }
    if (request.kind === 'sys') {
      handler = this.systemHandler;
    } else {
      // /ext/rrpc/${messageId}/${pk}/${dn}/user/...
      ctx.customTopic = '/' + topic.split('/').slice(4).join('/');
      handler = this.customHandlers.get(ctx.customTopic);
    }
    if (handler === undefined) return;
    const run = handler;
    Promise.resolve()
      .then(() => run(payload, ctx))
      .then((answer) => {
        if (answer === undefined || answer === null) return;
        if (typeof answer !== 'string' && !(answer instanceof Uint8Array)) {
          throw new TypeError(`handler returned ${typeof answer}; return a Buffer, a string, or undefined for no answer`);
        }
        this.sendAnswer(
          request.responseTopic,
          typeof answer === 'string' ? answer : Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength),
          answerProperties(client, ctx),
        );
      })
      .catch((error: unknown) => this.report(new RrpcHandlerError(request.messageId, topic, error)));
  }

  /** Publishes an answer on the current connection, or keeps it for the next one (mqtt.js would drop it). */
  private sendAnswer(
    topic: string,
    payload: Buffer | string,
    extra: { properties?: { userProperties: Record<string, string> } } = {},
  ): void {
    const client = this.mqttClient;
    if (client?.connected === true) {
      client.publish(topic, payload, { qos: this.options.answerQos ?? 0, ...extra });
      return;
    }
    this.queuedAnswers.push({ topic, payload, at: Date.now(), extra });
    const max = this.options.maxQueuedAnswers ?? 100;
    if (this.queuedAnswers.length > max) this.queuedAnswers.splice(0, this.queuedAnswers.length - max);
  }

  private sendQueuedAnswers(client: MqttClient): void {
    const oldest = Date.now() - (this.options.queuedAnswerMaxAgeMs ?? 60_000);
    for (const answer of this.queuedAnswers.splice(0)) {
      if (answer.at >= oldest) client.publish(answer.topic, answer.payload, { qos: this.options.answerQos ?? 0, ...answer.extra });
    }
  }

  /** Answers waiting for a connection. */
  get queuedAnswerCount(): number {
    return this.queuedAnswers.length;
  }

  /**
   * Errors go to 'error' listeners, never to an uncaught exception. Without a listener, handler errors and
   * refusals become process warnings; network errors do not (mqtt.js retries them).
   */
  private report(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else if (typeof (error as NodeJS.ErrnoException).code !== 'string') process.emitWarning(error.message, { type: 'RrpcDeviceWarning' });
  }
}

/** A trace property as the SDK passes it on: one printable string of sane length (else none). */
function traceProperty(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return typeof v === 'string' && v.length > 0 && v.length <= 512 && /^[\x20-\x7e]+$/.test(v) ? v : undefined;
}

/** On MQTT 5, the answer carries the handler's trace context back (`traceparent`, `tracestate`). */
function answerProperties(client: MqttClient, ctx: RrpcContext): { properties?: { userProperties: Record<string, string> } } {
  if (client.options.protocolVersion !== 5 || ctx.traceparent === undefined) return {};
  const userProperties: Record<string, string> = { traceparent: ctx.traceparent };
  if (ctx.tracestate !== undefined) userProperties['tracestate'] = ctx.tracestate;
  return { properties: { userProperties } };
}

/** A device that is not connected yet: register handlers, then `await device.connect()`. */
export function createDevice(options: DeviceOptions): RrpcDevice {
  return new RrpcDevice(options);
}

/** Creates a device and connects it. Custom-topic handlers registered later make it reconnect with ext=1. */
export async function connectDevice(options: DeviceOptions): Promise<RrpcDevice> {
  const device = new RrpcDevice(options);
  await device.connect();
  return device;
}
