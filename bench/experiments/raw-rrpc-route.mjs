/**
 * Experiment, not product code: the api service as built, with POST /v1/devices/{pk}/{dn}/rrpc (JSON, a
 * valid key) answered by a bare node:http handler that calls the same Caller, before express sees it.
 * Everything else still goes to the express app. It weighs what the HTTP framework layer costs per call:
 *   node bench/dist/profile-api.js 10 --api-main bench/experiments/raw-rrpc-route.mjs [--no-profile]
 * EXPERIMENT_ALS=1 runs each fast-path call inside an AsyncLocalStorage context, as the express path does.
 * (It skips the scope, in-flight, rate-limit and metrics wrappers: a ceiling, not a drop-in.)
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { loadApiConfig } from '@rrpc/config';
import { createLogger } from '@rrpc/runtime';
import { createApiService } from '@rrpc/api';

const config = loadApiConfig();
const logger = createLogger('api', config.logLevel);
const service = createApiService(config, logger);
await service.start();
const app = service.server.listeners('request')[0];
service.server.removeAllListeners('request');
const route = /^\/v1\/devices\/([^/]+)\/([^/]+)\/rrpc$/;
const keys = new Set(config.apiKeys.map((k) => `Bearer ${k}`));
const als = process.env.EXPERIMENT_ALS === '1' ? new AsyncLocalStorage() : undefined;

function fastCall(req, res, match) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString());
      const outcome = await service.caller.call({
        device: { productKey: match[1], deviceName: match[2] },
        payload: Buffer.from(body.payload, 'base64'),
        timeoutMs: body.timeoutMs ?? 8000,
      });
      const status = outcome.rrpcCode === 'SUCCESS' ? 200 : outcome.rrpcCode === 'TIMEOUT' ? 504 : 404;
      const text = JSON.stringify({ rrpcCode: outcome.rrpcCode, messageId: outcome.messageId, payload: outcome.payload?.toString('base64'), durationMs: outcome.durationMs });
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    } catch (error) {
      res.writeHead(500, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
      logger.error({ err: error }, 'experiment fast path failed');
    }
  });
}

service.server.on('request', (req, res) => {
  const match = req.method === 'POST' && req.headers['content-type'] === 'application/json' && keys.has(req.headers.authorization) ? route.exec(req.url) : null;
  if (!match) return app(req, res);
  if (als) als.run({ key: req.headers.authorization }, () => fastCall(req, res, match));
  else fastCall(req, res, match);
});
process.on('SIGTERM', () => void service.stop().then(() => process.exit(0)));
