import express, { type NextFunction, type Request, type Response } from 'express';
import { createServer, type Server } from 'node:http';
import type { Redis } from 'ioredis';
import type { ApiConfig } from '@rrpc/config';
import { BrokerClient } from '@rrpc/broker';
import { Caller } from '@rrpc/caller';
import { RrpcError } from '@rrpc/errors';
import { createApiMetrics, createRegistry } from '@rrpc/metrics';
import { BearerTokens, errorHandler, listen, notFound, opsRouter, type Logger } from '@rrpc/runtime';
import { CallStore, Keys, PresenceStore, connectRedis, createRedis } from '@rrpc/store';
import { meteredCalls } from './call-runner.js';
import { rrpcRoutes } from './routes/rrpc.js';
import { deviceRoutes } from './routes/devices.js';
import { aliyunErrorBody, compatAliyunRoutes } from './routes/compat-aliyun.js';

export interface ApiService {
  readonly server: Server;
  readonly caller: Caller;
  readonly config: ApiConfig;
  /** Connects Redis and the broker, subscribes the reply channel, listens; resolves with the port. */
  start(): Promise<number>;
  /** Graceful stop: unready, refuse new calls, let calls in flight finish, close everything. */
  stop(): Promise<void>;
}

export function createApiService(config: ApiConfig, logger: Logger): ApiService {
  const keys = new Keys(config.namespace);
  const redisOptions = { url: config.redisUrl, commandTimeoutMs: config.redisCommandTimeoutMs };
  const redis: Redis = createRedis({ ...redisOptions, connectionName: `${config.instanceId}:cmd` });
  const subscriber: Redis = createRedis({ ...redisOptions, connectionName: `${config.instanceId}:reply`, subscriber: true });
  for (const [name, conn] of [['redis', redis], ['redis-reply', subscriber]] as const) {
    conn.on('error', (err: Error) => logger.debug({ err, connection: name }, 'redis connection error'));
  }
  const broker = new BrokerClient({
    url: config.mqtt.url,
    clientId: `${config.namespace}-${config.instanceId}`.slice(0, 64),
    username: config.mqtt.username,
    password: config.mqtt.password,
    protocolVersion: config.mqtt.protocolVersion,
  });
  broker.on('broker-error', (err: Error) => logger.warn({ err }, 'mqtt error'));
  broker.on('disconnect', () => logger.warn('mqtt broker disconnected'));

  const registry = createRegistry('api');
  const metrics = createApiMetrics(registry);
  const calls = new CallStore(redis, keys, config.resultTtlMs);
  const presence = new PresenceStore(redis, keys, 0);
  const caller = new Caller({
    calls,
    broker,
    subscriber,
    instanceId: config.instanceId,
    protocolVersion: config.mqtt.protocolVersion,
    logger,
    onResubscribed: () => {
      metrics.replyResweeps.inc();
      logger.info('reply channel re-subscribed; re-reading pending outcomes');
    },
  });
  const run = meteredCalls(caller, metrics);
  const tokens = new BearerTokens(config.apiKeys);
  let accepting = true;

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(
    opsRouter({
      registry,
      accepting: () => accepting,
      checks: [
        { name: 'redis', ok: () => redis.status === 'ready' },
        { name: 'replyChannel', ok: () => caller.ready },
        { name: 'broker', ok: () => broker.connected },
      ],
    }),
  );
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (!accepting) {
      res.set('Connection', 'close');
      return next(new RrpcError('UNAVAILABLE', { message: 'This pod is shutting down; retry on another.' }));
    }
    if (config.authDisabled || tokens.accepts(req.get('authorization'))) return next();
    const error = new RrpcError('UNAUTHENTICATED', { headers: { 'WWW-Authenticate': 'Bearer' } });
    if (req.path.startsWith('/compat/')) {
      res.status(401).set(error.headers).type('application/json').send(aliyunErrorBody(error));
      return;
    }
    next(error);
  });
  app.use(compatAliyunRoutes({ run, maxPayloadBytes: config.maxPayloadBytes }));
  app.use(rrpcRoutes({ run, calls, maxPayloadBytes: config.maxPayloadBytes }));
  app.use(deviceRoutes(presence));
  app.use(notFound);
  app.use(errorHandler(logger));

  const server = createServer(app);
  server.keepAliveTimeout = 65_000; // longer than common load balancers' idle timeouts
  server.headersTimeout = 66_000;
  server.requestTimeout = 120_000;

  return {
    server,
    caller,
    config,
    async start() {
      await Promise.all([connectRedis(redis), connectRedis(subscriber), broker.connect()]);
      await caller.start();
      const port = await listen(server, config.port);
      logger.info({ port, instanceId: config.instanceId, namespace: config.namespace }, 'api listening');
      return port;
    },
    async stop() {
      accepting = false;
      await caller.drained();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await caller.stop();
      await broker.close();
      redis.disconnect();
      subscriber.disconnect();
    },
  };
}
