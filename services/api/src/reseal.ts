import type { ResealConfig } from '@rrpc/config';
import { SecretBox } from '@rrpc/crypto';
import type { Logger } from '@rrpc/runtime';
import { DeviceRegistry, Keys, connectRedis, createRedis } from '@rrpc/store';

/**
 * Re-encrypts every device secret under the current RRPC_SECRETS_KEY (after a key rotation): walks the
 * products' device indexes with SCAN and re-seals, with a compare-and-set per device, each secret sealed under
 * a previous key (RRPC_SECRETS_KEY_PREVIOUS must still hold that key). Safe to run while the services run, and
 * to run again. Logs counts and key ids, never a secret or a key.
 */
export async function resealAllSecrets(config: ResealConfig, logger: Logger): Promise<{ products: number; resealed: number }> {
  const redis = createRedis({
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    connectionName: 'rrpc-reseal-secrets',
  });
  redis.on('error', (err: Error) => logger.debug({ err }, 'redis connection error'));
  try {
    await connectRedis(redis);
    const box = new SecretBox(config.secretsKeys.current, config.secretsKeys.previous);
    const registry = new DeviceRegistry(redis, new Keys(config.namespace), box);
    logger.info({ keyId: box.keyId, previousKeys: config.secretsKeys.previous.length }, 're-sealing device secrets under the current key');
    const result = await registry.resealAll((productKey, resealed) => logger.info({ productKey, resealed }, 'product re-sealed'));
    logger.info(result, 'device secrets re-sealed');
    return result;
  } finally {
    redis.disconnect();
  }
}
