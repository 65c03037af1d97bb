import express, { Router, type Express, type Request, type Response } from 'express';
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { errorHandler, notFound } from './http-errors.js';
import { closeServer, listen } from './lifecycle.js';
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
  /** Serve /metrics here (default true); false when it is served on the ops port only (RRPC_OPS_PORT). */
  metrics?: boolean | undefined;
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
  if (options.metrics === false) return router;
  router.get('/metrics', async (_req: Request, res: Response) => {
    res.type(options.registry.contentType).send(await options.registry.metrics());
  });
  return router;
}

/**
 * The ops port (RRPC_OPS_PORT): /livez, /readyz and /metrics on a server of their own, so the public port
 * need not expose the metrics. Everything else is 404.
 */
export function createOpsServer(options: Omit<OpsOptions, 'metrics'>, logger: Logger): Server {
  const app = serviceApp(options);
  app.use(notFound);
  app.use(errorHandler(logger));
  return createServer(app);
}

/** A service's ops port, when RRPC_OPS_PORT gives one (`port` undefined: none, and nothing to do). */
export class OpsPort {
  private readonly server: Server | undefined;

  constructor(
    options: Omit<OpsOptions, 'metrics'>,
    logger: Logger,
    private readonly port: number | undefined,
  ) {
    this.server = port === undefined ? undefined : createOpsServer(options, logger);
  }

  /** Whether the service's own app should serve /metrics (no ops port: it should). */
  get metricsOnServicePort(): boolean {
    return this.server === undefined;
  }

  /** Listens (resolves with the bound port), or resolves undefined without an ops port. */
  async listen(host: string): Promise<number | undefined> {
    if (this.server === undefined || this.port === undefined) return undefined;
    return listen(this.server, this.port, host);
  }

  async close(): Promise<void> {
    if (this.server?.listening) await closeServer(this.server);
  }
}

/** A service's express app: no X-Powered-By, no ETags, and the ops routes mounted first. */
export function serviceApp(options: OpsOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(opsRouter(options));
  return app;
}
