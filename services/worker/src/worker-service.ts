import { createServer, type Server } from 'node:http';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WorkerConfig } from '@rrpc/config';
import { createServiceBroker } from '@rrpc/broker';
import { Caller } from '@rrpc/caller';
import {
  CallbackPolicy,
  QUEUES,
  WorkQueues,
  createQueueRedis,
  type BatchWork,
  type CallbackWork,
  type HostResolver,
  type JobWork,
  type QueueConnection,
} from '@rrpc/jobs';
import { PodSummarizer, createRegistry, createWorkerMetrics, reportPeriodically, type PodSummary } from '@rrpc/metrics';
import { OpsPort, errorHandler, listen, notFound, serviceApp, type Logger } from '@rrpc/runtime';
import {
  BatchStore,
  CallStore,
  JobStore,
  Keys,
  PresenceEvents,
  PresenceStore,
  QuotaStore,
  RateLimiter,
  connectRedis,
  createRedis,
  createSubscriber,
  respondsWithin,
  type RedisClient,
  POD_REPORT_INTERVAL_MS,
  PodHeartbeats,
} from '@rrpc/store';
import { BatchRunner } from './batch-runner.js';
import { CallbackSender } from './callback-sender.js';
import { JobRunner } from './job-runner.js';
import { checkNoEviction } from './redis-policy.js';
import { startTracing } from '@rrpc/tracing';
import { KeyRateSpender } from './key-rate.js';

export interface WorkerService {
  readonly server: Server;
  readonly config: WorkerConfig;
  /** Checks Redis, connects, subscribes, starts taking work, listens; resolves with the port. */
  start(): Promise<number>;
  /** Graceful stop: stop taking work, let work in hand finish (up to `graceMs`), close everything. */
  stop(graceMs?: number): Promise<void>;
}

export interface WorkerServiceOptions {
  /** Resolves callback hosts (default: the system resolver); tests give a name the address they want. */
  resolveHost?: HostResolver;
}

export function createWorkerService(config: WorkerConfig, logger: Logger, options: WorkerServiceOptions = {}): WorkerService {
  const keys = new Keys(config.namespace);
  const redisOptions = { url: config.redisUrl, clusterNodes: config.redisClusterNodes, commandTimeoutMs: config.redisCommandTimeoutMs };
  const redis: RedisClient = createRedis({ ...redisOptions, connectionName: `${config.instanceId}:cmd` });
  redis.on('error', (err: Error) => logger.debug({ err }, 'redis connection error'));
  // BullMQ needs its own connections (maxRetriesPerRequest: null), never the fail-fast command connection.
  const queueRedis: QueueConnection = createQueueRedis({
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    connectionName: `${config.instanceId}:queues`,
    producer: false,
  });
  queueRedis.on('error', (err: Error) => logger.debug({ err }, 'redis queue connection error'));
  const queues = new WorkQueues(queueRedis, keys, { attempts: config.callbackMaxAttempts, backoffMs: config.callbackBackoffMs });

  const broker = createServiceBroker(config, logger);

  const tracing = startTracing(config.tracing, { name: 'rrpc-worker', instanceId: config.instanceId }, logger);
  const registry = createRegistry('worker');
  const metrics = createWorkerMetrics(registry, async () => {
    const entries = await Promise.all(
      [queues.jobs, queues.batches, queues.callbacks].map(
        async (q) => [q.name, await q.getJobCounts('waiting', 'active', 'delayed', 'failed')] as const,
      ),
    );
    return Object.fromEntries(entries);
  });
  const calls = new CallStore(redis, keys, config.resultTtlMs, {
    deviceRegistry: config.deviceRegistry,
    trackSubscriptions: config.trackSubscriptions,
    subscribeGraceMs: config.subscribeGraceMs,
  });
  const presence = new PresenceStore(redis, keys, 0);
  const jobs = new JobStore(redis, keys, config.jobRetentionMs);
  const batches = new BatchStore(redis, keys, config.jobRetentionMs);
  const caller = new Caller({
    calls,
    broker,
    instanceId: config.instanceId,
    protocolVersion: config.mqtt.protocolVersion,
    logger,
    tracing,
    presenceEvents: () => events,
  });

  const quotas = new QuotaStore(redis, keys);
  const perDevice = config.rateLimitPerDevice;
  const jobRunner = new JobRunner({
    jobs,
    batches,
    calls,
    presence,
    caller,
    queues,
    metrics,
    logger,
    quotas,
    perDevice,
    tracing,
    trackSubscriptions: config.trackSubscriptions,
  });
  const keyRate = new KeyRateSpender(new RateLimiter(redis), keys);
  const batchRunner = new BatchRunner({ batches, jobs, calls, caller, queues, metrics, logger, quotas, keyRate, perDevice, tracing });
  const callbackSender = new CallbackSender({
    jobs,
    metrics,
    logger,
    secret: config.callbackSecret,
    masterSecret: config.callbackMasterSecret,
    policy: new CallbackPolicy(config.callbackAllowedHosts, options.resolveHost),
    timeoutMs: config.callbackTimeoutMs,
    tracing,
  });

  const workerOptions = {
    connection: queueRedis,
    prefix: keys.queuePrefix,
    autorun: false,
    lockDuration: config.lockMs,
    stalledInterval: Math.max(500, Math.floor(config.lockMs / 2)),
    // Every processor continues from the state in Redis, so a work item may stall (its worker died) any number of times.
    maxStalledCount: 1_000_000,
  };
  const workers = [
    new Worker<JobWork>(QUEUES.jobs, jobRunner.process, { ...workerOptions, concurrency: config.concurrency }),
    new Worker<BatchWork>(QUEUES.batches, batchRunner.process, { ...workerOptions, concurrency: config.batchConcurrency }),
    new Worker<CallbackWork>(QUEUES.callbacks, callbackSender.process, { ...workerOptions, concurrency: 50 }),
  ];
  for (const w of workers) {
    w.on('error', (err) => logger.warn({ err, queue: w.name }, 'queue worker error'));
    w.on('failed', (work, err) => logger.debug({ err, queue: w.name, id: work?.id }, 'work item failed (retried if attempts remain)'));
  }

  let subscriber: Redis | undefined;
  let events: PresenceEvents | undefined;

  /** A device came online: wake its oldest unfinished job (one Redis read; nothing when it has none). */
  const wakeDevice = async (device: { productKey: string; deviceName: string }) => {
    const head = await jobs.head(device);
    if (head !== undefined) await queues.wakeJob(head);
  };
  /** After (re)subscribing: presence events may have been missed; wake the head job of every online device with jobs. */
  const sweep = async () => {
    let woken = 0;
    try {
      for await (const device of jobs.devicesWithJobs()) {
        const head = await jobs.head(device);
        if (head === undefined) {
          await jobs.forgetDeviceIfIdle(device);
          continue;
        }
        if ((await presence.get(device))?.status === 'ONLINE' && (await queues.wakeJob(head))) woken++;
      }
      if (woken > 0) logger.info({ woken }, 'woke jobs of online devices after subscribing to presence events');
    } catch (error) {
      logger.warn({ err: error }, 'could not sweep devices with jobs');
    }
  };

  let accepting = true;
  const ops = {
    registry,
    accepting: () => accepting,
    checks: [
      { name: 'redis', ok: () => respondsWithin(redis, config.redisCommandTimeoutMs) },
      { name: 'queues', ok: () => respondsWithin(queueRedis, config.redisCommandTimeoutMs) },
      { name: 'replyChannel', ok: () => caller.ready },
      { name: 'presenceEvents', ok: () => events?.ready ?? false },
      { name: 'broker', ok: () => broker.connected },
    ],
  };
  const opsPort = new OpsPort(ops, logger, config.opsPort); // RRPC_OPS_PORT: /metrics there, not on the service port
  const app = serviceApp({ ...ops, metrics: opsPort.metricsOnServicePort });
  app.use(notFound);
  app.use(errorHandler(logger));
  const server = createServer(app);

  let stopReports: (() => void) | undefined;
  return {
    server,
    config,
    async start() {
      await connectRedis(redis);
      await checkNoEviction(redis);
      await Promise.all([connectRedis(queueRedis), broker.connect()]);
      const reply = await createSubscriber({ ...redisOptions, connectionName: `${config.instanceId}:reply` }, redis, caller.channel);
      reply.connection.on('error', (err: Error) => logger.debug({ err }, 'redis reply connection error'));
      await connectRedis(reply.connection);
      await caller.start(reply);
      const presenceSub = await createSubscriber(
        { ...redisOptions, connectionName: `${config.instanceId}:presence` },
        redis,
        keys.presenceOnlineChannel,
      );
      subscriber = presenceSub.connection;
      subscriber.on('error', (err: Error) => logger.debug({ err }, 'redis presence connection error'));
      await connectRedis(subscriber);
      events = new PresenceEvents(subscriber, keys.presenceOnlineChannel, () => void sweep(), presenceSub.sharded);
      events.onOnline((id) => {
        const slash = id.indexOf('/');
        if (slash <= 0) return;
        wakeDevice({ productKey: id.slice(0, slash), deviceName: id.slice(slash + 1) }).catch((err: unknown) =>
          logger.warn({ err, device: id }, 'could not wake the jobs of a device that came online'),
        );
      });
      await events.start();
      await sweep();
      const heartbeats = new PodHeartbeats<PodSummary>(redis, keys);
      const summarizer = new PodSummarizer(registry, { counter: 'rrpc_worker_attempts_total', label: 'outcome' });
      stopReports = reportPeriodically(
        summarizer,
        POD_REPORT_INTERVAL_MS,
        (summary) => heartbeats.report('worker', config.instanceId, summary),
        (err) => logger.debug({ err }, 'could not report the pod summary'),
      );
      for (const w of workers) void w.run().catch((err: unknown) => logger.error({ err, queue: w.name }, 'queue worker stopped'));
      const port = await listen(server, config.port, config.bindHost);
      const boundOpsPort = await opsPort.listen(config.bindHost);
      logger.info(
        { port, opsPort: boundOpsPort, instanceId: config.instanceId, namespace: config.namespace, concurrency: config.concurrency },
        'worker listening',
      );
      return port;
    },
    async stop(graceMs = 10_000) {
      accepting = false;
      stopReports?.();
      // Work in hand finishes within graceMs; longer work (a big batch) is left to its lock expiring, and
      // another worker continues it from its state in Redis.
      const closing = Promise.all(workers.map((w) => w.close()));
      const timer = new Promise((r) => setTimeout(r, graceMs).unref());
      await Promise.race([closing, timer]);
      await Promise.all(workers.map((w) => w.close(true))).catch(() => undefined);
      await events?.stop();
      subscriber?.disconnect();
      await caller.stop();
      await queues.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await opsPort.close();
      await broker.close();
      queueRedis.disconnect();
      redis.disconnect();
      await tracing?.shutdown().catch((err: unknown) => logger.warn({ err }, 'could not export the last spans'));
    },
  };
}
