export { startLocalCluster, DEMO_CUSTOM_TOPIC, DEMO_PRODUCT_KEY, type LocalCluster, type LocalClusterOptions } from './local-cluster.js';
export { startEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from './embedded-broker.js';
export { CHILD_SERVICES, type ChildService, type ClusterContext } from './services.js';
export { MissingDependencyError, REDIS_MISSING } from './redis-server.js';
export { curlCommand, rawCurlCommand } from './curl.js';
