import express, { Router, type Express, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';

export interface ReadinessCheck {
  name: string;
  /** Asynchronous checks (a bounded PING) must bound their own time. */
  ok: () => boolean | Promise<boolean>;
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
  router.get('/readyz', async (_req: Request, res: Response) => {
    const results = await Promise.all(options.checks.map(async (c) => [c.name, await c.ok()] as const));
    const checks: Record<string, boolean> = Object.fromEntries(results);
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
