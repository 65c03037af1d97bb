export { run, MAIN_HELP } from './run.js';
export { EXIT, EXIT_CODES_HELP, UsageError, exitCodeFor, type ExitCode } from './exit-codes.js';
export { renderPayload, type Rendered } from './render-payload.js';
export type { Io } from './io.js';
