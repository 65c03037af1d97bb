export { ERROR_CODES, statusOf, type ErrorCode } from './codes.js';
export { RrpcError, UnavailableError, invalidArgument, type ErrorBody, type RrpcCode, type RrpcErrorOptions } from './rrpc-error.js';
