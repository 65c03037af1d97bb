import { z } from 'zod';
import { list, optionalString } from './env-schema.js';
import { ConfigError, common, describe, secretsKeysOf, type Env, type SecretsKeys } from './load-config.js';

/**
 * The reseal command (services/api/dist/reseal-secrets.js: re-encrypts every device secret under the current
 * RRPC_SECRETS_KEY after a key rotation) reads Redis's address, the namespace and the secrets keys.
 */
const resealSchema = z.object({
  REDIS_URL: common.REDIS_URL,
  REDIS_COMMAND_TIMEOUT_MS: common.REDIS_COMMAND_TIMEOUT_MS,
  REDIS_CLUSTER_NODES: common.REDIS_CLUSTER_NODES,
  RRPC_NAMESPACE: common.RRPC_NAMESPACE,
  LOG_LEVEL: common.LOG_LEVEL,
  RRPC_SECRETS_KEY: optionalString(),
  RRPC_SECRETS_KEY_PREVIOUS: list(),
});

export interface ResealConfig {
  redisUrl: string;
  redisClusterNodes: string[];
  redisCommandTimeoutMs: number;
  namespace: string;
  logLevel: string;
  secretsKeys: SecretsKeys;
}

export function loadResealConfig(env: Env = process.env): ResealConfig {
  const parsed = resealSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError('reseal-secrets', describe(parsed.error));
  const e = parsed.data;
  const problems: string[] = [];
  const secretsKeys = secretsKeysOf({ ...e, RRPC_DEVICE_REGISTRY: true }, problems);
  if (problems.length > 0 || !secretsKeys) throw new ConfigError('reseal-secrets', problems);
  return {
    redisUrl: e.REDIS_URL,
    redisClusterNodes: e.REDIS_CLUSTER_NODES,
    redisCommandTimeoutMs: Math.max(e.REDIS_COMMAND_TIMEOUT_MS, 5000),
    namespace: e.RRPC_NAMESPACE,
    logLevel: e.LOG_LEVEL,
    secretsKeys,
  };
}
