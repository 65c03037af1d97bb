export {
  API_ENV_VARS,
  COMMON_ENV_VARS,
  INGEST_ENV_VARS,
  ConfigError,
  loadApiConfig,
  loadIngestConfig,
  type ApiConfig,
  type CommonConfig,
  type Env,
  type IngestConfig,
  type SecretsKeys,
} from './load-config.js';
export { bool, hostList, int, list, optionalString, url } from './env-schema.js';
export type { TracingConfig } from './tracing-config.js';
export { WORKER_ENV_VARS, loadWorkerConfig, type WorkerConfig } from './worker-config.js';
export { loadResealConfig, type ResealConfig } from './reseal-config.js';
