/**
 * EMQX 5 presence webhooks, for brokers that send none (Mosquitto, aedes): the `client.connected` and
 * `client.disconnected` bodies as EMQX's rule engine posts them, and a sender that posts them with a bearer
 * token — in order for each client, a bounded number at a time, retried a few times.
 */

export interface ConnectedEventInput {
  clientId: string;
  username: string;
  connectedAt: number;
  keepalive: number;
  /** The client's address, `ip:port`. */
  peername: string;
  /** The broker's address the client connected to, `ip:port`. */
  sockname: string;
  protoVer: number;
  cleanStart?: boolean;
  node?: string;
}

export interface DisconnectedEventInput {
  clientId: string;
  username: string;
  reason: string;
  disconnectedAt: number;
  connectedAt?: number;
  peername: string;
  sockname: string;
  protoVer: number;
  node?: string;
}

const NODE = 'emqx@127.0.0.1';

export function emqxConnected(e: ConnectedEventInput): Record<string, unknown> {
  return {
    event: 'client.connected',
    clientid: e.clientId,
    username: e.username,
    mountpoint: 'undefined',
    peername: e.peername,
    sockname: e.sockname,
    proto_name: 'MQTT',
    proto_ver: e.protoVer,
    keepalive: e.keepalive,
    clean_start: e.cleanStart ?? true,
    expiry_interval: 0,
    is_bridge: false,
    conn_props: {},
    receive_maximum: 32,
    connected_at: e.connectedAt,
    node: e.node ?? NODE,
    timestamp: e.connectedAt,
    metadata: { rule_id: 'rrpc-presence' },
  };
}

export function emqxDisconnected(e: DisconnectedEventInput): Record<string, unknown> {
  return {
    event: 'client.disconnected',
    clientid: e.clientId,
    username: e.username,
    reason: e.reason,
    peername: e.peername,
    sockname: e.sockname,
    proto_name: 'MQTT',
    proto_ver: e.protoVer,
    disconn_props: {},
    ...(e.connectedAt !== undefined ? { connected_at: e.connectedAt } : {}),
    disconnected_at: e.disconnectedAt,
    node: e.node ?? NODE,
    timestamp: e.disconnectedAt,
    metadata: { rule_id: 'rrpc-presence' },
  };
}

export interface SubscriptionEventInput {
  clientId: string;
  username: string;
  /** The topic filter as the client gave it. */
  topic: string;
  qos: number;
  at: number;
  /** The client's IP address. */
  peerhost: string;
  node?: string;
}

/** EMQX 5 `session.subscribed` (one per filter of a SUBSCRIBE) / `session.unsubscribed` rule-engine bodies. */
export function emqxSubscription(kind: 'subscribed' | 'unsubscribed', e: SubscriptionEventInput): Record<string, unknown> {
  return {
    event: `session.${kind}`,
    clientid: e.clientId,
    username: e.username,
    topic: e.topic,
    qos: e.qos,
    ...(kind === 'subscribed' ? { sub_props: {} } : { unsub_props: {} }),
    peerhost: e.peerhost,
    node: e.node ?? NODE,
    timestamp: e.at,
    metadata: { rule_id: 'rrpc-presence' },
  };
}

export interface WebhookSenderOptions {
  url: string;
  /** Sent as `Authorization: Bearer <token>` (response-ingest's RRPC_WEBHOOK_TOKEN). */
  token?: string | undefined;
  /** Requests in flight at once (default 32). */
  concurrency?: number;
  /** Attempts per webhook (default 3). */
  attempts?: number;
  /** Called once for each webhook that could not be delivered. */
  onFailure?: (error: Error, body: Record<string, unknown>) => void;
}

export class WebhookSender {
  readonly options: WebhookSenderOptions;
  sent = 0;
  failed = 0;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  /** The last delivery of each client: the next one for the same client waits for it. */
  private readonly tails = new Map<string, Promise<void>>();

  constructor(options: WebhookSenderOptions) {
    this.options = options;
  }

  /** Queues a webhook; webhooks with the same key (client ID) are delivered in the order sent. */
  send(key: string, body: Record<string, unknown>): Promise<void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const delivery = previous.then(() => this.deliver(body));
    this.tails.set(key, delivery);
    void delivery.then(() => {
      if (this.tails.get(key) === delivery) this.tails.delete(key);
    });
    return delivery;
  }

  /** Resolves when every queued webhook was delivered or given up. */
  async flush(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  private async deliver(body: Record<string, unknown>): Promise<void> {
    await this.acquire();
    try {
      const attempts = this.options.attempts ?? 3;
      let lastError: Error | undefined;
      for (let attempt = 1; attempt <= attempts; attempt++) {
        try {
          const res = await fetch(this.options.url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              ...(this.options.token !== undefined ? { authorization: `Bearer ${this.options.token}` } : {}),
            },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(5000),
          });
          const text = await res.text();
          if (res.ok) {
            this.sent++;
            return;
          }
          lastError = new Error(`webhook ${this.options.url} answered ${res.status}: ${text.slice(0, 200)}`);
          if (res.status >= 400 && res.status < 500) break; // the body or the token is wrong: retrying will not help
        } catch (error) {
          lastError = error instanceof Error ? error : new Error(String(error));
        }
        if (attempt < attempts) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
      this.failed++;
      this.options.onFailure?.(lastError ?? new Error('webhook failed'), body);
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.active < (this.options.concurrency ?? 32)) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
