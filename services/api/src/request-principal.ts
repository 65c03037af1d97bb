import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { RrpcError } from '@rrpc/errors';
import type { CallStore } from '@rrpc/store';
import { isMessageId } from '@rrpc/topics';
import type { CallRunner } from './call-runner.js';
import { ANONYMOUS, type ApiKeyRing, type Principal } from './api-keys.js';

/**
 * The principal (API key) of the request being served, kept on the response's locals by authenticate and
 * handed explicitly to every call (no AsyncLocalStorage: its promise hooks would tax every call).
 */
export function principalOf(res: Response): Principal | undefined {
  return res.locals['principal'] as Principal | undefined;
}

export interface AuthenticateOptions {
  ring: ApiKeyRing;
  authDisabled: boolean;
  /** Answers a request without a valid key (the default: next(error)). */
  reject: (error: RrpcError, req: Request, res: Response, next: NextFunction) => void;
}

/**
 * 401 for a request without a valid key, saying which mistake it is: no Authorization header, a header
 * that is not "Bearer <key>", or a key this pod does not know (nothing about the key itself is echoed).
 */
export function unauthenticated(authorization: string | undefined): RrpcError {
  const message =
    authorization === undefined || authorization.trim() === ''
      ? 'An "Authorization: Bearer <key>" header is required.'
      : !/^Bearer /i.test(authorization)
        ? 'The Authorization header must be "Bearer <key>".'
        : 'The API key is not valid (unknown, revoked or mistyped).';
  return new RrpcError('UNAUTHENTICATED', { message, headers: { 'WWW-Authenticate': 'Bearer' } });
}

/** Authenticates the bearer key and runs the rest of the request as its principal. */
export function authenticate(options: AuthenticateOptions): RequestHandler {
  return (req, res, next) => {
    const principal = options.authDisabled ? ANONYMOUS : options.ring.authenticate(req.get('authorization'));
    if (principal === undefined) {
      return options.reject(unauthenticated(req.get('authorization')), req, res, next);
    }
    res.locals['principal'] = principal;
    next();
  };
}

export function mayUseProduct(principal: Principal | undefined, productKey: string): boolean {
  return principal !== undefined && (principal.products === undefined || principal.products.has(productKey));
}

/** 403 for a key scoped to other products (every route that calls or reads a device). */
export function denied(productKey: string): RrpcError {
  return new RrpcError('PERMISSION_DENIED', { message: `This API key may not call devices of product ${productKey}.` });
}

/** Calls only to the products the key is scoped to: 403 PERMISSION_DENIED otherwise (every route that calls). */
export function scopedCalls(run: CallRunner): CallRunner {
  return (request, principal) => {
    if (!mayUseProduct(principal, request.device.productKey)) return Promise.reject(denied(request.device.productKey));
    return run(request, principal);
  };
}

/** /v1/devices/{pk}/...: a scoped key is refused before the body is read. */
export const productScope: RequestHandler = (req, res, next) => {
  const productKey = req.params['productKey'];
  if (typeof productKey === 'string' && !mayUseProduct(principalOf(res), productKey)) return next(denied(productKey));
  next();
};

/** 404 for a message ID with no outcome this key may see. */
export function unknownCall(messageId: string): RrpcError {
  return new RrpcError('NOT_FOUND', { message: `No call ${messageId} is known (outcomes are kept for a limited time).` });
}

/** GET /v1/rrpc/{messageId}: a scoped key sees only its products' outcomes (others are "not found"). */
export function scopedOutcomeReads(calls: CallStore): RequestHandler {
  return async (req, res, next) => {
    const principal = principalOf(res);
    const messageId = req.params['messageId'];
    if (principal?.products === undefined || !isMessageId(messageId)) return next(); // e.g. /v1/rrpc/batches
    let record;
    try {
      record = await calls.get(messageId);
    } catch (error) {
      return next(error); // a malformed ID, or Redis unavailable
    }
    if (record && !principal.products.has(record.productKey)) return next(unknownCall(messageId));
    next();
  };
}
