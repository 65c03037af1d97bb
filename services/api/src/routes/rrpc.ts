import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import { RrpcError, invalidArgument } from '@rrpc/errors';
import type { CallOutcome, CallRequest } from '@rrpc/caller';
import type { CallStore, PresenceEvents } from '@rrpc/store';
import { isMessageId } from '@rrpc/topics';
import { callBody, firstIssue, rawCallQuery } from '../schemas.js';
import { callRequest, deviceFrom } from '../call-input.js';
import type { CallRunner } from '../call-runner.js';

export interface RrpcRoutesOptions {
  run: CallRunner;
  calls: CallStore;
  maxPayloadBytes: number;
  /** Presence events, for connectTimeoutMs (wait for an offline device to connect). */
  presenceEvents?: (() => PresenceEvents | undefined) | undefined;
  /** Idempotency-Key handling (see idempotency.ts). */
  idempotent?: RequestHandler | undefined;
}

/** The outcome of a call as an HTTP answer: 200 with the device's answer, else the error body. */
function outcomeError(outcome: Exclude<CallOutcome, { rrpcCode: 'SUCCESS' }>): RrpcError {
  if (outcome.rrpcCode === 'TIMEOUT') {
    return new RrpcError('DEVICE_TIMEOUT', { rrpcCode: 'TIMEOUT', messageId: outcome.messageId });
  }
  return new RrpcError('DEVICE_OFFLINE', {
    rrpcCode: outcome.rrpcCode,
    message: outcome.rrpcCode === 'HALFCONN' ? 'The device disconnected less than one keep-alive period ago.' : 'The device is not connected.',
  });
}

export function rrpcRoutes(options: RrpcRoutesOptions): Router {
  const router = Router();
  // JSON carries base64 (4/3 of the bytes) plus a little envelope.
  const jsonLimit = Math.ceil((options.maxPayloadBytes * 4) / 3) + 8192;
  const json = express.json({ limit: jsonLimit, strict: true, type: 'application/json' });
  const raw = express.raw({ limit: options.maxPayloadBytes, type: 'application/octet-stream' });

  const idempotent: RequestHandler = options.idempotent ?? ((_req, _res, next) => next());

  /** A call that, with connectTimeoutMs, waits for an offline device's presence event and tries once more. */
  async function run(request: CallRequest, connectTimeoutMs: number): Promise<CallOutcome> {
    const events = options.presenceEvents?.();
    if (connectTimeoutMs <= 0 || events === undefined) return options.run(request);
    await events.start(); // subscribed before the first presence check, so no connect event is missed
    const watch = events.watch(request.device);
    const until = Date.now() + connectTimeoutMs;
    try {
      for (;;) {
        const outcome = await options.run(request);
        if (outcome.rrpcCode !== 'OFFLINE' && outcome.rrpcCode !== 'HALFCONN') return outcome;
        const left = until - Date.now();
        if (left <= 0 || !(await watch.wait(left))) return outcome;
      }
    } finally {
      watch.cancel();
    }
  }

  router.post('/v1/devices/:productKey/:deviceName/rrpc', json, raw, idempotent, async (req: Request, res: Response) => {
    const device = deviceFrom(req.params['productKey'], req.params['deviceName']);
    if (req.is('application/octet-stream')) return rawCall(req, res, device);
    if (!req.is('application/json')) throw new RrpcError('UNSUPPORTED_MEDIA_TYPE');
    const parsed = callBody.safeParse(req.body);
    if (!parsed.success) {
      const { field, message } = firstIssue(parsed.error);
      throw invalidArgument(field, message);
    }
    const request = callRequest({
      device,
      payload: Buffer.from(parsed.data.payload, 'base64'),
      timeoutMs: parsed.data.timeoutMs,
      topic: parsed.data.topic,
      maxPayloadBytes: options.maxPayloadBytes,
    });
    const outcome = await run(request, parsed.data.connectTimeoutMs);
    if (outcome.rrpcCode !== 'SUCCESS') throw outcomeError(outcome);
    res.json({
      rrpcCode: 'SUCCESS',
      messageId: outcome.messageId,
      payload: outcome.payload.toString('base64'),
      durationMs: Math.round(outcome.durationMs * 1000) / 1000,
    });
  });

  async function rawCall(req: Request, res: Response, device: ReturnType<typeof deviceFrom>) {
    const query = rawCallQuery.safeParse(req.query);
    if (!query.success) {
      const { field, message } = firstIssue(query.error);
      throw invalidArgument(field, message);
    }
    const body: unknown = req.body;
    const request = callRequest({
      device,
      payload: Buffer.isBuffer(body) ? body : Buffer.alloc(0),
      timeoutMs: query.data.timeoutMs,
      topic: query.data.topic,
      maxPayloadBytes: options.maxPayloadBytes,
    });
    const outcome = await run(request, query.data.connectTimeoutMs);
    res.set('X-Rrpc-Code', outcome.rrpcCode);
    if ('messageId' in outcome) res.set('X-Rrpc-Message-Id', outcome.messageId);
    if (outcome.rrpcCode !== 'SUCCESS') throw outcomeError(outcome);
    res.type('application/octet-stream').send(outcome.payload);
  }

  router.get('/v1/rrpc/:messageId', async (req: Request, res: Response) => {
    const messageId = req.params['messageId'];
    if (!isMessageId(messageId)) throw invalidArgument('messageId', 'must be the decimal digits of a positive 64-bit integer');
    const record = await options.calls.get(messageId);
    if (!record) throw new RrpcError('NOT_FOUND', { message: `No call ${messageId} is known (outcomes are kept for a limited time).` });
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
