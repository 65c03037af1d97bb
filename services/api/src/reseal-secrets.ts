/**
 * `node services/api/dist/reseal-secrets.js`: after rotating RRPC_SECRETS_KEY (the old key moved to
 * RRPC_SECRETS_KEY_PREVIOUS), re-encrypts every device secret under the new key. Exits 0 when done, 1 on error.
 */
import { loadResealConfig } from '@rrpc/config';
import { createLogger, failStart } from '@rrpc/runtime';
import { resealAllSecrets } from './reseal.js';

let config;
try {
  config = loadResealConfig();
} catch (error) {
  failStart('reseal-secrets', error);
}
const logger = createLogger('reseal-secrets', config.logLevel);
try {
  await resealAllSecrets(config, logger);
} catch (error) {
  process.stderr.write(`reseal-secrets: failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
