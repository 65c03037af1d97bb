export { freePort, portOpen, waitFor } from './free-port.js';
export { startMosquitto, startRedis, type ManagedServer } from './processes.js';
export { startRedisCluster, type ManagedRedisCluster } from './redis-cluster.js';
