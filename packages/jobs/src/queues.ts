import { Job, Queue } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import type { DeviceRef } from '@rrpc/topics';
import { UnavailableError } from '@rrpc/errors';
import { clusterNodesOf, credentialsOf, mapRedisError, type Keys } from '@rrpc/store';

/** BullMQ queue names (under Keys.queuePrefix). */
export const QUEUES = { jobs: 'jobs', batches: 'batches', callbacks: 'callbacks' } as const;

/** A job's BullMQ work item: advance this job (deliver, retry, expire or finish it). */
export interface JobWork extends DeviceRef {
  jobId: string;
}

export interface BatchWork {
  batchId: string;
}

export interface CallbackWork extends DeviceRef {
  jobId: string;
}

/** BullMQ job IDs (custom IDs may not be plain integers nor contain ":"). */
export const workIds = {
  job: (jobId: string) => `j-${jobId}`,
  batch: (batchId: string) => `b-${batchId}`,
  callback: (jobId: string) => `c-${jobId}`,
};

/** BullMQ's connection: a single Redis or a Redis Cluster (its keys share one hash tag, Keys.queuePrefix). */
export type QueueConnection = Redis | Cluster;

export interface QueueRedisOptions {
  url: string;
  /** Redis Cluster seed nodes (host:port); when given, a Cluster connection, and `url` only lends credentials. */
  clusterNodes?: readonly string[] | undefined;
  connectionName: string;
  /** Producers (the api) fail fast while Redis is down: no offline queue. */
  producer: boolean;
}

/**
 * A Redis connection for BullMQ (which needs maxRetriesPerRequest: null); never the request paths'
 * fail-fast connection.
 */
export function createQueueRedis(options: QueueRedisOptions): QueueConnection {
  const retryStrategy = (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 5), 1000);
  if (options.clusterNodes && options.clusterNodes.length > 0) {
    return new Cluster(clusterNodesOf(options.clusterNodes), {
      redisOptions: { connectionName: options.connectionName, maxRetriesPerRequest: null, ...credentialsOf(options.url) },
      enableOfflineQueue: !options.producer,
      scaleReads: 'master',
      lazyConnect: true,
      clusterRetryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 4), 2000),
    });
  }
  return new Redis(options.url, {
    connectionName: options.connectionName,
    maxRetriesPerRequest: null,
    enableOfflineQueue: !options.producer,
    retryStrategy,
    lazyConnect: true,
  });
}

const KEEP = { removeOnComplete: true, removeOnFail: { age: 7 * 86_400 } } as const;

/** The producer side of the queues, used by the api (and by the worker for follow-up work). */
export class WorkQueues {
  readonly jobs: Queue<JobWork>;
  readonly batches: Queue<BatchWork>;
  readonly callbacks: Queue<CallbackWork>;

  constructor(
    readonly connection: QueueConnection,
    keys: Keys,
    private readonly callbackPolicy: { attempts: number; backoffMs: number } = { attempts: 8, backoffMs: 1000 },
    /** Producers on a request path (the api): a queue command without an answer after this long fails with 503. */
    private readonly commandTimeoutMs?: number,
  ) {
    const opts = { connection, prefix: keys.queuePrefix };
    this.jobs = new Queue<JobWork>(QUEUES.jobs, opts);
    this.batches = new Queue<BatchWork>(QUEUES.batches, opts);
    this.callbacks = new Queue<CallbackWork>(QUEUES.callbacks, opts);
  }

  /** Queues a job's work item (once: the BullMQ job ID is derived from the job ID). */
  async addJob(work: JobWork): Promise<void> {
    // Retries here cover Redis trouble and the short window before the api has recorded the job.
    await this.bounded(
      this.jobs.add('job', work, { jobId: workIds.job(work.jobId), attempts: 50, backoff: { type: 'fixed', delay: 200 }, ...KEEP }),
    );
  }

  async addBatch(work: BatchWork): Promise<void> {
    await this.bounded(
      this.batches.add('batch', work, {
        jobId: workIds.batch(work.batchId),
        attempts: 50,
        backoff: { type: 'fixed', delay: 500 },
        ...KEEP,
      }),
    );
  }

  async addCallback(work: CallbackWork): Promise<void> {
    await this.bounded(
      this.callbacks.add('callback', work, {
        jobId: workIds.callback(work.jobId),
        attempts: this.callbackPolicy.attempts,
        backoff: { type: 'exponential', delay: this.callbackPolicy.backoffMs },
        ...KEEP,
      }),
    );
  }

  /** Wakes a job parked until its expiry (its device came online, it became the head, or it was cancelled). */
  async wakeJob(jobId: string): Promise<boolean> {
    try {
      const job = await this.bounded(Job.fromId(this.jobs, workIds.job(jobId)));
      if (!job) return false;
      await this.bounded(job.promote());
      return true;
    } catch {
      return false; // not parked: already waiting or running
    }
  }

  /**
   * BullMQ's own calls have no time bound and, with Redis down, fail with its connection's errors ("Stream
   * isn't writeable"): both become 503 UNAVAILABLE, as every other Redis failure on a request path.
   */
  private async bounded<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const limit = this.commandTimeoutMs;
    const late =
      limit === undefined
        ? undefined
        : new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new UnavailableError('Redis (the work queues)')), limit);
          });
    try {
      return await (late ? Promise.race([work, late]) : work);
    } catch (error) {
      throw mapRedisError(error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the queues; with Redis gone, BullMQ's close can wait for it forever: given up after 2 s. */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 2000);
    });
    await Promise.race([Promise.allSettled([this.jobs.close(), this.batches.close(), this.callbacks.close()]), giveUp]);
    clearTimeout(timer);
  }
}
