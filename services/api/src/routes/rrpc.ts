import { Router, type Request, type Response } from 'express';
import { invalidArgument } from '@rrpc/errors';
import { allowMethods } from '@rrpc/runtime';
import type { CallStore } from '@rrpc/store';
import { isMessageId } from '@rrpc/topics';
import { principalOf, unknownCall, type OutcomeReads } from '../request-principal.js';

export interface RrpcRoutesOptions {
  calls: CallStore;
  /** Who may read an outcome, and what a read that finds none costs (see request-principal.ts: ownedOutcomes). */
  outcomes: OutcomeReads;
}

/** The path of the call route; fast-call-route.ts answers POST on it in front of express. */
export const CALL_ROUTE = '/v1/devices/:productKey/:deviceName/rrpc';

/**
 * Express's part of the call routes: the outcome of a call by message ID, and 405 for methods other than
 * POST on the call route (POST itself never reaches express: see fast-call-route.ts).
 */
export function rrpcRoutes(options: RrpcRoutesOptions): Router {
  const router = Router();
  router.all(CALL_ROUTE, allowMethods(['POST']));

  router.get('/v1/rrpc/:messageId', async (req: Request, res: Response) => {
    const messageId = req.params['messageId'];
    if (!isMessageId(messageId)) throw invalidArgument('messageId', 'must be the decimal digits of a positive 64-bit integer');
    const record = await options.calls.get(messageId);
    if (!record || !options.outcomes.mayRead(principalOf(res), record.owner)) {
      await options.outcomes.unknown(principalOf(res));
      throw unknownCall(messageId);
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
