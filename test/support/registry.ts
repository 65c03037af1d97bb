/**
 * Registers test devices in a cluster's device registry (a device can connect only when it is registered, so
 * the helpers that bring devices online register them first, as production does). Writes straight through
 * @rrpc/store's DeviceRegistry over its own connection, under the test secrets key.
 */
import { SecretBox, parseSecretsKey } from '@rrpc/crypto';
import { DeviceRegistry, Keys, connectRedis, createRedis, type RedisClient } from '@rrpc/store';
import { TEST_SECRETS_KEY } from '@rrpc/testing';
import { parseUsername, type DeviceRef } from '@rrpc/topics';

/** The secret every test device is registered with (the test brokers do not authenticate). */
export const TEST_DEVICE_SECRET = 'test-device-secret-0123456789ab';

export interface TestRegistry {
  readonly registry: DeviceRegistry;
  /** Registers the devices that are not registered yet (existing ones are left as they are). */
  register(devices: readonly DeviceRef[]): Promise<void>;
  /**
   * Registers the device of a connected webhook body (EMQX 5 `client.connected`, EMQX 4 `client_connected`), if
   * it is one and the device is not registered yet; resolves with a function that takes that registration back
   * (for a webhook the ingest refused: a refused event must change nothing).
   */
  registerConnected(body: unknown): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface TestRegistryOptions {
  redisUrl?: string | undefined;
  clusterNodes?: string[] | undefined;
  namespace?: string | undefined;
  secretsKey?: string | undefined;
}

export function connectTestRegistry(options: TestRegistryOptions): TestRegistry {
  const redis: RedisClient = createRedis({
    url: options.redisUrl ?? 'redis://127.0.0.1:1',
    clusterNodes: options.clusterNodes,
    commandTimeoutMs: 1000,
    connectionName: 'test-registry',
  });
  redis.on('error', () => undefined);
  const ready = connectRedis(redis);
  ready.catch(() => undefined); // awaited where used; never an unhandled rejection
  const box = new SecretBox(parseSecretsKey(options.secretsKey ?? TEST_SECRETS_KEY));
  const registry = new DeviceRegistry(redis, new Keys(options.namespace ?? 'rrpc'), box);
  const self: TestRegistry = {
    registry,
    async register(devices) {
      await ready;
      for (let i = 0; i < devices.length; i += 1000) {
        await registry.createMany(devices.slice(i, i + 1000).map((device) => ({ device, secret: TEST_DEVICE_SECRET })));
      }
    },
    async registerConnected(body) {
      const none = () => Promise.resolve(undefined);
      if (typeof body !== 'object' || body === null) return none;
      const event = body as { event?: unknown; action?: unknown; username?: unknown };
      if (event.event !== 'client.connected' && event.action !== 'client_connected') return none;
      const device = parseUsername(event.username);
      if (!device) return none;
      try {
        await ready;
        const [result] = await registry.createMany([{ device, secret: TEST_DEVICE_SECRET }]);
        return result === 'created' ? async () => void (await registry.delete(device).catch(() => false)) : none;
      } catch {
        return none; // Redis is down or stalled (an outage test): the webhook goes out anyway, as EMQX's would
      }
    },
    async close() {
      await ready.catch(() => undefined);
      redis.disconnect();
    },
  };
  return self;
}

/** The registry options of a service environment (REDIS_URL / REDIS_CLUSTER_NODES, RRPC_NAMESPACE, RRPC_SECRETS_KEY). */
export function registryOptionsOf(env: Record<string, string | undefined>): TestRegistryOptions {
  return {
    redisUrl: env['REDIS_URL'],
    clusterNodes: env['REDIS_CLUSTER_NODES']?.split(',').filter(Boolean),
    namespace: env['RRPC_NAMESPACE'],
    secretsKey: env['RRPC_SECRETS_KEY'],
  };
}
