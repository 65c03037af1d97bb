import type { ErrorRequestHandler, RequestHandler } from 'express';
import { RrpcError } from '@rrpc/errors';
import type { Logger } from 'pino';

/** Maps body-parser failures and RrpcErrors to the JSON error body; anything else is a logged 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, _req, res, _next) => {
    let rrpc: RrpcError;
    if (error instanceof RrpcError) {
      rrpc = error;
    } else if (isBodyParserError(error)) {
      rrpc =
        error.type === 'entity.too.large'
          ? new RrpcError('PAYLOAD_TOO_LARGE', { message: `The request body exceeds ${error.limit ?? 'the'} bytes.` })
          : error.type === 'encoding.unsupported' || error.type === 'charset.unsupported'
            ? new RrpcError('UNSUPPORTED_MEDIA_TYPE')
            : new RrpcError('INVALID_ARGUMENT', { field: 'body', message: 'body: the request body is not valid JSON.' });
    } else if (error instanceof URIError) {
      // The router could not %-decode a path parameter (e.g. "%ED%A0", "%"): the client's mistake.
      rrpc = new RrpcError('INVALID_ARGUMENT', { field: 'path', message: 'path: a path segment is not valid %-encoded UTF-8.' });
    } else {
      logger.error({ err: error }, 'unhandled error');
      rrpc = new RrpcError('INTERNAL');
    }
    if (rrpc.status >= 500 && rrpc.code !== 'INTERNAL') logger.warn({ code: rrpc.code, err: rrpc.cause ?? rrpc }, rrpc.message);
    if (res.headersSent) return;
    if (rrpc.headers) res.set(rrpc.headers);
    res.status(rrpc.status).json(rrpc.toBody());
  };
}

interface BodyParserError {
  type: string;
  limit?: number;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return typeof error === 'object' && error !== null && typeof (error as { type?: unknown }).type === 'string' && 'status' in error;
}

export const notFound: RequestHandler = (_req, _res, next) => {
  next(new RrpcError('NOT_FOUND', { message: 'No such route.' }));
};
