/**
 * The local cluster's MQTT broker: aedes (MQTT 3.1.1, no shared subscriptions) in this process, on a free
 * port. Like EMQX in production, it reports device connects and disconnects to response-ingest as EMQX 5
 * webhooks, so presence takes the same road. Clients whose username is not `deviceName&productKey` (the
 * services themselves) are not reported: the ingest would ignore them. Subscriptions too: aedes's subscribe
 * and unsubscribe events become EMQX 5 `session.subscribed` / `session.unsubscribed` webhooks (one per filter).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type Client } from 'aedes';
import { emqxConnected, emqxDisconnected, emqxSubscription, WebhookSender } from '@rrpc/simulator';
import { parseUsername } from '@rrpc/topics';
import { brokerAuthentication, type BrokerAuthenticationOptions } from './broker-authentication.js';

export interface EmbeddedBrokerOptions {
  port: number;
  host?: string;
  /** response-ingest's webhook endpoint and token. */
  webhook: { url: string; token: string };
  onWebhookFailure?: (error: Error) => void;
  /**
   * Authenticate every CONNECT at response-ingest's POST /authn/emqx and authorize publishes and subscribes
   * by the ACL it returns (as EMQX does). Without it the broker accepts anyone: only for tests of presence.
   */
  authentication?: BrokerAuthenticationOptions;
}

export interface EmbeddedBroker {
  readonly url: string;
  readonly port: number;
  readonly webhooks: WebhookSender;
  close(): Promise<void>;
}

interface Session {
  username: string;
  keepalive: number;
  protoVer: number;
  clean: boolean;
  connectedAt?: number;
  reason?: string;
}

function address(host: string | undefined, port: number | undefined): string {
  return `${host?.replace(/^::ffff:/, '') ?? '127.0.0.1'}:${port ?? 0}`;
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const webhooks = new WebhookSender({
    url: options.webhook.url,
    token: options.webhook.token,
    ...(options.onWebhookFailure ? { onFailure: options.onWebhookFailure } : {}),
  });
  const sessions = new WeakMap<Client, Session>();
  const broker = await Aedes.createBroker({
    ...(options.authentication ? brokerAuthentication(options.authentication) : {}),
    preConnect: (client, packet, callback) => {
      if (packet.username !== undefined && parseUsername(packet.username) !== undefined) {
        sessions.set(client, {
          username: packet.username,
          keepalive: packet.keepalive ?? 0,
          protoVer: packet.protocolVersion ?? 4,
          clean: packet.clean ?? true,
        });
      }
      callback(null, true);
    },
  });
  const names = (client: Client) => {
    const conn = client.conn as Partial<Socket>;
    return { peername: address(conn.remoteAddress, conn.remotePort), sockname: address(conn.localAddress, conn.localPort) };
  };
  broker.on('clientReady', (client) => {
    const session = sessions.get(client);
    if (!session) return;
    session.connectedAt = Date.now();
    void webhooks.send(
      client.id,
      emqxConnected({
        clientId: client.id,
        username: session.username,
        connectedAt: session.connectedAt,
        keepalive: session.keepalive,
        protoVer: session.protoVer,
        cleanStart: session.clean,
        node: 'aedes@127.0.0.1',
        ...names(client),
      }),
    );
  });
  // Subscriptions, in order with the client's connect and disconnect (same sender key).
  const subscription = (kind: 'subscribed' | 'unsubscribed', client: Client | null, filters: Array<{ topic: string; qos: number }>) => {
    const session = client ? sessions.get(client) : undefined;
    if (!client || !session) return;
    const peerhost = names(client).peername.replace(/:[0-9]+$/, '');
    for (const f of filters) {
      void webhooks.send(
        client.id,
        emqxSubscription(kind, {
          clientId: client.id,
          username: session.username,
          topic: f.topic,
          qos: f.qos,
          at: Date.now(),
          peerhost,
          node: 'aedes@127.0.0.1',
        }),
      );
    }
  };
  broker.on('subscribe', (subscriptions, client) =>
    subscription(
      'subscribed',
      client,
      subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })),
    ),
  );
  broker.on('unsubscribe', (topics, client) =>
    subscription(
      'unsubscribed',
      client,
      topics.map((topic) => ({ topic, qos: 0 })),
    ),
  );
  broker.on('keepaliveTimeout', (client) => {
    const session = sessions.get(client);
    if (session) session.reason = 'keepalive_timeout';
  });
  broker.on('clientDisconnect', (client) => {
    const session = sessions.get(client);
    if (!session || session.connectedAt === undefined) return;
    // aedes marks a client that sent DISCONNECT; anything else is a dropped connection.
    const reason = (client as unknown as { _disconnected?: boolean })._disconnected ? 'normal' : (session.reason ?? 'tcp_closed');
    const now = Date.now();
    void webhooks.send(
      client.id,
      emqxDisconnected({
        clientId: client.id,
        username: session.username,
        reason,
        disconnectedAt: now,
        connectedAt: session.connectedAt,
        protoVer: session.protoVer,
        node: 'aedes@127.0.0.1',
        ...names(client),
      }),
    );
  });

  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    url: `mqtt://${host}:${options.port}`,
    port: options.port,
    webhooks,
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
