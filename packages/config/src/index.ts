export { ConfigError, loadApiConfig, loadIngestConfig, type ApiConfig, type CommonConfig, type Env, type IngestConfig } from './load-config.js';
export { bool, int, list, optionalString, url } from './env-schema.js';
