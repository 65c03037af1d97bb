import { ERROR_CODES, type ErrorCode } from './codes.js';

/** RRPC outcome codes, as Alibaba's RRpc API names them. */
export type RrpcCode = 'SUCCESS' | 'TIMEOUT' | 'OFFLINE' | 'HALFCONN' | 'UNKNOW' | 'NOT_SUBSCRIBED';

export interface ErrorBody {
  rrpcCode?: RrpcCode;
  messageId?: string;
  error: { code: ErrorCode; message: string; field?: string };
}

export interface RrpcErrorOptions {
  message?: string;
  field?: string;
  rrpcCode?: RrpcCode;
  messageId?: string;
  cause?: unknown;
  headers?: Record<string, string>;
}

/** A typed error that knows its HTTP status and its JSON body. */
export class RrpcError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly field: string | undefined;
  readonly rrpcCode: RrpcCode | undefined;
  readonly messageId: string | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, options: RrpcErrorOptions = {}) {
    super(options.message ?? ERROR_CODES[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RrpcError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.field = options.field;
    this.rrpcCode = options.rrpcCode;
    this.messageId = options.messageId;
    this.headers = options.headers;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { error: { code: this.code, message: this.message } };
    if (this.field !== undefined) body.error.field = this.field;
    if (this.rrpcCode !== undefined) body.rrpcCode = this.rrpcCode;
    if (this.messageId !== undefined) body.messageId = this.messageId;
    return body;
  }
}

export function invalidArgument(field: string, message: string): RrpcError {
  return new RrpcError('INVALID_ARGUMENT', { field, message: `${field}: ${message}` });
}

/** Thrown by the store and the broker wrapper when Redis or the MQTT broker cannot be reached in time. */
export class UnavailableError extends RrpcError {
  constructor(what: string, cause?: unknown) {
    super('UNAVAILABLE', { message: `${what} is unavailable; retry later.`, cause });
    this.name = 'UnavailableError';
  }
}
