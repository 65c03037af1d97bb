import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { RrpcError, invalidArgument } from '@rrpc/errors';
import type { IdempotencyStore } from '@rrpc/store';
import { principalOf } from './request-principal.js';

/** Answer headers replayed with a stored answer. */
const KEPT_HEADERS = ['content-type', 'location', 'x-rrpc-code', 'x-rrpc-message-id'];

/**
 * `Idempotency-Key` on POSTs that reach devices: the first request with a key (per API key, kept 24 h) runs;
 * a retry with the same key and the same request gets the first answer replayed (`Idempotent-Replayed: true`)
 * and the device never gets a second request. While the first is still running, a retry gets 409 CONFLICT
 * with Retry-After. The same key with a different request is 409 too. Answers with a 5xx other than 504
 * (nothing reached the device) release the key, so a retry runs anew.
 *
 * Runs after the body parsers; `pendingMs` is how long the request can run at most.
 */
export function idempotent(store: IdempotencyStore, pendingMs: (req: Request) => number): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const idempotencyKey = req.get('idempotency-key');
    if (idempotencyKey === undefined) return next();
    if (!/^[\x21-\x7e]{1,255}$/.test(idempotencyKey)) throw invalidArgument('Idempotency-Key', 'must be 1-255 visible ASCII characters');
    const scope = principalOf(res)?.keyId ?? 'anonymous';
    const body: unknown = req.body;
    const fingerprint = Buffer.concat([
      Buffer.from(`${req.method} ${req.originalUrl} ${req.get('content-type') ?? ''}\n`),
      Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body ?? null)),
    ]);
    const claim = await store.claim(scope, idempotencyKey, fingerprint, pendingMs(req) + 30_000);
    if (claim.state === 'mismatch') {
      throw new RrpcError('CONFLICT', { message: 'This Idempotency-Key was used with a different request.' });
    }
    if (claim.state === 'pending') {
      throw new RrpcError('CONFLICT', { message: 'A request with this Idempotency-Key is still running; retry shortly.', headers: { 'Retry-After': '1' } });
    }
    if (claim.state === 'done') {
      res.status(claim.answer.status).set(claim.answer.headers).set('Idempotent-Replayed', 'true').end(claim.answer.body);
      return;
    }
    const key = claim.key;
    const chunks: Buffer[] = [];
    const r = res as unknown as { write: (...args: unknown[]) => boolean; end: (...args: unknown[]) => Response };
    const write = r.write.bind(res);
    const end = r.end.bind(res);
    const take = (chunk: unknown) => {
      if (typeof chunk === 'string' || Buffer.isBuffer(chunk) || chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk as Uint8Array));
    };
    r.write = (chunk: unknown, ...rest: unknown[]) => {
      take(chunk);
      return write(chunk, ...rest);
    };
    r.end = (chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'function') take(chunk);
      const status = res.statusCode;
      const headers: Record<string, string> = {};
      for (const name of KEPT_HEADERS) {
        const value = res.getHeader(name);
        if (value !== undefined) headers[name] = String(value);
      }
      const settle = status >= 500 && status !== 504 ? store.release(key) : store.complete(key, { status, headers, body: Buffer.concat(chunks) });
      settle.catch(() => undefined);
      return end(chunk, ...rest);
    };
    next();
  };
}
