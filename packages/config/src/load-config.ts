import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { parseSecretsKey } from '@rrpc/crypto';
import { bool, hostList, int, list, optionalString, url } from './env-schema.js';
import { tracingEnv, tracingSettings, type TracingConfig } from './tracing-config.js';

export type Env = Record<string, string | undefined>;

/** Raised when the environment does not describe a valid configuration; lists every problem at once. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(service: string, problems: string[]) {
    super(`${service}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Variables every service reads. */
export const common = {
  REDIS_URL: url('redis://127.0.0.1:6379', ['redis', 'rediss']),
  REDIS_COMMAND_TIMEOUT_MS: int(1000, 50, 60_000),
  REDIS_CLUSTER_NODES: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const nodes = (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const node of nodes) {
        if (!/^(redis:\/\/)?[A-Za-z0-9_.-]+:[0-9]{1,5}$/.test(node)) {
          ctx.addIssue({ code: 'custom', message: `"${node}" is not host:port (a comma-separated list of cluster nodes)` });
          return z.NEVER;
        }
      }
      return nodes.map((n) => n.replace(/^redis:\/\//, ''));
    }),
  MQTT_URL: url('mqtt://127.0.0.1:1883', ['mqtt', 'mqtts', 'tcp', 'tls', 'ws', 'wss']),
  MQTT_USERNAME: optionalString(),
  MQTT_PASSWORD: optionalString(),
  MQTT_PROTOCOL_VERSION: z
    .enum(['4', '5'], { message: 'must be 5 (MQTT 5) or 4 (MQTT 3.1.1)' })
    .optional()
    .transform((v): 4 | 5 => (v === '4' ? 4 : 5)),
  RRPC_NAMESPACE: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,32}$/, 'must be 1-32 letters, digits, "_", "-" or "."')
    .optional()
    .transform((v) => v ?? 'rrpc'),
  RRPC_AUTH_DISABLED: bool(false),
  RRPC_RESULT_TTL_MS: int(600_000, 1_000, 86_400_000),
  LOG_LEVEL: z
    .enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` })
    .optional()
    .transform((v) => v ?? 'info'),
  RRPC_INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "-" or "."')
    .optional(),
  RRPC_HEADERS_TIMEOUT_MS: int(10_000, 100, 600_000),
  RRPC_REQUEST_TIMEOUT_MS: int(30_000, 100, 600_000),
  ...tracingEnv,
  RRPC_DEVICE_REGISTRY: z
    .enum(['on', 'off'], { message: 'must be on (calls and broker logins need a registered device) or off' })
    .optional()
    .transform((v) => v !== 'off'),
  RRPC_BIND_HOST: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,253}$/, 'must be an IP address or a host name (0.0.0.0: every interface; 127.0.0.1: this machine only)')
    .optional()
    .transform((v) => v ?? '0.0.0.0'),
  RRPC_OPS_PORT: int(-1, 0, 65_535),
};

/** Calls consult the subscriptions presence records (api and worker; issue 14). */
export const subscriptionTracking = {
  RRPC_TRACK_SUBSCRIPTIONS: bool(false),
  RRPC_SUBSCRIBE_GRACE_MS: int(2000, 0, 60_000),
};

/** The EMQX 5 REST API the ingest reconciles presence against (API key and secret: basic auth). */
const emqxApi = {
  EMQX_API_URL: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return undefined;
      try {
        if (['http:', 'https:'].includes(new URL(v).protocol)) return v.replace(/\/+$/, '');
      } catch {
        // reported below
      }
      ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL such as http://emqx:18083' });
      return z.NEVER;
    }),
  EMQX_API_KEY: optionalString(),
  EMQX_API_SECRET: optionalString(),
  RRPC_RECONCILE_INTERVAL_MS: int(60_000, 1000, 86_400_000),
};

/** The secrets key seals device secrets at rest (api: registration, rotation; ingest: authentication). */
const secretsKeys = {
  RRPC_SECRETS_KEY: optionalString(),
  RRPC_SECRETS_KEY_PREVIOUS: list(),
};

const apiSchema = z.object({
  ...common,
  PORT: int(8080, 0, 65_535),
  RRPC_API_KEYS: list(),
  RRPC_API_KEYS_FILE: optionalString(),
  RRPC_MAX_PAYLOAD_BYTES: int(256 * 1024, 1, 16 * 1024 * 1024),
  RRPC_RATE_LIMIT_PER_KEY: int(1000, 0, 10_000_000),
  RRPC_RATE_LIMIT_PER_DEVICE: int(50, 0, 100_000),
  RRPC_MAX_IN_FLIGHT: int(10_000, 1, 10_000_000),
  RRPC_JOB_RETENTION_MS: int(7 * 86_400_000, 60_000, 90 * 86_400_000),
  ...secretsKeys,
  RRPC_GRAFANA_URL: optionalString(),
  RRPC_CALLBACK_ALLOWED_HOSTS: hostList(),
  RRPC_MAX_IN_FLIGHT_PER_KEY: int(0, 0, 10_000_000),
  RRPC_MAX_JOBS_PER_KEY: int(10_000, 0, 100_000_000),
  RRPC_MAX_BATCH_DEVICES_PER_KEY: int(50_000, 0, 100_000_000),
  RRPC_MAX_BYTES_PER_KEY: int(64 * 1024 * 1024, 0, Number.MAX_SAFE_INTEGER),
  ...subscriptionTracking,
});

const ingestSchema = z.object({
  ...common,
  PORT: int(8081, 0, 65_535),
  RRPC_WEBHOOK_TOKEN: optionalString(),
  RRPC_SHARED_SUBSCRIPTION: bool(true),
  RRPC_MAX_WEBHOOK_BYTES: int(64 * 1024, 1024, 4 * 1024 * 1024),
  RRPC_PRESENCE_TTL_MS: int(30 * 86_400_000, 60_000, 365 * 86_400_000),
  RRPC_SERVICE_MQTT_USERNAME: optionalString(),
  ...secretsKeys,
  ...emqxApi,
});

/** The environment variables each service reads (deployment manifests are checked against these). */
export const COMMON_ENV_VARS: readonly string[] = Object.keys(common);
export const API_ENV_VARS: readonly string[] = Object.keys(apiSchema.shape);
export const INGEST_ENV_VARS: readonly string[] = Object.keys(ingestSchema.shape);

export interface CommonConfig {
  redisUrl: string;
  redisCommandTimeoutMs: number;
  /** Redis Cluster seed nodes (host:port); empty for a single Redis at redisUrl. */
  redisClusterNodes: string[];
  mqtt: { url: string; username: string | undefined; password: string | undefined; protocolVersion: 4 | 5 };
  namespace: string;
  authDisabled: boolean;
  resultTtlMs: number;
  logLevel: (typeof LOG_LEVELS)[number];
  /** Unique per process: names this pod's reply channel and its MQTT client ID. */
  instanceId: string;
  port: number;
  /** Slow-client protection: the whole header block, and the whole request, must arrive within these. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** RRPC_DEVICE_REGISTRY=on: only registered, enabled devices may be called (and, in the ingest, log in). */
  deviceRegistry: boolean;
  /** OpenTelemetry (OTEL_* variables; docs/tracing.md). */
  tracing: TracingConfig;
  /** The address the service listens on (RRPC_BIND_HOST). */
  bindHost: string;
  /** A separate port for /livez, /readyz and /metrics (RRPC_OPS_PORT); undefined: served on `port`. */
  opsPort: number | undefined;
}

/** The secrets key (32 bytes) that seals device secrets, and earlier keys that still open them. */
export interface SecretsKeys {
  current: Buffer;
  previous: Buffer[];
}

export interface ApiConfig extends CommonConfig {
  /** Keys from RRPC_API_KEYS: plain keys or "sha256:<hex>" digests. The api keeps only their digests. */
  apiKeys: string[];
  /** A keys file re-read on change (lines "sha256:<hex> [products=pk1,pk2] [rate=N]" or plain keys). */
  apiKeysFile: string | undefined;
  maxPayloadBytes: number;
  /** Calls per second per API key (a key's own rate= overrides it) and per device, cluster-wide; 0: no limit. */
  rateLimitPerKey: number;
  rateLimitPerDevice: number;
  /** Calls in flight per pod before new ones are shed with 503. */
  maxInFlight: number;
  /** How long finished jobs and batches stay readable. */
  jobRetentionMs: number;
  /** Present whenever the device registry is on (start-up refuses otherwise). */
  secretsKeys: SecretsKeys | undefined;
  /** The Grafana dashboard the console's health page links to. */
  grafanaUrl: string | undefined;
  /** Internal receivers a callbackUrl may name (plain http too); see the worker's same variable. */
  callbackAllowedHosts: Array<{ hostname: string; port: number | undefined }>;
  /** Calls in flight per pod for one API key (its fair share of maxInFlight). */
  maxInFlightPerKey: number;
  /** Default per-key caps (a key's own max-jobs= / max-batch-devices= / max-bytes= override them); 0: none. */
  maxJobsPerKey: number;
  maxBatchDevicesPerKey: number;
  maxBytesPerKey: number;
  /** RRPC_TRACK_SUBSCRIPTIONS / RRPC_SUBSCRIBE_GRACE_MS. */
  trackSubscriptions: boolean;
  subscribeGraceMs: number;
}

export interface IngestConfig extends CommonConfig {
  webhookToken: string | undefined;
  sharedSubscription: boolean;
  maxWebhookBytes: number;
  presenceTtlMs: number;
  /** MQTT username of the platform's own clients in broker authentication and authorization (default: MQTT_USERNAME, else rrpc-platform); it logs in only with MQTT_PASSWORD. */
  serviceMqttUsername: string | undefined;
  /** Present whenever the device registry is on (start-up refuses otherwise). */
  secretsKeys: SecretsKeys | undefined;
  /** EMQX_API_URL (+ key and secret): reconcile presence with the broker every reconcileIntervalMs; absent: no reconciliation. */
  emqxApi: { url: string; key: string; secret: string } | undefined;
  reconcileIntervalMs: number;
}

/** A secret every service of its kind must have unless authentication is disabled explicitly (≥16 chars). */
export function secretProblems(name: string, value: string | undefined, authDisabled: boolean, purpose: string): string[] {
  if (value === undefined) return authDisabled ? [] : [`${name}: set ${purpose}, or set RRPC_AUTH_DISABLED=true to run without it`];
  return value.length < 16 ? [`${name}: must be at least 16 characters`] : [];
}

export function describe(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`);
}

function defaultInstanceId(service: string): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, 40);
  return `${service}-${host}-${randomBytes(3).toString('hex')}`;
}

export function toCommon(service: string, e: z.infer<z.ZodObject<typeof common>> & { PORT: number }): CommonConfig {
  return {
    redisUrl: e.REDIS_URL,
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    redisClusterNodes: e.REDIS_CLUSTER_NODES,
    mqtt: { url: e.MQTT_URL, username: e.MQTT_USERNAME, password: e.MQTT_PASSWORD, protocolVersion: e.MQTT_PROTOCOL_VERSION },
    namespace: e.RRPC_NAMESPACE,
    authDisabled: e.RRPC_AUTH_DISABLED,
    resultTtlMs: e.RRPC_RESULT_TTL_MS,
    logLevel: e.LOG_LEVEL,
    instanceId: e.RRPC_INSTANCE_ID ?? defaultInstanceId(service),
    port: e.PORT,
    headersTimeoutMs: e.RRPC_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: e.RRPC_REQUEST_TIMEOUT_MS,
    deviceRegistry: e.RRPC_DEVICE_REGISTRY,
    tracing: tracingSettings(e),
    bindHost: e.RRPC_BIND_HOST,
    opsPort: e.RRPC_OPS_PORT < 0 ? undefined : e.RRPC_OPS_PORT,
  };
}

function secretsKeyOf(name: string, value: string, problems: string[]): Buffer | undefined {
  try {
    return parseSecretsKey(value);
  } catch (error) {
    problems.push(`${name}: ${(error as Error).message}`);
    return undefined;
  }
}

/** The secrets keys a service needs while the registry is on; the problems (never the values) otherwise. */
export function secretsKeysOf(
  e: { RRPC_DEVICE_REGISTRY: boolean; RRPC_SECRETS_KEY: string | undefined; RRPC_SECRETS_KEY_PREVIOUS: string[] },
  problems: string[],
): SecretsKeys | undefined {
  if (e.RRPC_SECRETS_KEY === undefined) {
    if (e.RRPC_DEVICE_REGISTRY)
      problems.push(
        'RRPC_SECRETS_KEY: set the 32-byte key (base64) that encrypts device secrets (make one with `openssl rand -base64 32`), or set RRPC_DEVICE_REGISTRY=off',
      );
    return undefined;
  }
  const current = secretsKeyOf('RRPC_SECRETS_KEY', e.RRPC_SECRETS_KEY, problems);
  const previous = e.RRPC_SECRETS_KEY_PREVIOUS.map((k, i) => secretsKeyOf(`RRPC_SECRETS_KEY_PREVIOUS (entry ${i + 1})`, k, problems));
  if (!current || previous.some((k) => k === undefined)) return undefined;
  return { current, previous: previous.filter((k): k is Buffer => k !== undefined) };
}

export function loadApiConfig(env: Env = process.env): ApiConfig {
  const parsed = apiSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError('api', describe(parsed.error));
  const e = parsed.data;
  const problems: string[] = [];
  if (e.RRPC_API_KEYS.length === 0 && e.RRPC_API_KEYS_FILE === undefined && !e.RRPC_AUTH_DISABLED) {
    problems.push(
      'RRPC_API_KEYS: set at least one API key (comma-separated) or RRPC_API_KEYS_FILE, or set RRPC_AUTH_DISABLED=true to run without authentication',
    );
  }
  if (e.RRPC_API_KEYS.some((k) => k.length < 16)) problems.push('RRPC_API_KEYS: every key must be at least 16 characters');
  if (e.RRPC_API_KEYS.some((k) => k.startsWith('sha256:') && !/^sha256:[0-9a-f]{64}$/i.test(k))) {
    problems.push('RRPC_API_KEYS: a "sha256:" entry must be followed by 64 hex digits');
  }
  const secretsKeys = secretsKeysOf(e, problems);
  if (e.RRPC_GRAFANA_URL !== undefined && !/^https?:\/\/[^\s]+$/.test(e.RRPC_GRAFANA_URL))
    problems.push('RRPC_GRAFANA_URL: must be an http(s) URL');
  if (problems.length > 0) throw new ConfigError('api', problems);
  return {
    ...toCommon('api', e),
    secretsKeys,
    grafanaUrl: e.RRPC_GRAFANA_URL,
    apiKeys: e.RRPC_API_KEYS,
    apiKeysFile: e.RRPC_API_KEYS_FILE,
    maxPayloadBytes: e.RRPC_MAX_PAYLOAD_BYTES,
    rateLimitPerKey: e.RRPC_RATE_LIMIT_PER_KEY,
    rateLimitPerDevice: e.RRPC_RATE_LIMIT_PER_DEVICE,
    maxInFlight: e.RRPC_MAX_IN_FLIGHT,
    jobRetentionMs: e.RRPC_JOB_RETENTION_MS,
    callbackAllowedHosts: e.RRPC_CALLBACK_ALLOWED_HOSTS,
    maxInFlightPerKey:
      e.RRPC_MAX_IN_FLIGHT_PER_KEY === 0 ? e.RRPC_MAX_IN_FLIGHT : Math.min(e.RRPC_MAX_IN_FLIGHT_PER_KEY, e.RRPC_MAX_IN_FLIGHT),
    maxJobsPerKey: e.RRPC_MAX_JOBS_PER_KEY,
    maxBatchDevicesPerKey: e.RRPC_MAX_BATCH_DEVICES_PER_KEY,
    maxBytesPerKey: e.RRPC_MAX_BYTES_PER_KEY,
    trackSubscriptions: e.RRPC_TRACK_SUBSCRIPTIONS,
    subscribeGraceMs: e.RRPC_SUBSCRIBE_GRACE_MS,
  };
}

export function loadIngestConfig(env: Env = process.env): IngestConfig {
  const parsed = ingestSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError('response-ingest', describe(parsed.error));
  const e = parsed.data;
  const problems = secretProblems(
    'RRPC_WEBHOOK_TOKEN',
    e.RRPC_WEBHOOK_TOKEN,
    e.RRPC_AUTH_DISABLED,
    'the bearer token the broker sends with its webhooks',
  );
  const secretsKeys = secretsKeysOf(e, problems);
  if (e.EMQX_API_URL !== undefined && (e.EMQX_API_KEY === undefined || e.EMQX_API_SECRET === undefined)) {
    problems.push('EMQX_API_KEY, EMQX_API_SECRET: set both (an EMQX 5 API key and its secret) with EMQX_API_URL');
  }
  if (problems.length > 0) throw new ConfigError('response-ingest', problems);
  return {
    ...toCommon('ingest', e),
    secretsKeys,
    webhookToken: e.RRPC_WEBHOOK_TOKEN,
    sharedSubscription: e.RRPC_SHARED_SUBSCRIPTION,
    maxWebhookBytes: e.RRPC_MAX_WEBHOOK_BYTES,
    presenceTtlMs: e.RRPC_PRESENCE_TTL_MS,
    serviceMqttUsername: e.RRPC_SERVICE_MQTT_USERNAME ?? e.MQTT_USERNAME ?? 'rrpc-platform',
    emqxApi:
      e.EMQX_API_URL !== undefined && e.EMQX_API_KEY !== undefined && e.EMQX_API_SECRET !== undefined
        ? { url: e.EMQX_API_URL, key: e.EMQX_API_KEY, secret: e.EMQX_API_SECRET }
        : undefined,
    reconcileIntervalMs: e.RRPC_RECONCILE_INTERVAL_MS,
  };
}
