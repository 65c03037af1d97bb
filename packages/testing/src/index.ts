export { freePort, portOpen, waitFor } from './free-port.js';
export { startMosquitto, startRedis, type ManagedServer } from './processes.js';
export { startRedisCluster, type ManagedRedisCluster } from './redis-cluster.js';
/** A fixed secrets key (RRPC_SECRETS_KEY, 32 bytes in base64) for test clusters; never used outside tests. */
export const TEST_SECRETS_KEY = Buffer.alloc(32, 7).toString('base64');
