import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { RrpcError, invalidArgument } from '@rrpc/errors';
import type { IdempotencyStore, StoredAnswer } from '@rrpc/store';
import { principalOf } from './request-principal.js';

/**
 * `Idempotency-Key` on POSTs that reach devices: the first request with a key (per API key, kept 24 h) runs;
 * a retry with the same key and the same request gets the first answer replayed (`Idempotent-Replayed: true`)
 * and the device never gets a second request. While the first is still running, a retry gets 409 CONFLICT
 * with Retry-After. The same key with a different request is 409 too. Answers with a 5xx other than 504
 * (nothing reached the device) release the key, so a retry runs anew.
 */

/** Answer headers replayed with a stored answer. */
const KEPT_HEADERS = ['content-type', 'location', 'x-rrpc-code', 'x-rrpc-message-id'];

export interface IdempotentRequest {
  /** The API key's id (the key's records are its own). */
  scope: string;
  idempotencyKey: string;
  /** What makes two requests "the same": method, URL, content type and body. */
  fingerprint: Buffer;
  /** How long the request can run at most. */
  pendingMs: number;
}

/** The Idempotency-Key header checked: 1-255 visible ASCII characters. */
export function checkIdempotencyKey(value: string): string {
  if (!/^[\x21-\x7e]{1,255}$/.test(value)) throw invalidArgument('Idempotency-Key', 'must be 1-255 visible ASCII characters');
  return value;
}

export function requestFingerprint(method: string, url: string, contentType: string | undefined, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${method} ${url} ${contentType ?? ''}\n`), body]);
}

type Claimed = { replay: StoredAnswer } | { settle: (answer: StoredAnswer) => void };

async function claim(store: IdempotencyStore, request: IdempotentRequest): Promise<Claimed> {
  const claimed = await store.claim(request.scope, request.idempotencyKey, request.fingerprint, request.pendingMs + 30_000);
  if (claimed.state === 'mismatch') {
    throw new RrpcError('CONFLICT', { message: 'This Idempotency-Key was used with a different request.' });
  }
  if (claimed.state === 'pending') {
    throw new RrpcError('CONFLICT', {
      message: 'A request with this Idempotency-Key is still running; retry shortly.',
      headers: { 'Retry-After': '1' },
    });
  }
  if (claimed.state === 'done')
    return { replay: { ...claimed.answer, headers: { ...claimed.answer.headers, 'Idempotent-Replayed': 'true' } } };
  const key = claimed.key;
  return {
    settle: (answer) => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(answer.headers))
        if (KEPT_HEADERS.includes(name.toLowerCase())) headers[name.toLowerCase()] = value;
      const done =
        answer.status >= 500 && answer.status !== 504
          ? store.release(key)
          : store.complete(key, { status: answer.status, headers, body: answer.body });
      done.catch(() => undefined);
    },
  };
}

/**
 * Idempotency applied to an answer value: the first request's `produce()` runs and its answer is kept; a
 * retry gets the kept answer. Used by the call route (fast-call-route.ts), which answers from node:http.
 * `produce` must resolve with every answer, errors included (it must not reject).
 */
export async function idempotentAnswer<A extends { status: number; headers: Record<string, string>; body: string | Buffer }>(
  store: IdempotencyStore,
  request: IdempotentRequest,
  produce: () => Promise<A>,
): Promise<A | StoredAnswer> {
  const claimed = await claim(store, request);
  if ('replay' in claimed) return claimed.replay;
  const answer = await produce();
  claimed.settle({ status: answer.status, headers: answer.headers, body: Buffer.from(answer.body) });
  return answer;
}

/**
 * The same for express routes (jobs, batches): runs after the body parsers, and keeps what the route sends.
 * `pendingMs` is how long the request can run at most.
 */
export function idempotent(store: IdempotencyStore, pendingMs: (req: Request) => number): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('idempotency-key');
    if (header === undefined) return next();
    const body: unknown = req.body;
    const claimed = await claim(store, {
      scope: principalOf(res)?.keyId ?? 'anonymous',
      idempotencyKey: checkIdempotencyKey(header),
      fingerprint: requestFingerprint(
        req.method,
        req.originalUrl,
        req.get('content-type'),
        Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body ?? null)),
      ),
      pendingMs: pendingMs(req),
    });
    if ('replay' in claimed) {
      res.status(claimed.replay.status).set(claimed.replay.headers).end(claimed.replay.body);
      return;
    }
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
      const headers: Record<string, string> = {};
      for (const name of KEPT_HEADERS) {
        const value = res.getHeader(name);
        if (value !== undefined) headers[name] = String(value);
      }
      claimed.settle({ status: res.statusCode, headers, body: Buffer.concat(chunks) });
      return end(chunk, ...rest);
    };
    next();
  };
}
