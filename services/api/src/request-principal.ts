import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { RrpcError } from '@rrpc/errors';
import type { CallRunner } from './call-runner.js';
import type { KeyRate } from './rate-limit.js';
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

/** The owner written on what a principal creates: its key id. */
export function ownerOf(principal: Principal | undefined): string {
  return (principal ?? ANONYMOUS).keyId;
}

/**
 * Whether a principal may read a record: its own key's records, or every record for an admin key. A record
 * without an owner (written before records had one) is an admin's only. Every other key is told "not found"
 * (404, never 403: nothing says the record exists), scoped or not.
 */
export function mayRead(principal: Principal | undefined, owner: string | undefined): boolean {
  const p = principal ?? ANONYMOUS;
  return p.admin || (owner !== undefined && owner !== '' && owner === p.keyId);
}

/** Outcome reads by message ID (GET /v1/rrpc/{messageId}). */
export interface OutcomeReads {
  mayRead(principal: Principal | undefined, owner: string | undefined): boolean;
  /** A read that found no outcome of this key's: costs a token of the key's rate (429 once spent), so IDs cannot be guessed at speed. */
  unknown(principal: Principal | undefined): Promise<void>;
}

export function ownedOutcomes(keyRate: KeyRate): OutcomeReads {
  return {
    mayRead,
    unknown: async (principal) => {
      await keyRate.take(principal);
    },
  };
}
