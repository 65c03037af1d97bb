import { Redis, type RedisOptions } from 'ioredis';
import { UnavailableError } from '@rrpc/errors';

export interface RedisConnectionOptions {
  url: string;
  /** Fail a command that has no answer after this long (a stalled Redis must not hang calls). */
  commandTimeoutMs: number;
  connectionName: string;
  /** Subscriber connections keep an offline queue so (re)subscribes are sent once connected. */
  subscriber?: boolean;
}

/**
 * A Redis connection for request paths: no offline queue, so while Redis is down commands fail at once
 * (503) instead of queueing; a command timeout for a stalled server; endless reconnects with a capped backoff.
 */
export function createRedis(options: RedisConnectionOptions): Redis {
  const redisOptions: RedisOptions = {
    connectionName: options.connectionName,
    enableOfflineQueue: options.subscriber === true,
    enableAutoPipelining: options.subscriber !== true,
    maxRetriesPerRequest: options.subscriber === true ? null : 0,
    commandTimeout: options.subscriber === true ? undefined : options.commandTimeoutMs,
    connectTimeout: Math.max(2000, options.commandTimeoutMs),
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 5), 1000),
    lazyConnect: true,
  };
  return new Redis(options.url, redisOptions);
}

/** Waits until the connection is ready (or fails after `timeoutMs`). */
export async function connectRedis(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'wait') void redis.connect().catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new UnavailableError('Redis'));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

const UNAVAILABLE_REPLIES = /^(LOADING|BUSY|OOM|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS)/;

/** Turns connection-level failures into UnavailableError; script bugs and other replies pass through. */
export function mapRedisError(error: unknown): unknown {
  if (error instanceof UnavailableError) return error;
  if (error instanceof Error && error.name === 'ReplyError' && !UNAVAILABLE_REPLIES.test(error.message)) return error;
  return new UnavailableError('Redis', error);
}

export async function guard<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw mapRedisError(error);
  }
}
