import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { RrpcError, invalidArgument } from '@rrpc/errors';
import { badPathEncoding } from '@rrpc/runtime';
import type { IdempotencyStore } from '@rrpc/store';
import type { Principal } from './api-keys.js';
import type { CallOutcome } from '@rrpc/caller';
import { errorAnswer, type CallBody, type CallEndpoint, type HttpAnswer, type ParsedCall } from './call-endpoint.js';
import { checkIdempotencyKey, idempotentAnswer, requestFingerprint } from './idempotency.js';
import { denied, mayUseProduct, unauthenticated } from './request-principal.js';
import { answeredStatus, type RequestTrace, type RequestTracer } from './request-tracing.js';

export interface FastCallRouteOptions {
  endpoint: CallEndpoint;
  /** The principal of an Authorization header, or undefined when it is not a valid key. */
  authenticate: (authorization: string | undefined) => Principal | undefined;
  accepting: () => boolean;
  logger: Logger;
  /** Server spans and the caller's trace context (request-tracing.ts); absent: none. */
  trace?: RequestTracer | undefined;
  /** Idempotency-Key records; without them the header is refused. */
  idempotency?: { store: IdempotencyStore; pendingMs: number } | undefined;
}

/** The route's name in spans (as express names the same route). */
const CALL_ROUTE = '/v1/devices/:productKey/:deviceName/rrpc';
const CALL_PATH = /^\/v1\/devices\/([^/?#]+)\/([^/?#]+)\/rrpc(?:\?(.*))?$/;

/**
 * `POST /v1/devices/{pk}/{dn}/rrpc`, the one implementation of the call route, answered straight from
 * node:http in front of express (express's router, body parsers and response helpers would cost more CPU
 * per call than the rest of the call path: see the api profile in bench/results). It takes every request
 * on that path and method: authentication, the key's product scope, the content type (application/json in
 * UTF-8, or application/octet-stream), the body limit, Idempotency-Key and a pod that is shutting down.
 * Other methods on the path fall through to express (405). Returns whether it took the request.
 */
export function fastCallRoute(options: FastCallRouteOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { endpoint, logger } = options;

  const send = (res: ServerResponse, answer: HttpAnswer | { status: number; headers: Record<string, string>; body: string | Buffer }) => {
    if (res.headersSent) return;
    res.writeHead(answer.status, { ...answer.headers, 'content-length': String(Buffer.byteLength(answer.body)) });
    res.end(answer.body);
  };

  /** The answer for a thrown error: an RrpcError's own, anything else a logged 500. */
  const failure = (error: unknown): HttpAnswer => {
    if (error instanceof RrpcError) {
      if (error.status >= 500) logger.warn({ code: error.code, err: error.cause ?? error }, error.message);
      return errorAnswer(error);
    }
    logger.error({ err: error }, 'unhandled error');
    return errorAnswer(new RrpcError('INTERNAL'));
  };
  const fail = (res: ServerResponse, error: unknown) => send(res, failure(error));

  /**
   * Reads the body, then lets go of the request's events: a pending call keeps neither the body's chunks
   * nor these listeners.
   */
  const readBody = (req: IncomingMessage, limit: number, done: (error: unknown, body?: Buffer) => void): void => {
    const tooLarge = () => new RrpcError('PAYLOAD_TOO_LARGE', { message: `The request body exceeds ${limit} bytes.` });
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      req.resume();
      return done(tooLarge());
    }
    let chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stop();
        req.resume(); // drain the rest; the answer is already decided
        done(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      chunks = [];
      done(undefined, body);
    };
    const onError = (error: unknown) => {
      stop();
      done(error);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  };

  /** From the request's parts to a checked call; nothing of the request body is kept beyond it. */
  function parseCall(productKey: string, deviceName: string, bytes: Buffer, raw: boolean, query: string | undefined): ParsedCall {
    let body: CallBody;
    if (raw) {
      body = { kind: 'raw', bytes, query: Object.fromEntries(new URLSearchParams(query ?? '')) };
    } else {
      if (bytes.length === 0) throw invalidArgument('body', 'is empty: send a JSON object such as {"payload": "<base64>"}');
      let value: unknown;
      try {
        value = JSON.parse(bytes.toString('utf8'));
      } catch {
        throw invalidArgument('body', 'the request body is not valid JSON.');
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw invalidArgument('body', 'must be a JSON object such as {"payload": "<base64>"}');
      body = { kind: 'json', value };
    }
    return endpoint.parse(productKey, deviceName, body);
  }

  /** The call's whole answer as a value (errors included), for Idempotency-Key to keep. */
  const answerOf = (call: ParsedCall, principal: Principal): Promise<HttpAnswer> => {
    const raw = call.raw; // the pending call keeps this, not the request's payload
    let outcome: Promise<CallOutcome>;
    try {
      outcome = endpoint.run(call, principal);
    } catch (error) {
      return Promise.resolve(failure(error));
    }
    return outcome.then((value) => endpoint.answer(value, raw), failure);
  };

  /** Content-Type and Content-Encoding: JSON in UTF-8 or raw bytes, uncompressed; anything else is 415. */
  function bodyKind(req: IncomingMessage): 'json' | 'raw' {
    const encoding = req.headers['content-encoding']?.trim().toLowerCase();
    if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
      throw new RrpcError('UNSUPPORTED_MEDIA_TYPE', {
        message: `Content-Encoding ${encoding} is not supported; send the body uncompressed.`,
      });
    }
    const [type, ...params] = (req.headers['content-type'] ?? '').split(';').map((p) => p.trim().toLowerCase());
    if (type === 'application/octet-stream') return 'raw';
    if (type !== 'application/json') throw new RrpcError('UNSUPPORTED_MEDIA_TYPE');
    const charset = params
      .find((p) => p.startsWith('charset='))
      ?.slice('charset='.length)
      .replace(/^"|"$/g, '');
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      throw new RrpcError('UNSUPPORTED_MEDIA_TYPE', { message: `Charset ${charset} is not supported; send JSON in UTF-8.` });
    }
    return 'json';
  }

  /** The call's answer, inside the request's server span when it has one (log lines carry its ids). */
  const tracedAnswerOf = (traced: RequestTrace | undefined, call: ParsedCall, principal: Principal): Promise<HttpAnswer> => {
    if (traced === undefined) return answerOf(call, principal);
    call.request.trace = traced.trace;
    return traced.run(() => answerOf(call, principal));
  };

  function handle(req: IncomingMessage, res: ServerResponse, match: RegExpExecArray): void {
    const traced = options.trace?.('POST', CALL_ROUTE, req.headers);
    if (traced !== undefined) res.once('close', () => traced.end(answeredStatus(res)));
    if (!options.accepting()) {
      res.setHeader('Connection', 'close');
      throw new RrpcError('UNAVAILABLE', { message: 'This pod is shutting down; retry on another.' });
    }
    const principal = options.authenticate(req.headers.authorization);
    if (principal === undefined) throw unauthenticated(req.headers.authorization);
    const productKey = decodeSegment(match[1] ?? '');
    const deviceName = decodeSegment(match[2] ?? '');
    if (!mayUseProduct(principal, productKey)) throw denied(productKey);
    const raw = bodyKind(req) === 'raw';
    const header = req.headers['idempotency-key'];
    const idempotencyKey = header === undefined ? undefined : checkIdempotencyKey(Array.isArray(header) ? header.join(',') : header);
    const idempotency = options.idempotency;
    if (idempotencyKey !== undefined && idempotency === undefined)
      throw invalidArgument('Idempotency-Key', 'is not supported by this server');
    const query = match[3];
    readBody(req, raw ? endpoint.rawLimit : endpoint.jsonLimit, (error, bytes) => {
      if (error !== undefined || bytes === undefined) return fail(res, error);
      // Inside a request event: nothing may throw out of here.
      let call: ParsedCall;
      try {
        call = parseCall(productKey, deviceName, bytes, raw, query);
      } catch (callError) {
        return fail(res, callError);
      }
      if (idempotencyKey === undefined || idempotency === undefined) {
        // The hot path: the pending call holds only `res` and `call` here.
        void tracedAnswerOf(traced, call, principal).then((answer) => send(res, answer));
        return;
      }
      idempotentAnswer(
        idempotency.store,
        {
          scope: principal.keyId,
          idempotencyKey,
          fingerprint: requestFingerprint('POST', req.url ?? '', req.headers['content-type'], bytes),
          pendingMs: idempotency.pendingMs,
        },
        () => tracedAnswerOf(traced, call, principal),
      ).then(
        (answer) => send(res, answer),
        (claimError: unknown) => fail(res, claimError),
      );
    });
  }

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const match = CALL_PATH.exec(req.url ?? '');
    if (match === null) return false;
    try {
      handle(req, res, match);
    } catch (error) {
      req.resume(); // the body is not wanted
      fail(res, error);
    }
    return true;
  };
}

/** A %-encoded path segment, or the same 400 express's routes answer. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badPathEncoding();
  }
}
