import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { RrpcError, invalidArgument } from '@rrpc/errors';
import type { IngestMetrics } from '@rrpc/metrics';
import { BearerTokens } from '@rrpc/runtime';
import type { PresenceStore } from '@rrpc/store';
import type { Logger } from 'pino';
import { parseEmqxWebhook } from '../emqx-events.js';

export interface HookRoutesOptions {
  presence: PresenceStore;
  metrics: IngestMetrics;
  logger: Logger;
  webhookToken: string | undefined;
  authDisabled: boolean;
  maxBodyBytes: number;
}

/** POST /hooks/emqx: EMQX presence and subscription webhooks → one atomic presence script each. */
export function hookRoutes(options: HookRoutesOptions): Router {
  const router = Router();
  const tokens = new BearerTokens(options.webhookToken === undefined ? [] : [options.webhookToken]);
  const auth = (req: Request, _res: Response, next: NextFunction) => {
    if (options.authDisabled || tokens.accepts(req.get('authorization'))) return next();
    options.metrics.webhookRejectsTotal.labels('unauthenticated').inc();
    next(new RrpcError('UNAUTHENTICATED', { headers: { 'WWW-Authenticate': 'Bearer' } }));
  };
  router.post('/hooks/emqx', auth, express.json({ limit: options.maxBodyBytes, type: () => true }), async (req: Request, res: Response) => {
    const parsed = parseEmqxWebhook(req.body);
    if (!parsed.ok) {
      options.metrics.webhookRejectsTotal.labels('malformed').inc();
      throw invalidArgument('body', parsed.problem);
    }
    const event = parsed.event;
    if (event === undefined) {
      res.status(200).json({ result: 'ignored', reason: parsed.ignored });
      return;
    }
    const result =
      event.kind === 'connected'
        ? await options.presence.connected(event)
        : event.kind === 'disconnected'
          ? await options.presence.disconnected(event)
          : event.kind === 'subscribed'
            ? await options.presence.subscribed(event)
            : await options.presence.unsubscribed(event);
    options.metrics.presenceEventsTotal.labels(event.kind, result).inc();
    options.logger.debug(
      { productKey: event.device.productKey, deviceName: event.device.deviceName, event: event.kind, result },
      'presence event',
    );
    res.status(200).json({ result });
  });
  return router;
}
