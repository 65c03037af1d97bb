import { loadWorkerConfig } from '@rrpc/config';
import { createLogger, exitOnSignals, failStart } from '@rrpc/runtime';
import { createWorkerService } from './worker-service.js';

let config;
try {
  config = loadWorkerConfig();
} catch (error) {
  failStart('worker', error);
}
const logger = createLogger('worker', config.logLevel);
const service = createWorkerService(config, logger);
// Work in hand gets 20 s to finish; what is left is continued by another worker.
exitOnSignals({ stop: () => service.stop(20_000) }, logger, 30_000);
service.start().catch((error: unknown) => failStart('worker', error));
