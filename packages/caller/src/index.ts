export { Caller, type CallOutcome, type CallRequest, type CallerOptions } from './caller.js';
