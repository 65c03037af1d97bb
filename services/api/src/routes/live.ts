import { Router, type Request, type Response } from 'express';
import { RrpcError, invalidArgument } from '@rrpc/errors';
import type { PodSummary } from '@rrpc/metrics';
import type { PodHeartbeats, PresenceEvents } from '@rrpc/store';
import { isProductKey } from '@rrpc/topics';
import { mayUseProduct, principalOf } from '../request-principal.js';

export interface LiveRoutesOptions {
  /** The pod's one subscription to presence changes (null until the api has started). */
  presenceChanges: () => PresenceEvents | undefined;
  heartbeats: PodHeartbeats<PodSummary>;
  grafanaUrl: string | undefined;
  /** Event streams one pod serves at once; more get 503. */
  maxStreams: number;
}

const KEEPALIVE_MS = 15_000;

/**
 * What the console shows live: a product's presence changes as server-sent events (fed by the pod's one Redis
 * subscription, fanned out in memory: no Redis work per browser), and the cluster's pods as their own reports.
 */
export function liveRoutes(options: LiveRoutesOptions): Router {
  const router = Router();
  let streams = 0;

  router.get('/v1/events', async (req: Request, res: Response) => {
    const productKey = req.query['productKey'];
    if (!isProductKey(productKey))
      throw invalidArgument('productKey', 'is required: the product whose devices to watch (letters, digits, "_" or "-", 1-32)');
    if (!mayUseProduct(principalOf(res), productKey))
      throw new RrpcError('PERMISSION_DENIED', { message: `This API key may not see devices of product ${productKey}.` });
    const changes = options.presenceChanges();
    if (!changes) throw new RrpcError('UNAVAILABLE', { message: 'Presence events are not available yet; retry.' });
    if (streams >= options.maxStreams)
      throw new RrpcError('UNAVAILABLE', {
        message: 'This pod serves as many event streams as it may; retry on another.',
        headers: { 'Retry-After': '5' },
      });
    await changes.start(); // the pod's one subscription, made for its first stream
    streams++;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write(': presence changes of one product\n\n');
    const prefix = `${productKey}/`;
    const off = changes.onMessage((message) => {
      let change: { d?: unknown; s?: unknown };
      try {
        change = JSON.parse(message) as { d?: unknown; s?: unknown };
      } catch {
        return;
      }
      if (typeof change.d !== 'string' || !change.d.startsWith(prefix) || typeof change.s !== 'string') return;
      res.write(
        `event: presence\ndata: ${JSON.stringify({ productKey, deviceName: change.d.slice(prefix.length), status: change.s })}\n\n`,
      );
    });
    const keepalive = setInterval(() => res.write(': keep-alive\n\n'), KEEPALIVE_MS);
    const close = () => {
      clearInterval(keepalive);
      off();
      streams--;
    };
    res.once('close', close);
  });

  router.get('/v1/cluster/summary', async (_req: Request, res: Response) => {
    const principal = principalOf(res);
    if (principal?.products !== undefined)
      throw new RrpcError('PERMISSION_DENIED', { message: 'The cluster summary needs a key that is not limited to products.' });
    const pods = await options.heartbeats.list();
    res.json({
      pods: pods.map((p) => ({ kind: p.kind, instanceId: p.instanceId, seenAt: new Date(p.seenAt).toISOString(), ...p.summary })),
      grafanaUrl: options.grafanaUrl ?? null,
    });
  });
  return router;
}
