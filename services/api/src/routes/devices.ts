import { Router, type Request, type Response } from 'express';
import { RrpcError } from '@rrpc/errors';
import type { PresenceStore } from '@rrpc/store';
import { deviceFrom } from '../call-input.js';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

export function deviceRoutes(presence: PresenceStore): Router {
  const router = Router();
  router.get('/v1/devices/:productKey/:deviceName', async (req: Request, res: Response) => {
    const device = deviceFrom(req.params['productKey'], req.params['deviceName']);
    const view = await presence.get(device);
    if (!view) throw new RrpcError('NOT_FOUND', { message: `Device ${device.productKey}/${device.deviceName} has never connected.` });
    res.json({
      productKey: view.productKey,
      deviceName: view.deviceName,
      status: view.status,
      clientId: view.clientId,
      connectedAt: iso(view.connectedAt),
      disconnectedAt: iso(view.disconnectedAt),
      keepaliveSeconds: view.keepaliveSeconds,
      lastDisconnectReason: view.lastDisconnectReason,
      subscriptions: view.subscriptions,
    });
  });
  return router;
}
