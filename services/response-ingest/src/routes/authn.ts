import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { RrpcError } from '@rrpc/errors';
import type { AuthnMetrics } from '@rrpc/metrics';
import { BearerTokens } from '@rrpc/runtime';
import type { Logger } from 'pino';
import type { AuthnDecision, Authenticator } from '../authenticator.js';

export interface AuthnRoutesOptions {
  authenticator: Authenticator;
  metrics: AuthnMetrics;
  logger: Logger;
  webhookToken: string | undefined;
  authDisabled: boolean;
}

/** Larger bodies are not EMQX authentication requests (ours are well under 1 KiB). */
const MAX_BODY_BYTES = 8 * 1024;

/**
 * POST /authn/emqx: EMQX 5's HTTP authenticator. Answers 200 `{"result":"allow"|"deny"|"ignore",
 * "is_superuser":false[,"acl":[...]]}`. Without the bearer token: 401 (EMQX reads it as "ignore"; with no
 * other authenticator in the chain the client is refused). Anything malformed — a body that is not JSON, an
 * oversized body or field, a client ID without `|...|` — is a 200 deny, never a 4xx/5xx.
 */
export function authnRoutes(options: AuthnRoutesOptions): Router {
  const router = Router();
  const tokens = new BearerTokens(options.webhookToken === undefined ? [] : [options.webhookToken]);
  const auth = (req: Request, _res: Response, next: NextFunction) => {
    if (options.authDisabled || tokens.accepts(req.get('authorization'))) return next();
    next(new RrpcError('UNAUTHENTICATED', { headers: { 'WWW-Authenticate': 'Bearer' } }));
  };
  const answer = (res: Response, decision: AuthnDecision, startedAt: bigint) => {
    options.metrics.authenticationsTotal.labels(decision.result, decision.reason).inc();
    options.metrics.authenticationDuration.observe(Number(process.hrtime.bigint() - startedAt) / 1e9);
    if (decision.result !== 'allow') options.logger.debug({ result: decision.result, reason: decision.reason }, 'broker login refused');
    res.status(200).json({ result: decision.result, is_superuser: false, ...(decision.acl ? { acl: decision.acl } : {}) });
  };
  router.post('/authn/emqx', auth, express.raw({ limit: MAX_BODY_BYTES, type: () => true }), async (req: Request, res: Response) => {
    const startedAt = process.hrtime.bigint();
    let body: unknown;
    try {
      body = JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '');
    } catch {
      return answer(res, { result: 'deny', reason: 'malformed' }, startedAt);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      return answer(res, { result: 'deny', reason: 'malformed' }, startedAt);
    answer(res, await options.authenticator.decide(body), startedAt);
  });
  // The body parser's refusals (too large, bad encoding) are denies too; a missing token stays a 401.
  router.use('/authn/emqx', (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (error instanceof RrpcError) return next(error);
    answer(res, { result: 'deny', reason: 'malformed' }, process.hrtime.bigint());
  });
  return router;
}
