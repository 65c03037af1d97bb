/**
 * The one list of RRPC services the local cluster runs as child processes, in start order (stopped in
 * reverse). response-ingest comes first and alone: the broker authenticates the others' logins through it. A new service (the worker, say) is one more entry here.
 */
export interface ClusterContext {
  redisUrl: string;
  mqttUrl: string;
  mqttProtocolVersion: 4 | 5;
  sharedSubscription: boolean;
  apiKey: string;
  webhookToken: string;
  callbackSecret: string;
  /** RRPC_SECRETS_KEY for api and ingest: 32 random bytes in base64, new each run unless set. */
  secretsKey: string;
  /** The platform's MQTT login (the broker lets it in only with this password). */
  mqttUsername: string;
  mqttPassword: string;
  logLevel: string;
}

export interface ChildService {
  name: string;
  /** Entry point, relative to the repository root (built by `tsc -b`). */
  main: string;
  /** Serves HTTP: gets a free PORT and is ready when GET /readyz answers 200. Otherwise ready once running. */
  http: boolean;
  /** Environment beyond the common one (REDIS_URL, MQTT_URL, MQTT_PROTOCOL_VERSION, LOG_LEVEL, PORT). */
  env(ctx: ClusterContext): Record<string, string>;
}

export const CHILD_SERVICES: readonly ChildService[] = [
  {
    name: 'response-ingest',
    main: 'services/response-ingest/dist/main.js',
    http: true,
    env: (c) => ({
      RRPC_WEBHOOK_TOKEN: c.webhookToken,
      RRPC_SHARED_SUBSCRIPTION: String(c.sharedSubscription),
      RRPC_SECRETS_KEY: c.secretsKey,
    }),
  },
  {
    name: 'api',
    main: 'services/api/dist/main.js',
    http: true,
    env: (c) => ({ RRPC_API_KEYS: c.apiKey, RRPC_SECRETS_KEY: c.secretsKey }),
  },
  {
    name: 'worker',
    main: 'services/worker/dist/main.js',
    http: true,
    env: (c) => ({ RRPC_CALLBACK_SECRET: c.callbackSecret }),
  },
];

export function commonEnv(ctx: ClusterContext): Record<string, string> {
  return {
    REDIS_URL: ctx.redisUrl,
    MQTT_URL: ctx.mqttUrl,
    MQTT_PROTOCOL_VERSION: String(ctx.mqttProtocolVersion),
    LOG_LEVEL: ctx.logLevel,
    MQTT_USERNAME: ctx.mqttUsername,
    MQTT_PASSWORD: ctx.mqttPassword,
    // The launcher registers its simulated devices; the embedded broker authenticates every login.
    RRPC_DEVICE_REGISTRY: 'on',
    // A cluster on a developer's machine answers this machine only.
    RRPC_BIND_HOST: '127.0.0.1',
    // api and worker: calls consult the subscriptions the broker reports (the ingest does not read it).
    RRPC_TRACK_SUBSCRIPTIONS: 'true',
  };
}
