import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import { RrpcError, invalidArgument } from '@rrpc/errors';
import type { CallStore } from '@rrpc/store';
import { isMessageId } from '@rrpc/topics';
import type { CallEndpoint } from '../call-endpoint.js';
import { principalOf, type OutcomeReads } from '../request-principal.js';
import { traceOf } from '../request-tracing.js';

export interface RrpcRoutesOptions {
  endpoint: CallEndpoint;
  calls: CallStore;
  /** Idempotency-Key handling (see idempotency.ts). */
  idempotent?: RequestHandler | undefined;
  /** Who may read an outcome, and what a read that finds none costs (see request-principal.ts: ownedOutcomes). */
  outcomes: OutcomeReads;
}

/**
 * The call route through express. Calls without an Idempotency-Key are answered by the fast path in front
 * of express (fast-call-route.ts); both use the same CallEndpoint.
 */
export function rrpcRoutes(options: RrpcRoutesOptions): Router {
  const router = Router();
  const { endpoint } = options;
  const json = express.json({ limit: endpoint.jsonLimit, strict: true, type: 'application/json' });
  const raw = express.raw({ limit: endpoint.rawLimit, type: 'application/octet-stream' });
  const idempotent: RequestHandler = options.idempotent ?? ((_req, _res, next) => next());

  router.post('/v1/devices/:productKey/:deviceName/rrpc', json, raw, idempotent, async (req: Request, res: Response) => {
    const isRaw = req.is('application/octet-stream') === 'application/octet-stream';
    if (!isRaw && !req.is('application/json')) throw new RrpcError('UNSUPPORTED_MEDIA_TYPE');
    const body: unknown = req.body;
    const call = endpoint.parse(
      req.params['productKey'],
      req.params['deviceName'],
      isRaw ? { kind: 'raw', bytes: Buffer.isBuffer(body) ? body : Buffer.alloc(0), query: req.query } : { kind: 'json', value: body },
    );
    call.request.trace = traceOf(res);
    const answer = endpoint.answer(await endpoint.run(call, principalOf(res)), call.raw);
    res.status(answer.status).set(answer.headers).send(answer.body);
  });

  router.get('/v1/rrpc/:messageId', async (req: Request, res: Response) => {
    const messageId = req.params['messageId'];
    if (!isMessageId(messageId)) throw invalidArgument('messageId', 'must be the decimal digits of a positive 64-bit integer');
    const record = await options.calls.get(messageId);
    if (!record || !options.outcomes.mayRead(principalOf(res), record.owner)) {
      await options.outcomes.unknown(principalOf(res));
      throw new RrpcError('NOT_FOUND', { message: `No call ${messageId} is known (outcomes are kept for a limited time).` });
    }
    res.json({
      messageId: record.messageId,
      productKey: record.productKey,
      deviceName: record.deviceName,
      rrpcCode: record.state,
      ...(record.payload !== undefined ? { payload: record.payload.toString('base64') } : {}),
      createdAt: new Date(record.createdAt).toISOString(),
      deadline: new Date(record.deadline).toISOString(),
      ...(record.finishedAt !== undefined ? { finishedAt: new Date(record.finishedAt).toISOString() } : {}),
    });
  });

  return router;
}
