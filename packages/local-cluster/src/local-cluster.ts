/**
 * The whole RRPC cluster on one machine: Redis (a private redis-server, or REDIS_URL), an MQTT broker
 * (embedded aedes that sends presence webhooks, or MQTT_URL), the services of CHILD_SERVICES as child
 * processes, and simulated echo devices. Every port is a free one.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SecretBox, generateDeviceSecret, parseSecretsKey } from '@rrpc/crypto';
import { simulatedDeviceNames, startSimulation, type Simulation } from '@rrpc/simulator';
import { DeviceRegistry, Keys, connectRedis, createRedis } from '@rrpc/store';
import { connectForgetfulDevice, type ForgetfulDevice } from './forgetful-device.js';
import { startChild, type Child } from './child-process.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';
import { freePort, waitFor as waitUntil } from '@rrpc/testing';
import { MissingDependencyError, startRedisServer } from './redis-server.js';
import { CHILD_SERVICES, commonEnv, type ClusterContext } from './services.js';

export interface LocalClusterOptions {
  /** The repository root (where services/<name>/dist/main.js are). */
  root: string;
  /** Where the child processes' logs go. */
  logDir: string;
  env?: NodeJS.ProcessEnv;
  /** Simulated devices (default 3). */
  devices?: number;
  productKey?: string;
  /** Progress, one line per component as it comes up. */
  progress?: (line: string) => void;
  /** Warnings and errors the services log. */
  warning?: (service: string, line: string) => void;
  /** A child process died while the cluster was running. */
  onChildExit?: (name: string, code: number | null) => void;
}

export interface LocalCluster {
  apiUrl: string;
  apiKey: string;
  ingestUrl: string;
  mqttUrl: string;
  redisUrl: string;
  productKey: string;
  deviceNames: string[];
  /** The custom topic (`user/...`) every simulated device also answers on. */
  customTopic: string;
  processes: Array<{ name: string; pid: number }>;
  simulation: Simulation;
  /** A device that is connected but never subscribed (embedded broker only): calls to it end NOT_SUBSCRIBED. */
  forgetfulDevice: string | undefined;
  /**
   * Stops everything, services in reverse start order. With `graceMs` (after a child died: Redis, say,
   * so the services cannot finish cleanly), the services are stopped together, each killed after graceMs.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

/** The name of the device that connects and forgets to subscribe. */
export const FORGETFUL_DEVICE = 'forgetful-1';

export const DEMO_PRODUCT_KEY = 'demo';

/** RRPC_LOCAL_PORT: the api's port when fixed (1-65535), or undefined for a free one. */
function fixedApiPort(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new MissingDependencyError(`RRPC_LOCAL_PORT must be a port number (1-65535), not "${value}"`);
  return port;
}
export const DEMO_CUSTOM_TOPIC = 'user/echo';

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const env = options.env ?? process.env;
  const progress = options.progress ?? (() => undefined);
  const productKey = options.productKey ?? DEMO_PRODUCT_KEY;
  for (const service of CHILD_SERVICES) {
    if (!existsSync(join(options.root, service.main))) {
      throw new MissingDependencyError(`${service.main} is missing: build first with "npx tsc -b" (npm start does this)`);
    }
  }

  const children: Child[] = [];
  let broker: EmbeddedBroker | undefined;
  let simulation: Simulation | undefined;
  let forgetful: ForgetfulDevice | undefined;
  let stopping = false;
  const stop = async (stopOptions: { graceMs?: number } = {}) => {
    stopping = true;
    await simulation?.stop();
    await forgetful?.close().catch(() => undefined);
    const services = [...children].reverse().filter((c) => c.name !== 'redis-server');
    if (stopOptions.graceMs !== undefined) await Promise.all(services.map((c) => c.stop(stopOptions.graceMs)));
    else for (const child of services) await child.stop();
    await broker?.close();
    for (const child of children.filter((c) => c.name === 'redis-server')) await child.stop();
  };
  const watch = (child: Child) => {
    children.push(child);
    void child.exited.then((code) => {
      if (!stopping) options.onChildExit?.(child.name, code);
    });
  };

  try {
    // Redis
    let redisUrl = env['REDIS_URL'];
    if (redisUrl) {
      progress(`redis           ${redisUrl} (from REDIS_URL)`);
    } else {
      const redis = await startRedisServer(join(options.logDir, 'redis-server.log'));
      watch(redis);
      redisUrl = redis.url;
      progress(`redis-server    ${redisUrl} (child process, pid ${redis.pid})`);
    }

    // Ports and secrets
    const ports = new Map<string, number>();
    for (const service of CHILD_SERVICES) if (service.http) ports.set(service.name, await freePort());
    const fixedPort = fixedApiPort(env['RRPC_LOCAL_PORT']);
    if (fixedPort !== undefined) ports.set('api', fixedPort);
    const ingestPort = ports.get('response-ingest');
    if (ingestPort === undefined) throw new Error('CHILD_SERVICES must contain response-ingest');
    const ingestUrl = `http://127.0.0.1:${ingestPort}`;
    const fixedKey = env['RRPC_LOCAL_API_KEY']?.trim();
    if (fixedKey !== undefined && fixedKey !== '' && fixedKey.length < 16)
      throw new MissingDependencyError('RRPC_LOCAL_API_KEY must be at least 16 characters');
    const apiKey = fixedKey || env['RRPC_API_KEYS']?.split(',')[0]?.trim() || `rrpc-local-${randomBytes(12).toString('hex')}`;
    const webhookToken = env['RRPC_WEBHOOK_TOKEN'] || `rrpc-webhook-${randomBytes(12).toString('hex')}`;
    const callbackSecret = env['RRPC_CALLBACK_SECRET'] || `rrpc-callback-${randomBytes(12).toString('hex')}`;
    const secretsKey = env['RRPC_SECRETS_KEY'] || randomBytes(32).toString('base64');
    const mqttUsername = env['MQTT_USERNAME'] || 'rrpc-platform';
    const mqttPassword = env['MQTT_PASSWORD'] || `rrpc-mqtt-${randomBytes(12).toString('hex')}`;

    // MQTT broker
    let mqttUrl = env['MQTT_URL'];
    const external = Boolean(mqttUrl);
    let ctx: ClusterContext;
    if (mqttUrl) {
      ctx = {
        redisUrl,
        mqttUrl,
        mqttProtocolVersion: env['MQTT_PROTOCOL_VERSION'] === '4' ? 4 : 5,
        sharedSubscription: !['false', '0', 'no'].includes(env['RRPC_SHARED_SUBSCRIPTION'] ?? 'true'),
        apiKey,
        webhookToken,
        callbackSecret,
        secretsKey,
        mqttUsername,
        mqttPassword,
        logLevel: env['LOG_LEVEL'] ?? 'info',
      };
      progress(`MQTT broker     ${mqttUrl} (from MQTT_URL; the simulated devices post their own presence webhooks)`);
    } else {
      broker = await startEmbeddedBroker({
        port: await freePort(),
        webhook: { url: `${ingestUrl}/hooks/emqx`, token: webhookToken },
        onWebhookFailure: (error) => options.warning?.('broker', `presence webhook failed: ${error.message}`),
        authentication: {
          url: `${ingestUrl}/authn/emqx`,
          token: webhookToken,
          onError: (error) => options.warning?.('broker', `authentication request failed: ${error.message}`),
        },
      });
      mqttUrl = broker.url;
      // aedes speaks MQTT 3.1.1 and has no shared subscriptions.
      ctx = {
        redisUrl,
        mqttUrl,
        mqttProtocolVersion: 4,
        sharedSubscription: false,
        apiKey,
        webhookToken,
        callbackSecret,
        secretsKey,
        mqttUsername,
        mqttPassword,
        logLevel: env['LOG_LEVEL'] ?? 'info',
      };
      progress(
        `MQTT broker     ${mqttUrl} (embedded aedes, MQTT 3.1.1; logins checked by response-ingest POST /authn/emqx; presence webhooks to response-ingest)`,
      );
    }

    // Services: response-ingest first (the broker authenticates every other login through it), then the
    // rest at once; stopped in reverse list order.
    const launch = (service: (typeof CHILD_SERVICES)[number]) => {
      const port = ports.get(service.name);
      return startChild({
        name: service.name,
        command: process.execPath,
        args: [join(options.root, service.main)],
        cwd: options.root,
        env: {
          ...env,
          ...commonEnv(ctx),
          ...service.env(ctx),
          ...(port !== undefined ? { PORT: String(port) } : {}),
          RRPC_INSTANCE_ID: `${service.name}-local-${randomBytes(2).toString('hex')}`,
        },
        logFile: join(options.logDir, `${service.name}.log`),
        ...(port !== undefined ? { readyUrl: `http://127.0.0.1:${port}/readyz` } : {}),
        ...(options.warning ? { onWarning: options.warning } : {}),
      });
    };
    const [leader, ...rest] = CHILD_SERVICES;
    const started: Array<PromiseSettledResult<Child>> = [];
    if (leader) started.push(...(await Promise.allSettled([launch(leader)])));
    if (!started.some((r) => r.status === 'rejected')) started.push(...(await Promise.allSettled(rest.map(launch))));
    for (const [i, result] of started.entries()) {
      if (result.status !== 'fulfilled') continue;
      watch(result.value);
      const port = ports.get(CHILD_SERVICES[i]?.name ?? '');
      progress(
        `${result.value.name.padEnd(15)} ${port !== undefined ? `http://127.0.0.1:${port}` : ''} (child process, pid ${result.value.pid})`,
      );
    }
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const apiPort = ports.get('api');
    if (apiPort === undefined) throw new Error('CHILD_SERVICES must contain api');
    const apiUrl = `http://127.0.0.1:${apiPort}`;

    // Simulated devices: registered with secrets of their own, which they sign their logins with; and a
    // device that connects and never subscribes (its presence comes from the embedded broker's webhooks).
    const deviceCount = options.devices ?? 3;
    const deviceSecrets = await registerDevices(redisUrl, env['RRPC_NAMESPACE'] || 'rrpc', secretsKey, productKey, [
      ...simulatedDeviceNames('device-', deviceCount),
      FORGETFUL_DEVICE,
    ]);
    progress(`registry        ${deviceCount + 1} devices of product ${productKey} registered, each with its own secret`);
    const forgetfulSecret = deviceSecrets.get(FORGETFUL_DEVICE);
    if (!external && forgetfulSecret !== undefined)
      forgetful = await connectForgetfulDevice(mqttUrl, { productKey, deviceName: FORGETFUL_DEVICE }, forgetfulSecret);
    simulation = await startSimulation({
      deviceSecrets,
      url: mqttUrl,
      productKey,
      devices: deviceCount,
      prefix: 'device-',
      protocolVersion: external ? ctx.mqttProtocolVersion : 4,
      behaviour: { reply: 'echo' },
      customTopics: [DEMO_CUSTOM_TOPIC],
      ...(external ? { webhook: { url: `${ingestUrl}/hooks/emqx`, token: webhookToken } } : {}),
      onError: (error, deviceName) => options.warning?.(deviceName, error.message),
    });
    const deviceNames = simulation.devices.map((d) => d.deviceName);
    const stats = simulation.stats();
    if (stats.connected === 0) throw new Error(`no simulated device could connect to ${mqttUrl}`);
    const first = deviceNames[0] as string;
    await waitUntil(
      async () => {
        const res = await fetch(`${apiUrl}/v1/devices/${productKey}/${first}`, { headers: { authorization: `Bearer ${apiKey}` } });
        return res.ok && ((await res.json()) as { status?: string }).status === 'ONLINE';
      },
      10_000,
      `${productKey}/${first} to be reported online`,
    );
    progress(
      `devices         ${stats.connected} simulated echo devices: ${productKey}/${first}${deviceNames.length > 1 ? ` .. ${deviceNames[deviceNames.length - 1]}` : ''}`,
    );

    return {
      apiUrl,
      apiKey,
      ingestUrl,
      mqttUrl,
      redisUrl,
      productKey,
      deviceNames,
      customTopic: DEMO_CUSTOM_TOPIC,
      processes: children.map((c) => ({ name: c.name, pid: c.pid })),
      simulation,
      forgetfulDevice: forgetful?.deviceName,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Registers the simulated devices (in the services' namespace) with new secrets; a device
 * registered by an earlier run (REDIS_URL reused) gets a new secret, since the old one is not known here.
 */
async function registerDevices(
  redisUrl: string,
  namespace: string,
  secretsKey: string,
  productKey: string,
  names: readonly string[],
): Promise<Map<string, string>> {
  const redis = createRedis({ url: redisUrl, commandTimeoutMs: 5000, connectionName: 'local-cluster:registry' });
  try {
    await connectRedis(redis);
    const registry = new DeviceRegistry(redis, new Keys(namespace), new SecretBox(parseSecretsKey(secretsKey)));
    const secrets = new Map(names.map((deviceName) => [deviceName, generateDeviceSecret()] as const));
    const entries = [...secrets].map(([deviceName, secret]) => ({ device: { productKey, deviceName }, secret }));
    const results = await registry.createMany(entries);
    for (const [i, result] of results.entries()) {
      const entry = entries[i];
      if (result === 'exists' && entry) await registry.replaceSecret(entry.device, entry.secret);
    }
    return secrets;
  } finally {
    redis.disconnect();
  }
}
