import type { ErrorRequestHandler, RequestHandler } from 'express';
import { RrpcError, invalidArgument } from '@rrpc/errors';
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
      rrpc = badPathEncoding();
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

/** 400 for a path segment that cannot be %-decoded (e.g. "%ED%A0", "%"): every route answers this. */
export function badPathEncoding(): RrpcError {
  return invalidArgument('path', 'a path segment is not valid %-encoded UTF-8.');
}

interface BodyParserError {
  type: string;
  limit?: number;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return typeof error === 'object' && error !== null && typeof (error as { type?: unknown }).type === 'string' && 'status' in error;
}

/**
 * The last handler of every app: 405 METHOD_NOT_ALLOWED (with Allow) when a route exists for the path under
 * other methods, 404 NOT_FOUND when no route has the path. The app's own routes are asked, so the answer
 * cannot drift from them; a path another handler answers in front of express (the api's call route) is
 * declared with allowMethods.
 */
export const notFound: RequestHandler = (req, _res, next) => {
  const allowed = allowedMethods((req.app as unknown as { router?: RouterLike }).router, req.path);
  if (allowed.size > 0 && !allowed.has(req.method)) {
    return next(
      new RrpcError('METHOD_NOT_ALLOWED', {
        message: `${req.method} is not allowed here; use ${[...allowed].join(' or ')}.`,
        headers: { Allow: [...allowed].join(', ') },
      }),
    );
  }
  next(new RrpcError('NOT_FOUND', { message: 'No such route.' }));
};

const DECLARED = Symbol('rrpc.allowMethods');

/** A route answered outside express: express knows its methods (for 405) and answers 405 to any other. */
export function allowMethods(methods: string[]): RequestHandler {
  const handler: RequestHandler = (req, _res, next) => {
    if (methods.includes(req.method)) return next();
    next(
      new RrpcError('METHOD_NOT_ALLOWED', {
        message: `${req.method} is not allowed here; use ${methods.join(' or ')}.`,
        headers: { Allow: methods.join(', ') },
      }),
    );
  };
  (handler as unknown as Record<symbol, string[]>)[DECLARED] = methods;
  return handler;
}

/** The methods an allowMethods handler declares (undefined for any other handler). */
export function declaredMethods(handler: unknown): readonly string[] | undefined {
  return typeof handler === 'function' ? (handler as unknown as Record<symbol, string[] | undefined>)[DECLARED] : undefined;
}

interface LayerLike {
  match(path: string): { path: string } | false;
  route?: { methods: Record<string, boolean>; stack: Array<{ handle: unknown }> };
  handle?: unknown;
}
interface RouterLike {
  stack?: LayerLike[];
}

/** Methods the router's routes answer on `path` (GET implies HEAD). */
function allowedMethods(router: RouterLike | undefined, path: string): Set<string> {
  const found = new Set<string>();
  const walk = (stack: LayerLike[] | undefined, rest: string) => {
    for (const layer of stack ?? []) {
      let matched: { path: string } | false;
      try {
        matched = layer.match(rest);
      } catch {
        continue; // a parameter that cannot be decoded
      }
      if (!matched) continue;
      if (layer.route) {
        for (const h of layer.route.stack) for (const m of declaredMethods(h.handle) ?? []) found.add(m);
        for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') found.add(method.toUpperCase());
      } else if (layer.handle && typeof layer.handle === 'function' && Array.isArray((layer.handle as RouterLike).stack)) {
        walk((layer.handle as RouterLike).stack, rest.slice(matched.path.length) || '/');
      }
    }
  };
  walk(router?.stack, path);
  if (found.has('GET')) found.add('HEAD');
  return found;
}
