import { z } from 'zod';
import { hostList, int, optionalString } from './env-schema.js';
import {
  ConfigError,
  common,
  subscriptionTracking,
  describe,
  secretProblems,
  toCommon,
  type CommonConfig,
  type Env,
} from './load-config.js';

const workerSchema = z.object({
  ...common,
  PORT: int(8082, 0, 65_535),
  /** Signs callbacks (X-Rrpc-Signature); at least 16 characters. */
  RRPC_CALLBACK_SECRET: optionalString(),
  RRPC_CALLBACK_MAX_ATTEMPTS: int(8, 1, 100),
  RRPC_CALLBACK_BACKOFF_MS: int(1000, 10, 3_600_000),
  RRPC_CALLBACK_TIMEOUT_MS: int(10_000, 100, 120_000),
  /** Jobs advanced at once by this worker (waiting jobs do not hold a slot; calls in flight do). */
  RRPC_WORKER_CONCURRENCY: int(200, 1, 10_000),
  /** Batches driven at once by this worker. */
  RRPC_WORKER_BATCH_CONCURRENCY: int(4, 1, 1000),
  /** A work item whose worker stops renewing its lock for this long is taken over by another worker. */
  RRPC_WORKER_LOCK_MS: int(30_000, 1000, 600_000),
  RRPC_JOB_RETENTION_MS: int(7 * 86_400_000, 60_000, 90 * 86_400_000),
  /** Derives each key's own callback secret (keys with callback=N in the keys file); at least 32 characters. */
  RRPC_CALLBACK_MASTER_SECRET: optionalString(),
  /** Receivers callbacks may reach although they are internal (and over plain http): "host" or "host:port", comma-separated. */
  RRPC_CALLBACK_ALLOWED_HOSTS: hostList(),
  /** As on the api: the worker's calls (jobs, batches) respect each device's downlink rate too. */
  RRPC_RATE_LIMIT_PER_DEVICE: int(50, 0, 100_000),
  ...subscriptionTracking,
});

export const WORKER_ENV_VARS: readonly string[] = Object.keys(workerSchema.shape);

export interface WorkerConfig extends CommonConfig {
  callbackSecret: string | undefined;
  callbackMaxAttempts: number;
  callbackBackoffMs: number;
  callbackTimeoutMs: number;
  concurrency: number;
  batchConcurrency: number;
  lockMs: number;
  jobRetentionMs: number;
  /** Derives the per-key callback secrets; undefined: only the shared callbackSecret signs. */
  callbackMasterSecret: string | undefined;
  callbackAllowedHosts: Array<{ hostname: string; port: number | undefined }>;
  /** Calls per second per device for the worker's calls (the same limit as the api's). */
  rateLimitPerDevice: number;
  /** RRPC_TRACK_SUBSCRIPTIONS / RRPC_SUBSCRIBE_GRACE_MS: jobs wait for a device's subscription like for its connection. */
  trackSubscriptions: boolean;
  subscribeGraceMs: number;
}

export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  const parsed = workerSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError('worker', describe(parsed.error));
  const e = parsed.data;
  const problems = secretProblems(
    'RRPC_CALLBACK_SECRET',
    e.RRPC_CALLBACK_SECRET,
    e.RRPC_AUTH_DISABLED,
    'a secret (16+ characters) to sign callbacks',
  );
  if (e.RRPC_CALLBACK_MASTER_SECRET !== undefined && e.RRPC_CALLBACK_MASTER_SECRET.length < 32)
    problems.push('RRPC_CALLBACK_MASTER_SECRET: must be at least 32 characters');
  if (e.RRPC_CALLBACK_MASTER_SECRET !== undefined && e.RRPC_CALLBACK_MASTER_SECRET === e.RRPC_CALLBACK_SECRET) {
    problems.push(
      'RRPC_CALLBACK_MASTER_SECRET: must differ from RRPC_CALLBACK_SECRET (receivers hold the shared secret; the master must stay with the worker)',
    );
  }
  if (problems.length > 0) throw new ConfigError('worker', problems);
  return {
    ...toCommon('worker', e),
    callbackSecret: e.RRPC_CALLBACK_SECRET,
    callbackMaxAttempts: e.RRPC_CALLBACK_MAX_ATTEMPTS,
    callbackBackoffMs: e.RRPC_CALLBACK_BACKOFF_MS,
    callbackTimeoutMs: e.RRPC_CALLBACK_TIMEOUT_MS,
    concurrency: e.RRPC_WORKER_CONCURRENCY,
    batchConcurrency: e.RRPC_WORKER_BATCH_CONCURRENCY,
    lockMs: e.RRPC_WORKER_LOCK_MS,
    jobRetentionMs: e.RRPC_JOB_RETENTION_MS,
    callbackMasterSecret: e.RRPC_CALLBACK_MASTER_SECRET,
    callbackAllowedHosts: e.RRPC_CALLBACK_ALLOWED_HOSTS,
    rateLimitPerDevice: e.RRPC_RATE_LIMIT_PER_DEVICE,
    trackSubscriptions: e.RRPC_TRACK_SUBSCRIPTIONS,
    subscribeGraceMs: e.RRPC_SUBSCRIBE_GRACE_MS,
  };
}
