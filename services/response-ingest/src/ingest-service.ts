import { createServer, type Server } from 'node:http';
import type { IngestConfig } from '@rrpc/config';
import { createServiceBroker } from '@rrpc/broker';
import { createIngestMetrics, createRegistry } from '@rrpc/metrics';
import { closeServer, errorHandler, listen, notFound, serviceApp, type Logger } from '@rrpc/runtime';
import { CallStore, Keys, PresenceStore, connectRedis, createRedis } from '@rrpc/store';
import { ReconcileStore } from '@rrpc/store';
import { RESPONSE_FILTERS, sharedFilter } from '@rrpc/topics';
import { answerHandler } from './answer-handler.js';
import { authzRoutes } from './routes/authz.js';
import { hookRoutes } from './routes/hooks.js';
import { EmqxApi } from './emqx-api.js';
import { PresenceReconciler } from './reconciler.js';

export interface IngestService {
  readonly server: Server;
  readonly config: IngestConfig;
  /** Present with EMQX_API_URL: presence reconciliation with the broker. */
  readonly reconciler: PresenceReconciler | undefined;
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
  const reconciler = config.emqxApi
    ? new PresenceReconciler({
        api: new EmqxApi(config.emqxApi),
        presence,
        store: new ReconcileStore(redis, keys),
        metrics,
        logger,
        instanceId: config.instanceId,
        intervalMs: config.reconcileIntervalMs,
      })
    : undefined;

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
    reconciler,
    async start() {
      await Promise.all([connectRedis(redis), broker.connect()]);
      await broker.subscribe(subscriptions);
      const port = await listen(server, config.port);
      reconciler?.start();
      logger.info({ port, instanceId: config.instanceId, subscriptions: subscriptions.map((s) => s.filter) }, 'response-ingest listening');
      return port;
    },
    async stop() {
      accepting = false;
      reconciler?.stop();
      // Stop taking answers first (the broker hands the shared subscription to the other replicas),
      // then let claims in flight finish before Redis closes.
      await broker.close();
      await new Promise((r) => setTimeout(r, 50));
      await closeServer(server);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
