import { loadApiConfig } from '@rrpc/config';
import { createLogger, exitOnSignals, failStart } from '@rrpc/runtime';
import { createApiService } from './api-service.js';
import { TIMEOUT_MS } from './schemas.js';

let config;
try {
  config = loadApiConfig();
} catch (error) {
  failStart('api', error);
}
const logger = createLogger('api', config.logLevel);
const service = createApiService(config, logger);
// Calls in flight may run for up to the longest timeout; allow that plus closing time.
exitOnSignals(service, logger, TIMEOUT_MS.max + 5000);
service.start().catch((error: unknown) => failStart('api', error));
