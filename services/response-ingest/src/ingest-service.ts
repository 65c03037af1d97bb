import { createServer, type Server } from 'node:http';
import type { IngestConfig } from '@rrpc/config';
import { createServiceBroker } from '@rrpc/broker';
import { createAuthnMetrics, createIngestMetrics, createRegistry } from '@rrpc/metrics';
import { SecretBox } from '@rrpc/crypto';
import { closeServer, errorHandler, listen, notFound, serviceApp, type Logger } from '@rrpc/runtime';
import { CallStore, DeviceRegistry, Keys, PresenceStore, connectRedis, createRedis } from '@rrpc/store';
import { RESPONSE_FILTERS, sharedFilter } from '@rrpc/topics';
import { answerHandler } from './answer-handler.js';
import { authzRoutes } from './routes/authz.js';
import { hookRoutes } from './routes/hooks.js';
import { authnRoutes } from './routes/authn.js';
import { Authenticator } from './authenticator.js';

export interface IngestService {
  readonly server: Server;
  readonly config: IngestConfig;
  start(): Promise<number>;
  stop(): Promise<void>;
}

export function createIngestService(config: IngestConfig, logger: Logger): IngestService {
  const keys = new Keys(config.namespace);
  const redis = createRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes, commandTimeoutMs: config.redisCommandTimeoutMs, connectionName: `${config.instanceId}:cmd` });
  redis.on('error', (err: Error) => logger.debug({ err }, 'redis connection error'));
  const registry = createRegistry('response-ingest');
  const metrics = createIngestMetrics(registry);
  const calls = new CallStore(redis, keys, config.resultTtlMs, { deviceRegistry: config.deviceRegistry });
  const presence = new PresenceStore(redis, keys, config.presenceTtlMs);
  const devices =
    config.deviceRegistry && config.secretsKeys ? new DeviceRegistry(redis, keys, new SecretBox(config.secretsKeys.current, config.secretsKeys.previous)) : undefined;
  const authenticator = new Authenticator({
    registry: devices,
    serviceUsername: config.serviceMqttUsername,
    servicePassword: config.mqtt.password,
    shareGroup: config.namespace,
    onError: (err) => logger.warn({ err }, 'broker login could not be checked against the device registry'),
  });

  const broker = createServiceBroker(config, logger, answerHandler({ calls, metrics, logger, protocolVersion: config.mqtt.protocolVersion, instanceId: config.instanceId }));
  const subscriptions = RESPONSE_FILTERS.map((filter) => ({
    filter: config.sharedSubscription ? sharedFilter(config.namespace, filter) : filter,
    qos: 1 as const,
  }));

  let accepting = true;
  const app = serviceApp({
    registry,
    accepting: () => accepting,
    checks: [
      { name: 'redis', ok: () => redis.status === 'ready' },
      { name: 'broker', ok: () => broker.ready },
    ],
  });
  app.use(
    hookRoutes({
      presence,
      metrics,
      logger,
      webhookToken: config.webhookToken,
      authDisabled: config.authDisabled,
      maxBodyBytes: config.maxWebhookBytes,
    }),
  );
  app.use(authzRoutes({ logger, webhookToken: config.webhookToken, authDisabled: config.authDisabled, serviceUsername: config.serviceMqttUsername }));
  app.use(authnRoutes({ authenticator, metrics: createAuthnMetrics(registry), logger, webhookToken: config.webhookToken, authDisabled: config.authDisabled }));
  app.use(notFound);
  app.use(errorHandler(logger));
  // Slow clients: the header block and the whole webhook must arrive in time (checked every second).
  const server = createServer({ connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs) }, app);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = config.headersTimeoutMs;
  server.requestTimeout = config.requestTimeoutMs;

  return {
    server,
    config,
    async start() {
      // Listen before connecting to the broker: the broker authenticates this service's own login through
      // POST /authn/emqx (readiness waits for the broker connection).
      await connectRedis(redis);
      const port = await listen(server, config.port);
      await broker.connect();
      await broker.subscribe(subscriptions);
      logger.info({ port, instanceId: config.instanceId, subscriptions: subscriptions.map((s) => s.filter) }, 'response-ingest listening');
      return port;
    },
    async stop() {
      accepting = false;
      // Stop taking answers first (the broker hands the shared subscription to the other replicas),
      // then let claims in flight finish before Redis closes.
      await broker.close();
      await new Promise((r) => setTimeout(r, 50));
      await closeServer(server);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
