export { createLogger, type Logger } from './logger.js';
export { OpsPort, createOpsServer, opsRouter, serviceApp, type OpsOptions, type ReadinessCheck } from './ops-routes.js';
export { allowMethods, badPathEncoding, declaredMethods, errorHandler, notFound } from './http-errors.js';
export { BearerTokens } from './bearer.js';
export { listen, closeServer, exitOnSignals, failStart, type Stoppable } from './lifecycle.js';
