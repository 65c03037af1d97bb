export { ERROR_CODES, type ErrorCode } from './codes.js';
export { RrpcError, UnavailableError, invalidArgument, type ErrorBody, type RrpcCode, type RrpcErrorOptions } from './rrpc-error.js';
