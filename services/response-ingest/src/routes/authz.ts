import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { RrpcError } from '@rrpc/errors';
import { BearerTokens } from '@rrpc/runtime';
import { authorize } from '@rrpc/topics';
import type { Logger } from 'pino';

export interface AuthzRoutesOptions {
  logger: Logger;
  webhookToken: string | undefined;
  authDisabled: boolean;
  /** MQTT username of the platform's own clients (api, response-ingest, worker). */
  serviceUsername: string | undefined;
}

/** The fields of EMQX 5's HTTP authorization request body that our EMQX configuration sends. */
interface EmqxAuthzRequest {
  clientid?: unknown;
  username?: unknown;
  topic?: unknown;
  action?: unknown;
  qos?: unknown;
  retain?: unknown;
  peerhost?: unknown;
}

/** EMQX renders its body templates as strings ("true", "1"); accept real booleans too. */
function parseRetain(value: unknown): boolean | undefined {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false' || value === undefined || value === '' || value === 'undefined') return false;
  return undefined;
}

function parseQos(value: unknown): boolean {
  return value === undefined || value === '' || value === 'undefined' || ['0', '1', '2', 0, 1, 2].includes(value as string | number);
}

/**
 * POST /authz/emqx: EMQX 5 HTTP authorization source. Answers 200 {"result":"allow"|"deny"}; anything the
 * policy does not explicitly allow is a deny. A request without the bearer token gets 401, which EMQX
 * treats as "ignore" — the broker's `no_match = deny` then refuses it.
 */
export function authzRoutes(options: AuthzRoutesOptions): Router {
  const router = Router();
  const tokens = new BearerTokens(options.webhookToken === undefined ? [] : [options.webhookToken]);
  const auth = (req: Request, _res: Response, next: NextFunction) => {
    if (options.authDisabled || tokens.accepts(req.get('authorization'))) return next();
    next(new RrpcError('UNAUTHENTICATED', { headers: { 'WWW-Authenticate': 'Bearer' } }));
  };
  router.post('/authz/emqx', auth, express.json({ limit: 16 * 1024, type: () => true }), (req: Request, res: Response) => {
    const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as EmqxAuthzRequest;
    const answer = (result: 'allow' | 'deny', reason?: string) => {
      if (result === 'deny') {
        options.logger.debug(
          { clientid: body.clientid, username: body.username, topic: body.topic, action: body.action, reason },
          'broker authorization denied',
        );
      }
      res.status(200).json({ result });
    };
    const { username, topic, action } = body;
    if (typeof topic !== 'string' || (action !== 'publish' && action !== 'subscribe')) return answer('deny', 'malformed request');
    if (username !== undefined && typeof username !== 'string') return answer('deny', 'malformed username');
    const retain = parseRetain(body.retain);
    if (retain === undefined || !parseQos(body.qos)) return answer('deny', 'malformed qos or retain');
    const decision = authorize({ username, topic, action, retain }, { serviceUsername: options.serviceUsername });
    return decision.allow ? answer('allow') : answer('deny', decision.reason);
  });
  return router;
}
