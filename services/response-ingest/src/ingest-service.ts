import { createServer, type Server } from 'node:http';
import type { IngestConfig } from '@rrpc/config';
import { createServiceBroker, serviceClientId } from '@rrpc/broker';
import { startTracing } from '@rrpc/tracing';
import { PodSummarizer, createAuthnMetrics, createIngestMetrics, createRegistry, reportPeriodically, type PodSummary } from '@rrpc/metrics';
import { OpsPort, closeServer, errorHandler, listen, notFound, serviceApp, type Logger } from '@rrpc/runtime';
import {
  CallStore,
  DeviceRegistry,
  Keys,
  POD_REPORT_INTERVAL_MS,
  PodHeartbeats,
  PresenceStore,
  ReconcileStore,
  connectRedis,
  createRedis,
  respondsWithin,
} from '@rrpc/store';
import { SecretBox } from '@rrpc/crypto';
import { RESPONSE_FILTERS, sharedFilter } from '@rrpc/topics';
import { answerHandler } from './answer-handler.js';
import { authzRoutes } from './routes/authz.js';
import { hookRoutes } from './routes/hooks.js';
import { authnRoutes } from './routes/authn.js';
import { Authenticator } from './authenticator.js';
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
  const redis = createRedis({
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    connectionName: `${config.instanceId}:cmd`,
  });
  redis.on('error', (err: Error) => logger.debug({ err }, 'redis connection error'));
  const tracing = startTracing(config.tracing, { name: 'rrpc-response-ingest', instanceId: config.instanceId }, logger);
  const registry = createRegistry('response-ingest');
  const metrics = createIngestMetrics(registry);
  const calls = new CallStore(redis, keys, config.resultTtlMs, { deviceRegistry: config.deviceRegistry });
  const presence = new PresenceStore(redis, keys, config.presenceTtlMs);
  const devices =
    config.deviceRegistry && config.secretsKeys
      ? new DeviceRegistry(redis, keys, new SecretBox(config.secretsKeys.current, config.secretsKeys.previous))
      : undefined;
  const authenticator = new Authenticator({
    registry: devices,
    serviceUsername: config.serviceMqttUsername,
    servicePassword: config.mqtt.password,
    shareGroup: config.namespace,
    onError: (err) => logger.warn({ err }, 'broker login could not be checked against the device registry'),
  });
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

  const answers = answerHandler({
    calls,
    metrics,
    logger,
    protocolVersion: config.mqtt.protocolVersion,
    instanceId: config.instanceId,
    tracing,
    clientId: serviceClientId(config),
  });
  const broker = createServiceBroker(config, logger, answers);
  const subscriptions = RESPONSE_FILTERS.map((filter) => ({
    filter: config.sharedSubscription ? sharedFilter(config.namespace, filter) : filter,
    qos: 1 as const,
  }));

  let accepting = true;
  let stopReports: (() => void) | undefined;
  const ops = {
    registry,
    accepting: () => accepting,
    checks: [
      { name: 'redis', ok: () => respondsWithin(redis, config.redisCommandTimeoutMs) },
      { name: 'broker', ok: () => broker.ready },
    ],
  };
  const opsPort = new OpsPort(ops, logger, config.opsPort); // RRPC_OPS_PORT: /metrics there, not on the service port
  const app = serviceApp({ ...ops, metrics: opsPort.metricsOnServicePort });
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
  app.use(
    authzRoutes({
      logger,
      webhookToken: config.webhookToken,
      authDisabled: config.authDisabled,
      serviceUsername: config.serviceMqttUsername,
    }),
  );
  app.use(
    authnRoutes({
      authenticator,
      metrics: createAuthnMetrics(registry),
      logger,
      webhookToken: config.webhookToken,
      authDisabled: config.authDisabled,
    }),
  );
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
      // Listen before connecting to the broker: the broker authenticates this service's own login through
      // POST /authn/emqx (readiness waits for the broker connection).
      await connectRedis(redis);
      const port = await listen(server, config.port, config.bindHost);
      const boundOpsPort = await opsPort.listen(config.bindHost);
      await broker.connect();
      await broker.subscribe(subscriptions);
      const heartbeats = new PodHeartbeats<PodSummary>(redis, keys);
      const summarizer = new PodSummarizer(registry, { counter: 'rrpc_responses_ingested_total', label: 'result' });
      stopReports = reportPeriodically(
        summarizer,
        POD_REPORT_INTERVAL_MS,
        (summary) => heartbeats.report('response-ingest', config.instanceId, summary),
        (err) => logger.debug({ err }, 'could not report the pod summary'),
      );
      reconciler?.start();
      logger.info(
        { port, opsPort: boundOpsPort, instanceId: config.instanceId, subscriptions: subscriptions.map((s) => s.filter) },
        'response-ingest listening',
      );
      return port;
    },
    async stop() {
      accepting = false;
      stopReports?.();
      reconciler?.stop();
      // Stop taking answers first (the broker hands the shared subscription to the other replicas),
      // then let claims in flight finish before Redis closes (each is bounded by the command timeout).
      await broker.close();
      await answers.drained(config.redisCommandTimeoutMs + 1000);
      await closeServer(server);
      await opsPort.close();
      await redis.quit().catch(() => redis.disconnect());
      await tracing?.shutdown().catch((err: unknown) => logger.warn({ err }, 'could not export the last spans'));
    },
  };
}
