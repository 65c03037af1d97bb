import type { Express, NextFunction, Request, Response } from 'express';
import { createServer, type Server } from 'node:http';
import type { Redis } from 'ioredis';
import type { ApiConfig } from '@rrpc/config';
import { createServiceBroker } from '@rrpc/broker';
import { Caller } from '@rrpc/caller';
import { RrpcError } from '@rrpc/errors';
import { createApiMetrics, createRegistry } from '@rrpc/metrics';
import { closeServer, errorHandler, listen, notFound, serviceApp, type Logger } from '@rrpc/runtime';
import { CallStore, Keys, PresenceStore, connectRedis, createRedis, createSubscriber, type RedisClient } from '@rrpc/store';
import { callerCalls, meteredCalls, timeoutReports } from './call-runner.js';
import { ReconcileStore } from '@rrpc/store';
import { RateLimiter } from '@rrpc/store';
import { ANONYMOUS, ApiKeyRing } from './api-keys.js';
import { CallEndpoint } from './call-endpoint.js';
import { fastCallRoute } from './fast-call-route.js';
import { authenticate, productScope, scopedCalls, scopedOutcomeReads } from './request-principal.js';
import { rateLimitedCalls } from './rate-limit.js';
import { inFlightLimit } from './in-flight-limit.js';
import { rrpcRoutes } from './routes/rrpc.js';
import { deviceRoutes } from './routes/devices.js';
import { aliyunErrorBody, compatAliyunRoutes } from './routes/compat-aliyun.js';
import { WorkQueues, createQueueRedis } from '@rrpc/jobs';
import { BatchStore, IdempotencyStore, JobStore, PresenceEvents } from '@rrpc/store';
import { idempotent } from './idempotency.js';
import { jobRoutes } from './routes/jobs.js';
import { batchRoutes } from './routes/batches.js';
import { CONNECT_TIMEOUT_MAX_MS, TIMEOUT_MS } from './schemas.js';

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

  const registry = createRegistry('api');
  const metrics = createApiMetrics(registry);
  const calls = new CallStore(redis, keys, config.resultTtlMs, {
    deviceRegistry: config.deviceRegistry,
    trackSubscriptions: config.trackSubscriptions,
    subscribeGraceMs: config.subscribeGraceMs,
  });
  const presence = new PresenceStore(redis, keys, 0);
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
    presenceEvents: () => presenceEvents,
  });
  // Every route's calls: counted, scoped to the key's products, shed above the pod's in-flight cap,
  // rate-limited per key (leased) and per device (inside call-begin), then made.
  const keyRing = new ApiKeyRing({ keys: config.apiKeys, file: config.apiKeysFile, logger });
  const limits = { limiter: new RateLimiter(redis), keys, perKey: config.rateLimitPerKey, perDevice: config.rateLimitPerDevice };
  const reconcile = new ReconcileStore(redis, keys);
  const reported = timeoutReports(callerCalls(caller), (device) => reconcile.reportTimeout(device), (err) => logger.debug({ err }, 'could not report a timed-out call'));
  const run = meteredCalls(scopedCalls(inFlightLimit(rateLimitedCalls(reported, limits), config.maxInFlight)), metrics);
  // Persistent calls, batches (run by services/worker on BullMQ, over its own connection) and Idempotency-Key.
  const queueRedis = createQueueRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes, connectionName: `${config.instanceId}:queues`, producer: true });
  queueRedis.on('error', (err: Error) => logger.debug({ err }, 'redis queue connection error'));
  const queues = new WorkQueues(queueRedis, keys);
  const idem = idempotent(new IdempotencyStore(redis, keys, 86_400_000), () => TIMEOUT_MS.max + CONNECT_TIMEOUT_MAX_MS);
  let presenceEvents: PresenceEvents | undefined;
  let accepting = true;
  const endpoint = new CallEndpoint({ run, maxPayloadBytes: config.maxPayloadBytes, presenceEvents: () => presenceEvents });
  const fastCalls = fastCallRoute({
    endpoint,
    authenticate: (authorization) => (config.authDisabled ? ANONYMOUS : keyRing.authenticate(authorization)),
    accepting: () => accepting,
    logger,
  });

  const app = serviceApp({
    registry,
    accepting: () => accepting,
    checks: [
      { name: 'redis', ok: () => redis.status === 'ready' },
      { name: 'replyChannel', ok: () => caller.ready },
      { name: 'broker', ok: () => broker.connected },
    ],
  });
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (!accepting) {
      res.set('Connection', 'close');
      return next(new RrpcError('UNAVAILABLE', { message: 'This pod is shutting down; retry on another.' }));
    }
    next();
  });
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
  app.use('/v1/devices/:productKey', productScope);
  app.get('/v1/rrpc/:messageId', scopedOutcomeReads(calls));
  app.use(compatAliyunRoutes({ run, maxPayloadBytes: config.maxPayloadBytes }));
  app.use(jobRoutes({ jobs: new JobStore(redis, keys, config.jobRetentionMs), queues, idempotent: idem, maxPayloadBytes: config.maxPayloadBytes }));
  app.use(batchRoutes({ batches: new BatchStore(redis, keys, config.jobRetentionMs), presence, queues, idempotent: idem, maxPayloadBytes: config.maxPayloadBytes }));
  app.use(rrpcRoutes({ endpoint, calls, idempotent: idem }));
  app.use(deviceRoutes(presence));
  app.use(notFound);
  app.use(errorHandler(logger));

  // Slow clients: the header block and the whole request body must arrive in time (checked every second).
  const server = createServer({ connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs) }, (req, res) => {
    if (!fastCalls(req, res)) app(req, res);
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
      const presenceSub = await createSubscriber({ ...redisOptions, connectionName: `${config.instanceId}:presence` }, redis, keys.presenceOnlineChannel);
      presenceSub.connection.on('error', (err: Error) => logger.debug({ err }, 'redis presence connection error'));
      presenceEvents = new PresenceEvents(presenceSub.connection, keys.presenceOnlineChannel, undefined, presenceSub.sharded);
      const port = await listen(server, config.port);
      logger.info({ port, instanceId: config.instanceId, namespace: config.namespace }, 'api listening');
      return port;
    },
    async stop() {
      accepting = false;
      keyRing.stop();
      await caller.drained();
      await closeServer(server);
      await caller.stop();
      await presenceEvents?.stop();
      presenceEvents?.disconnect();
      await queues.close();
      queueRedis.disconnect();
      await broker.close();
      redis.disconnect();
    },
  };
}
