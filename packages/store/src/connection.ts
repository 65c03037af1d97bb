import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import { UnavailableError } from '@rrpc/errors';
import { slotOf } from './slots.js';

/** A single Redis or a Redis Cluster: everything in the store works on both. */
export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  url: string;
  /** Redis Cluster seed nodes (host:port). When given, a Cluster client is made and `url` only lends credentials. */
  clusterNodes?: readonly string[];
  /** Fail a command that has no answer after this long (a stalled Redis must not hang calls). */
  commandTimeoutMs: number;
  connectionName: string;
}

function baseOptions(options: RedisConnectionOptions, subscriber: boolean): RedisOptions {
  return {
    connectionName: options.connectionName,
    ...credentialsOf(options.url),
    // Request paths: no offline queue, so while Redis is down commands fail at once (503) instead of queueing.
    // Subscribers keep one, so (re)subscribes are sent as soon as they are connected.
    enableOfflineQueue: subscriber,
    maxRetriesPerRequest: subscriber ? null : 0,
    commandTimeout: subscriber ? undefined : options.commandTimeoutMs,
    connectTimeout: Math.max(2000, options.commandTimeoutMs),
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 5), 1000),
    lazyConnect: true,
  };
}

/** Seed nodes as ioredis takes them, from "host:port" strings (REDIS_CLUSTER_NODES). */
export function clusterNodesOf(nodes: readonly string[]): ClusterNode[] {
  return nodes.map((n) => {
    const [host = '127.0.0.1', port = '6379'] = n.split(':');
    return { host, port: Number(port) };
  });
}

/** The user and password a Redis URL carries (a Cluster's nodes take them from REDIS_URL). */
export function credentialsOf(redisUrl: string): { username: string | undefined; password: string | undefined } {
  const url = new URL(redisUrl);
  return {
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
  };
}

/** A connection for commands and scripts: single Redis or Cluster, as configured. */
export function createRedis(options: RedisConnectionOptions): RedisClient {
  const redisOptions = baseOptions(options, false);
  if (options.clusterNodes && options.clusterNodes.length > 0) {
    return new Cluster(clusterNodesOf(options.clusterNodes), {
      redisOptions,
      enableOfflineQueue: false,
      enableAutoPipelining: false, // see below
      scaleReads: 'master',
      lazyConnect: true,
      clusterRetryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 4), 2000),
      slotsRefreshTimeout: Math.max(1000, options.commandTimeoutMs),
    });
  }
  // No auto-pipelining: each call sends its one script from its own I/O callback, so ioredis would build a
  // Pipeline (with a copy of every script command) for a batch of one. Measured (bench/results, 2026-11-29):
  // with it, serial p50 1.5 ms and a third of the api's heap growth under 20,000 pending calls was promoted
  // pipeline garbage; without it, 0.9-1.2 ms and none.
  return new Redis(options.url, { ...redisOptions, enableAutoPipelining: false });
}

/**
 * A dedicated subscriber connection for one channel. On a single Redis it connects to `url`; on a cluster it
 * connects to the primary that owns the channel's slot (sharded pub/sub: SSUBSCRIBE/SPUBLISH stay on one shard).
 */
export async function createSubscriber(
  options: RedisConnectionOptions,
  commands: RedisClient,
  channel: string,
): Promise<{ connection: Redis; sharded: boolean }> {
  const redisOptions = baseOptions(options, true);
  if (commands instanceof Cluster) {
    const slot = slotOf(channel);
    const ranges = await commands.cluster('SLOTS');
    const owner = ranges.find(([start, end]) => slot >= start && slot <= end)?.[2];
    if (!owner) throw new UnavailableError(`The Redis Cluster (no primary owns slot ${slot})`);
    return { connection: new Redis({ ...redisOptions, host: owner[0], port: owner[1] }), sharded: true };
  }
  return { connection: new Redis(options.url, redisOptions), sharded: false };
}

/** Waits until the connection is ready (or fails after `timeoutMs`). */
export async function connectRedis(redis: RedisClient, timeoutMs = 10_000): Promise<void> {
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

/**
 * Readiness: Redis answers a PING within `timeoutMs` (a stalled Redis, e.g. SIGSTOPped, keeps its TCP
 * connection and its client status "ready", so the status alone cannot tell).
 */
export async function respondsWithin(redis: RedisClient | Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([redis.ping().then((reply) => reply === 'PONG'), late]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
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
