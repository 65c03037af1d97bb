import mqtt, { type IClientOptions, type IClientPublishOptions, type ISubscriptionGrant, type MqttClient } from 'mqtt';
import type { Socket } from 'node:net';
import { EventEmitter } from 'node:events';

export interface BrokerOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  protocolVersion: 4 | 5;
  /** Called for every message on the client's subscriptions. */
  onMessage?: (topic: string, payload: Buffer, userProperties: Record<string, string | string[]> | undefined) => void;
}

export interface Subscription {
  filter: string;
  qos: 0 | 1;
}

/** Backoff of a refused resubscription. */
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;

/**
 * The MQTT client wrapper every service uses: TCP_NODELAY, no queueing of QoS 0 messages while
 * disconnected (a call must fail fast, not be sent late), resubscribe after reconnects, health state.
 */
export class BrokerClient extends EventEmitter {
  readonly client: MqttClient;
  private subscriptions: Subscription[] = [];
  private subscribed = false;
  private closing = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MIN_MS;

  constructor(readonly options: BrokerOptions) {
    super();
    const clientOptions: IClientOptions = {
      clientId: options.clientId,
      username: options.username,
      password: options.password,
      protocolVersion: options.protocolVersion,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 500,
      connectTimeout: 5000,
      queueQoSZero: false,
      resubscribe: false,
      manualConnect: true,
    };
    this.client = mqtt.connect(options.url, clientOptions);
    this.client.on('connect', () => {
      (this.client.stream as Partial<Socket>).setNoDelay?.(true);
      this.emit('connect');
      if (this.subscriptions.length > 0) void this.confirm();
    });
    this.client.on('close', () => {
      this.subscribed = false;
      clearTimeout(this.retryTimer);
      if (!this.closing) this.emit('disconnect');
    });
    this.client.on('error', (error) => this.emit('broker-error', error));
    if (options.onMessage) {
      const onMessage = options.onMessage;
      this.client.on('message', (topic, payload, packet) => onMessage(topic, payload, packet.properties?.userProperties));
    }
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Connected and, if it has subscriptions, every one of them granted. */
  get ready(): boolean {
    return this.client.connected && (this.subscriptions.length === 0 || this.subscribed);
  }

  async connect(timeoutMs = 10_000): Promise<void> {
    this.client.connect();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.client.off('connect', onConnect);
        reject(new Error(`MQTT broker at ${this.options.url} did not accept a connection within ${timeoutMs} ms`));
      }, timeoutMs);
      const onConnect = () => {
        clearTimeout(timer);
        resolve();
      };
      this.client.once('connect', onConnect);
    });
  }

  async subscribe(subscriptions: Subscription[]): Promise<void> {
    this.subscriptions = subscriptions;
    await this.resubscribe();
  }

  /**
   * Resubscribes after a reconnect, never throwing (it runs from an event): a drop mid-subscribe waits for
   * the next 'connect'; a refused subscription is reported ('broker-error') and tried again while the
   * connection lasts, with backoff. `ready` stays false until every subscription is granted.
   */
  private async confirm(): Promise<void> {
    clearTimeout(this.retryTimer);
    try {
      await this.resubscribe();
      this.retryMs = RETRY_MIN_MS;
    } catch (error) {
      if (this.closing) return;
      this.emit('broker-error', error instanceof Error ? error : new Error(String(error)));
      if (!this.client.connected) return; // the next 'connect' tries again
      this.retryTimer = setTimeout(() => void this.confirm(), this.retryMs);
      this.retryTimer.unref();
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    }
  }

  private async resubscribe(): Promise<void> {
    const map: Record<string, { qos: 0 | 1 }> = {};
    for (const s of this.subscriptions) map[s.filter] = { qos: s.qos };
    let granted: ISubscriptionGrant[];
    try {
      granted = await this.client.subscribeAsync(map);
    } catch (error) {
      // mqtt.js rejects a SUBACK with a failure code itself (ErrorWithSubackPacket); say what was refused.
      if (error instanceof Error && 'packet' in error) {
        this.subscribed = false;
        throw new Error(`broker refused subscriptions: ${Object.keys(map).join(', ')} (${error.message})`, { cause: error });
      }
      throw error;
    }
    const refused = granted.filter((g) => g.qos === 128 || (typeof g.qos === 'number' && g.qos > 2));
    if (refused.length > 0) {
      this.subscribed = false;
      throw new Error(`broker refused subscriptions: ${refused.map((g) => g.topic).join(', ')}`);
    }
    this.subscribed = true;
    this.emit('subscribed');
  }

  /** Publishes, or throws at once when the broker is not connected. */
  publish(topic: string, payload: Buffer | string, options: IClientPublishOptions = { qos: 0 }): Promise<void> {
    if (!this.client.connected) return Promise.reject(new Error('MQTT broker not connected'));
    return new Promise((resolve, reject) => {
      this.client.publish(topic, payload, options, (error) => (error ? reject(error) : resolve()));
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.retryTimer);
    await this.client.endAsync();
  }
}

export interface ServiceBrokerConfig {
  namespace: string;
  instanceId: string;
  mqtt: { url: string; username: string | undefined; password: string | undefined; protocolVersion: 4 | 5 };
}

interface WarnLogger {
  warn(obj: object, msg?: string): void;
  warn(msg: string): void;
}

/** The MQTT client of a service process: client ID from namespace and instance, errors and drops logged. */
/** The MQTT client ID of a service process. */
export function serviceClientId(config: Pick<ServiceBrokerConfig, 'namespace' | 'instanceId'>): string {
  return `${config.namespace}-${config.instanceId}`.slice(0, 64);
}

export function createServiceBroker(config: ServiceBrokerConfig, logger: WarnLogger, onMessage?: BrokerOptions['onMessage']): BrokerClient {
  const broker = new BrokerClient({
    url: config.mqtt.url,
    clientId: serviceClientId(config),
    username: config.mqtt.username,
    password: config.mqtt.password,
    protocolVersion: config.mqtt.protocolVersion,
    ...(onMessage ? { onMessage } : {}),
  });
  broker.on('broker-error', (err: Error) => logger.warn({ err }, 'mqtt error'));
  broker.on('disconnect', () => logger.warn('mqtt broker disconnected'));
  return broker;
}
