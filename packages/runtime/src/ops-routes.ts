import express, { Router, type Express, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';

export interface ReadinessCheck {
  name: string;
  ok: () => boolean;
}

export interface OpsOptions {
  registry: Registry;
  checks: ReadinessCheck[];
  /** False once shutdown has begun: the pod must leave the load balancer first. */
  accepting: () => boolean;
}

/** /livez (the process runs), /readyz (every dependency confirmed), /metrics (Prometheus). */
export function opsRouter(options: OpsOptions): Router {
  const router = Router();
  router.get('/livez', (_req: Request, res: Response) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', (_req: Request, res: Response) => {
    const checks: Record<string, boolean> = {};
    for (const c of options.checks) checks[c.name] = c.ok();
    const shuttingDown = !options.accepting();
    const ready = !shuttingDown && Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : shuttingDown ? 'shutting-down' : 'not-ready', checks });
  });
  router.get('/metrics', async (_req: Request, res: Response) => {
    res.type(options.registry.contentType).send(await options.registry.metrics());
  });
  return router;
}

/** A service's express app: no X-Powered-By, no ETags, and the ops routes mounted first. */
export function serviceApp(options: OpsOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(opsRouter(options));
  return app;
}
