import type { Express, NextFunction, Request, Response } from 'express';
import { createServer, type Server } from 'node:http';
import type { Redis } from 'ioredis';
import type { ApiConfig } from '@rrpc/config';
import { createServiceBroker } from '@rrpc/broker';
import { Caller } from '@rrpc/caller';
import { RrpcError } from '@rrpc/errors';
import { PodSummarizer, createApiMetrics, createRegistry, reportPeriodically, type PodSummary } from '@rrpc/metrics';
import { OpsPort, closeServer, errorHandler, listen, notFound, serviceApp, type Logger } from '@rrpc/runtime';
import {
  BatchStore,
  CallStore,
  DeviceRegistry,
  IdempotencyStore,
  JobStore,
  Keys,
  POD_REPORT_INTERVAL_MS,
  PodHeartbeats,
  PresenceEvents,
  PresenceStore,
  QuotaStore,
  RateLimiter,
  ReconcileStore,
  connectRedis,
  createRedis,
  createSubscriber,
  respondsWithin,
  type RedisClient,
} from '@rrpc/store';
import { SecretBox } from '@rrpc/crypto';
import { callerCalls, meteredCalls, timeoutReports } from './call-runner.js';
import { ANONYMOUS, ApiKeyRing } from './api-keys.js';
import { CallEndpoint } from './call-endpoint.js';
import { fastCallRoute } from './fast-call-route.js';
import { authenticate, ownedOutcomes, productScope, scopedCalls } from './request-principal.js';
import { keyRateLimits, rateLimitedCalls } from './rate-limit.js';
import { inFlightLimit } from './in-flight-limit.js';
import { rrpcRoutes } from './routes/rrpc.js';
import { deviceRoutes } from './routes/devices.js';
import { aliyunErrorBody, compatAliyunRoutes } from './routes/compat-aliyun.js';
import { CallbackPolicy, WorkQueues, createQueueRedis } from '@rrpc/jobs';
import { loadConsoleAssets } from './console-assets.js';
import { liveRoutes } from './routes/live.js';
import { buildOpenApi, formatOpenApi } from './openapi.js';
import { idempotent } from './idempotency.js';
import { jobRoutes } from './routes/jobs.js';
import { batchRoutes } from './routes/batches.js';
import { CONNECT_TIMEOUT_MAX_MS, TIMEOUT_MS } from './schemas.js';
import { startTracing } from '@rrpc/tracing';
import { requestTracer, traceRequests } from './request-tracing.js';
import { connectWaitingCalls } from './connect-wait.js';
import { KeyQuotas } from './key-quotas.js';

export interface ApiService {
  readonly server: Server;
  /** The express app behind the fast call route (fast-call-route.ts). */
  readonly app: Express;
  readonly caller: Caller;
  readonly config: ApiConfig;
  /** Connects Redis and the broker, subscribes the reply channel, listens; resolves with the port. */
  start(): Promise<number>;
  /** Graceful stop: unready, refuse new calls, let calls in flight finish, close everything. */
  stop(): Promise<void>;
}

export function createApiService(config: ApiConfig, logger: Logger): ApiService {
  const keys = new Keys(config.namespace);
  const redisOptions = { url: config.redisUrl, clusterNodes: config.redisClusterNodes, commandTimeoutMs: config.redisCommandTimeoutMs };
  const redis: RedisClient = createRedis({ ...redisOptions, connectionName: `${config.instanceId}:cmd` });
  redis.on('error', (err: Error) => logger.debug({ err }, 'redis connection error'));
  let subscriber: Redis | undefined;
  const broker = createServiceBroker(config, logger);

  const tracing = startTracing(config.tracing, { name: 'rrpc-api', instanceId: config.instanceId }, logger);
  const registry = createRegistry('api', { exemplars: tracing !== undefined });
  const metrics = createApiMetrics(registry, { exemplars: tracing !== undefined });
  const tracer = requestTracer(tracing);
  const calls = new CallStore(redis, keys, config.resultTtlMs, {
    deviceRegistry: config.deviceRegistry,
    trackSubscriptions: config.trackSubscriptions,
    subscribeGraceMs: config.subscribeGraceMs,
  });
  const presence = new PresenceStore(redis, keys, 0);
  // The device registry (routes/devices.ts); secrets are sealed under RRPC_SECRETS_KEY before they reach Redis.
  const devices = config.secretsKeys
    ? new DeviceRegistry(redis, keys, new SecretBox(config.secretsKeys.current, config.secretsKeys.previous))
    : undefined;
  const caller = new Caller({
    calls,
    broker,
    instanceId: config.instanceId,
    protocolVersion: config.mqtt.protocolVersion,
    logger,
    onResubscribed: () => {
      metrics.replyResweeps.inc();
      logger.info('reply channel re-subscribed; re-reading pending outcomes');
    },
    onRecovered: (via, count) => metrics.answersRecovered.labels(via).inc(count),
    tracing,
    presenceEvents: () => presenceEvents,
  });
  // Every route's calls: counted, scoped to the key's products, shed above the pod's in-flight cap,
  // rate-limited per key (leased) and per device (inside call-begin), then made.
  const keyRing = new ApiKeyRing({ keys: config.apiKeys, file: config.apiKeysFile, logger });
  const limits = { limiter: new RateLimiter(redis), keys, perKey: config.rateLimitPerKey, perDevice: config.rateLimitPerDevice };
  // connectTimeoutMs waits inside the limits and the metering: one HTTP call, one token, one metered call, in flight throughout.
  const keyRate = keyRateLimits(limits);
  // A call that ends TIMEOUT for a device marked ONLINE is reported for the ingest to check against the broker.
  const reconcile = new ReconcileStore(redis, keys);
  const reported = timeoutReports(
    callerCalls(caller),
    (device) => reconcile.reportTimeout(device),
    (err) => logger.debug({ err }, 'could not report a timed-out call'),
  );
  const connectWaiting = connectWaitingCalls(reported, () => presenceEvents);
  const run = meteredCalls(
    scopedCalls(inFlightLimit(rateLimitedCalls(connectWaiting, { ...limits, keyRate }), config.maxInFlight, config.maxInFlightPerKey)),
    metrics,
  );
  const quotas = new KeyQuotas(new QuotaStore(redis, keys), {
    jobs: config.maxJobsPerKey,
    devices: config.maxBatchDevicesPerKey,
    bytes: config.maxBytesPerKey,
  });
  // Persistent calls, batches (run by services/worker on BullMQ, over its own connection) and Idempotency-Key.
  const queueRedis = createQueueRedis({
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    connectionName: `${config.instanceId}:queues`,
    producer: true,
  });
  queueRedis.on('error', (err: Error) => logger.debug({ err }, 'redis queue connection error'));
  const queues = new WorkQueues(queueRedis, keys, undefined, config.redisCommandTimeoutMs);
  const idempotencyStore = new IdempotencyStore(redis, keys, 86_400_000);
  const idem = idempotent(idempotencyStore, () => TIMEOUT_MS.max + CONNECT_TIMEOUT_MAX_MS);
  let presenceEvents: PresenceEvents | undefined;
  let presenceChanges: PresenceEvents | undefined;
  let stopReports: (() => void) | undefined;
  const heartbeats = new PodHeartbeats<PodSummary>(redis, keys);
  const consoleAssets = loadConsoleAssets(() => formatOpenApi(buildOpenApi()));
  let accepting = true;
  const endpoint = new CallEndpoint({ run, maxPayloadBytes: config.maxPayloadBytes });
  const fastCalls = fastCallRoute({
    endpoint,
    authenticate: (authorization) => (config.authDisabled ? ANONYMOUS : keyRing.authenticate(authorization)),
    accepting: () => accepting,
    logger,
    trace: tracer,
    idempotency: { store: idempotencyStore, pendingMs: TIMEOUT_MS.max + CONNECT_TIMEOUT_MAX_MS },
  });

  const ops = {
    registry,
    accepting: () => accepting,
    checks: [
      { name: 'redis', ok: () => respondsWithin(redis, config.redisCommandTimeoutMs) },
      { name: 'replyChannel', ok: () => caller.ready },
      { name: 'broker', ok: () => broker.connected },
    ],
  };
  // With RRPC_OPS_PORT, /metrics is served there only (the public port keeps /livez and /readyz).
  const opsPort = new OpsPort(ops, logger, config.opsPort);
  const app = serviceApp({ ...ops, metrics: opsPort.metricsOnServicePort });
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (!accepting) {
      res.set('Connection', 'close');
      return next(new RrpcError('UNAVAILABLE', { message: 'This pod is shutting down; retry on another.' }));
    }
    next();
  });
  app.use(traceRequests(tracer));
  app.use(
    authenticate({
      ring: keyRing,
      authDisabled: config.authDisabled,
      reject: (error, req, res, next) => {
        if (!req.path.startsWith('/compat/')) return next(error);
        res.status(401).set(error.headers).type('application/json').send(aliyunErrorBody(error));
      },
    }),
  );
  app.use(deviceRoutes({ presence, registry: devices, registryOn: config.deviceRegistry }));
  app.use('/v1/devices/:productKey', productScope);
  app.use(compatAliyunRoutes({ run, maxPayloadBytes: config.maxPayloadBytes, registry: devices, presence }));
  app.use(
    jobRoutes({
      jobs: new JobStore(redis, keys, config.jobRetentionMs),
      queues,
      idempotent: idem,
      maxPayloadBytes: config.maxPayloadBytes,
      callbackPolicy: new CallbackPolicy(config.callbackAllowedHosts),
      keyRate,
      quotas,
      registry: config.deviceRegistry ? devices : undefined,
    }),
  );
  app.use(
    batchRoutes({
      batches: new BatchStore(redis, keys, config.jobRetentionMs),
      presence,
      queues,
      idempotent: idem,
      maxPayloadBytes: config.maxPayloadBytes,
      keyRate,
      quotas,
      perKey: config.rateLimitPerKey,
    }),
  );
  app.use(rrpcRoutes({ calls, outcomes: ownedOutcomes(keyRate) }));
  app.use(liveRoutes({ presenceChanges: () => presenceChanges, heartbeats, grafanaUrl: config.grafanaUrl, maxStreams: 1000 }));
  app.use(notFound);
  app.use(errorHandler(logger));

  // Slow clients: the header block and the whole request body must arrive in time (checked every second).
  const server = createServer({ connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs) }, (req, res) => {
    if (!fastCalls(req, res) && !consoleAssets.handle(req, res)) app(req, res);
  });
  server.keepAliveTimeout = 65_000; // longer than common load balancers' idle timeouts
  server.headersTimeout = config.headersTimeoutMs;
  server.requestTimeout = config.requestTimeoutMs;

  return {
    server,
    app,
    caller,
    config,
    async start() {
      keyRing.start();
      await Promise.all([connectRedis(redis), broker.connect()]);
      const reply = await createSubscriber({ ...redisOptions, connectionName: `${config.instanceId}:reply` }, redis, caller.channel);
      subscriber = reply.connection;
      subscriber.on('error', (err: Error) => logger.debug({ err }, 'redis reply connection error'));
      await connectRedis(subscriber);
      await caller.start(reply);
      await connectRedis(queueRedis);
      const presenceSub = await createSubscriber(
        { ...redisOptions, connectionName: `${config.instanceId}:presence` },
        redis,
        keys.presenceOnlineChannel,
      );
      presenceSub.connection.on('error', (err: Error) => logger.debug({ err }, 'redis presence connection error'));
      presenceEvents = new PresenceEvents(presenceSub.connection, keys.presenceOnlineChannel, undefined, presenceSub.sharded);
      const changesSub = await createSubscriber(
        { ...redisOptions, connectionName: `${config.instanceId}:changes` },
        redis,
        keys.presenceChangesChannel,
      );
      changesSub.connection.on('error', (err: Error) => logger.debug({ err }, 'redis presence-changes connection error'));
      // Subscribed when the first browser asks for live presence (GET /v1/events), not before.
      presenceChanges = new PresenceEvents(changesSub.connection, keys.presenceChangesChannel, undefined, changesSub.sharded);
      const summarizer = new PodSummarizer(registry, {
        counter: 'rrpc_calls_total',
        label: 'outcome',
        histogram: 'rrpc_call_duration_seconds',
        gauge: 'rrpc_calls_in_flight',
      });
      stopReports = reportPeriodically(
        summarizer,
        POD_REPORT_INTERVAL_MS,
        (summary) => heartbeats.report('api', config.instanceId, summary),
        (err) => logger.debug({ err }, 'could not report the pod summary'),
      );
      const port = await listen(server, config.port, config.bindHost);
      const boundOpsPort = await opsPort.listen(config.bindHost);
      logger.info(
        { port, opsPort: boundOpsPort, host: config.bindHost, instanceId: config.instanceId, namespace: config.namespace },
        'api listening',
      );
      return port;
    },
    async stop() {
      accepting = false;
      keyRing.stop();
      await caller.drained();
      await closeServer(server);
      await opsPort.close();
      await caller.stop();
      stopReports?.();
      await presenceEvents?.stop();
      presenceEvents?.disconnect();
      await presenceChanges?.stop();
      presenceChanges?.disconnect();
      await queues.close();
      queueRedis.disconnect();
      await broker.close();
      redis.disconnect();
      await tracing?.shutdown().catch((err: unknown) => logger.warn({ err }, 'could not export the last spans'));
    },
  };
}
