import { createServer, type Server } from 'node:http';
import type { IngestConfig } from '@rrpc/config';
import { createServiceBroker } from '@rrpc/broker';
import { createIngestMetrics, createRegistry } from '@rrpc/metrics';
import { closeServer, errorHandler, listen, notFound, serviceApp, type Logger } from '@rrpc/runtime';
import { CallStore, Keys, PresenceStore, connectRedis, createRedis, respondsWithin } from '@rrpc/store';
import { RESPONSE_FILTERS, sharedFilter } from '@rrpc/topics';
import { answerHandler } from './answer-handler.js';
import { authzRoutes } from './routes/authz.js';
import { hookRoutes } from './routes/hooks.js';

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
  const calls = new CallStore(redis, keys, config.resultTtlMs);
  const presence = new PresenceStore(redis, keys, config.presenceTtlMs);

  const answers = answerHandler({ calls, metrics, logger, protocolVersion: config.mqtt.protocolVersion, instanceId: config.instanceId });
  const broker = createServiceBroker(config, logger, answers);
  const subscriptions = RESPONSE_FILTERS.map((filter) => ({
    filter: config.sharedSubscription ? sharedFilter(config.namespace, filter) : filter,
    qos: 1 as const,
  }));

  let accepting = true;
  const app = serviceApp({
    registry,
    accepting: () => accepting,
    checks: [
      { name: 'redis', ok: () => respondsWithin(redis, config.redisCommandTimeoutMs) },
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
      await Promise.all([connectRedis(redis), broker.connect()]);
      await broker.subscribe(subscriptions);
      const port = await listen(server, config.port);
      logger.info({ port, instanceId: config.instanceId, subscriptions: subscriptions.map((s) => s.filter) }, 'response-ingest listening');
      return port;
    },
    async stop() {
      accepting = false;
      // Stop taking answers first (the broker hands the shared subscription to the other replicas),
      // then let claims in flight finish before Redis closes (each is bounded by the command timeout).
      await broker.close();
      await answers.drained(config.redisCommandTimeoutMs + 1000);
      await closeServer(server);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
