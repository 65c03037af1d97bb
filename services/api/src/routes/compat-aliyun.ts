import express, { Router, type ErrorRequestHandler, type Request, type Response } from 'express';
import { randomUUID } from 'node:crypto';
import { RrpcError, type ErrorCode } from '@rrpc/errors';
import { aliyunRrpc, firstIssue, jsonBodyLimit } from '../schemas.js';
import { callRequest, deviceFrom } from '../call-input.js';
import type { CallRunner } from '../call-runner.js';
import { principalOf } from '../request-principal.js';
import { traceOf } from '../request-tracing.js';
import { aliyunDeviceActions, isAliyunDeviceAction, type AliyunDeviceDeps } from './compat-aliyun-devices.js';
import { NOT_SUBSCRIBED_MESSAGE } from '../call-endpoint.js';

/**
 * Alibaba Cloud IoT's RRpc action, answered the way Alibaba answers it, so that a backend written against
 * Alibaba's API needs only a new endpoint. MessageId is a JSON integer with the exact 64-bit digits.
 */
const ALIYUN_CODES: Partial<Record<ErrorCode, string>> = {
  INVALID_ARGUMENT: 'InvalidParameter',
  UNAUTHENTICATED: 'InvalidAccessKeyId.NotFound',
  PAYLOAD_TOO_LARGE: 'iot.messagebroker.PayloadTooLarge',
  UNAVAILABLE: 'ServiceUnavailable',
  RATE_LIMITED: 'Throttling',
  PERMISSION_DENIED: 'iot.common.AuthActionPermissionDeny',
  DEVICE_NOT_FOUND: 'iot.device.NotExistedDevice',
  DEVICE_EXISTS: 'iot.device.AlreadyExistedDeviceName',
  // Alibaba publishes no code for a call to a disabled device (it cannot connect there); this one says what happened.
  DEVICE_DISABLED: 'iot.device.DisabledDevice',
};

export function aliyunErrorBody(error: RrpcError, requestId: string = randomUUID()): string {
  return JSON.stringify({
    RequestId: requestId,
    Success: false,
    Code: ALIYUN_CODES[error.code] ?? 'InternalError',
    ErrorMessage: error.message,
  });
}

export function compatAliyunRoutes(options: { run: CallRunner; maxPayloadBytes: number } & AliyunDeviceDeps): Router {
  const router = Router();
  const deviceActions = aliyunDeviceActions(options);
  const bodyLimit = jsonBodyLimit(options.maxPayloadBytes);
  const parsers = [express.json({ limit: bodyLimit }), express.urlencoded({ limit: bodyLimit, extended: false })];

  const handle = async (req: Request, res: Response) => {
    const requestId = randomUUID();
    try {
      const params = {
        ...(req.query as Record<string, unknown>),
        ...(typeof req.body === 'object' && req.body !== null ? (req.body as Record<string, unknown>) : {}),
      };
      const action = params['Action'];
      if (isAliyunDeviceAction(action)) {
        const fields = await deviceActions[action](params, principalOf(res));
        res.status(200).json({ RequestId: requestId, Success: true, ...fields });
        return;
      }
      const parsed = aliyunRrpc.safeParse(params);
      if (!parsed.success) {
        const { field, message } = firstIssue(parsed.error);
        throw new RrpcError('INVALID_ARGUMENT', { field, message: `${field}: ${message}` });
      }
      const p = parsed.data;
      const device = deviceFrom(p.ProductKey, p.DeviceName, { productKey: 'ProductKey', deviceName: 'DeviceName' });
      const request = callRequest({
        device,
        payload: Buffer.from(p.RequestBase64Byte, 'base64'),
        timeoutMs: p.Timeout,
        topic: p.Topic,
        maxPayloadBytes: options.maxPayloadBytes,
        topicField: 'Topic',
      });
      request.trace = traceOf(res);
      const outcome = await options.run(request, principalOf(res));
      // NOT_SUBSCRIBED is not one of Alibaba's codes: UNKNOW, which Alibaba clients treat as a failure, and why.
      const rrpcCode = outcome.rrpcCode === 'NOT_SUBSCRIBED' ? 'UNKNOW' : outcome.rrpcCode;
      const fields: string[] = [`"RequestId":${JSON.stringify(requestId)}`, '"Success":true', `"RrpcCode":"${rrpcCode}"`];
      if (outcome.rrpcCode === 'NOT_SUBSCRIBED') fields.push(`"ErrorMessage":${JSON.stringify(NOT_SUBSCRIBED_MESSAGE)}`);
      if (outcome.rrpcCode === 'SUCCESS') fields.push(`"PayloadBase64Byte":${JSON.stringify(outcome.payload.toString('base64'))}`);
      // The message ID is digits only (checked where it is made): written as a bare JSON integer.
      if ('messageId' in outcome) fields.push(`"MessageId":${outcome.messageId}`);
      res
        .status(200)
        .type('application/json')
        .send(`{${fields.join(',')}}`);
    } catch (error) {
      const rrpc = error instanceof RrpcError ? error : new RrpcError('INTERNAL', { cause: error });
      if (rrpc.headers) res.set(rrpc.headers); // Retry-After on 429 and 503
      res.status(rrpc.status).type('application/json').send(aliyunErrorBody(rrpc, requestId));
      if (!(error instanceof RrpcError)) throw error;
    }
  };

  router.get('/compat/aliyun', handle);
  router.post('/compat/aliyun', ...parsers, handle);
  // Unreadable bodies answer in Alibaba's error shape too.
  router.use('/compat/aliyun', ((error, _req, res, next) => {
    if (res.headersSent || typeof error !== 'object' || error === null || !('type' in error)) return next(error);
    const tooLarge = (error as { type: unknown }).type === 'entity.too.large';
    const rrpc = tooLarge
      ? new RrpcError('PAYLOAD_TOO_LARGE')
      : new RrpcError('INVALID_ARGUMENT', { message: 'The request body cannot be read.' });
    res.status(rrpc.status).type('application/json').send(aliyunErrorBody(rrpc));
  }) as ErrorRequestHandler);
  return router;
}
