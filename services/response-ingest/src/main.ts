import { loadIngestConfig } from '@rrpc/config';
import { createLogger, exitOnSignals, failStart } from '@rrpc/runtime';
import { createIngestService } from './ingest-service.js';

let config;
try {
  config = loadIngestConfig();
} catch (error) {
  failStart('response-ingest', error);
}
const logger = createLogger('response-ingest', config.logLevel);
const service = createIngestService(config, logger);
exitOnSignals(service, logger, 15_000);
service.start().catch((error: unknown) => failStart('response-ingest', error));
