import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import { RrpcError, invalidArgument } from '@rrpc/errors';
import { ID_PATTERN, batchItemView, batchView, newId, type WorkQueues } from '@rrpc/jobs';
import type { BatchStore, PresenceStore } from '@rrpc/store';
import { deviceId, isProductKey, type DeviceRef } from '@rrpc/topics';
import { JOB_LIMITS, batchBody, batchResultsQuery, firstIssue, jsonBodyLimit } from '../schemas.js';
import { callRequest, deviceFrom } from '../call-input.js';
import { denied, mayRead, mayUseProduct, ownerOf, principalOf } from '../request-principal.js';
import type { KeyRate } from '../rate-limit.js';
import type { KeyQuotas } from '../key-quotas.js';
import { storedTrace } from '../request-tracing.js';

export interface BatchRoutesOptions {
  batches: BatchStore;
  presence: PresenceStore;
  queues: WorkQueues;
  idempotent: RequestHandler;
  maxPayloadBytes: number;
  /** Creating a batch takes one token of the key's rate; its device calls take one each, when the worker makes them. */
  keyRate: KeyRate;
  /** A running batch holds its devices and its payload bytes (once) of its key's caps. */
  quotas: KeyQuotas;
  /** The key rate of a key without its own rate= (RRPC_RATE_LIMIT_PER_KEY), for the worker's device calls. */
  perKey: number;
}

function batchIdFrom(value: unknown): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value) || !value.startsWith('bat_'))
    throw invalidArgument('id', 'must be a batch ID ("bat_...")');
  return value;
}

const unknownBatch = () => new RrpcError('NOT_FOUND', { message: 'No such batch (batches are kept for a limited time).' });

/** Batches: one request to up to 10,000 devices (or every online device of a product), run by services/worker. */
export function batchRoutes(options: BatchRoutesOptions): Router {
  const router = Router();
  // 10,000 device entries of up to ~80 bytes each, plus the payload.
  const json = express.json({
    limit: jsonBodyLimit(options.maxPayloadBytes, JOB_LIMITS.maxBatchDevices * 100),
    strict: true,
    type: 'application/json',
  });

  router.post('/v1/rrpc/batches', json, options.idempotent, async (req: Request, res: Response) => {
    if (!req.is('application/json')) throw new RrpcError('UNSUPPORTED_MEDIA_TYPE', { message: 'Use Content-Type application/json.' });
    const parsed = batchBody.safeParse(req.body);
    if (!parsed.success) {
      const { field, message } = firstIssue(parsed.error);
      throw invalidArgument(field, message);
    }
    const body = parsed.data;
    if ((body.devices === undefined) === (body.productKey === undefined))
      throw invalidArgument('devices', 'give either devices or productKey');
    let devices: DeviceRef[];
    if (body.devices !== undefined) {
      const seen = new Set<string>();
      devices = body.devices.map((d, i) => {
        const device = deviceFrom(d.productKey, d.deviceName, {
          productKey: `devices.${i}.productKey`,
          deviceName: `devices.${i}.deviceName`,
        });
        if (seen.has(deviceId(device))) throw invalidArgument(`devices.${i}`, 'names a device twice');
        seen.add(deviceId(device));
        return device;
      });
    } else {
      if (!isProductKey(body.productKey)) throw invalidArgument('productKey', 'must be 1-32 letters, digits, "_" or "-"');
      devices = await options.presence.onlineDevices(body.productKey);
      if (devices.length > JOB_LIMITS.maxBatchDevices) {
        throw invalidArgument(
          'productKey',
          `${devices.length} devices are online; a batch takes at most ${JOB_LIMITS.maxBatchDevices} (name them in devices)`,
        );
      }
    }
    const principal = principalOf(res);
    for (const productKey of new Set(devices.map((d) => d.productKey))) {
      if (!mayUseProduct(principal, productKey)) throw denied(productKey);
    }
    const payload = Buffer.from(body.payload, 'base64');
    for (const device of devices.slice(0, 1))
      callRequest({ device, payload, timeoutMs: body.timeoutMs, topic: body.topic, maxPayloadBytes: options.maxPayloadBytes });
    if (body.topic !== undefined && new Set(devices.map(deviceId)).size > 1)
      throw invalidArgument('topic', 'a custom topic names one device; batches use the system topic');
    await options.keyRate.take(principal);
    const id = newId('bat');
    const ttlMs = body.ttlMs ?? JOB_LIMITS.defaultTtlMs;
    const until = Date.now() + options.batches.lifetimeMs({ persistent: body.persistent, ttlMs });
    const holding =
      devices.length === 0
        ? undefined
        : await options.quotas.hold(principal, { kind: 'batch', id, jobs: 0, devices: devices.length, bytes: body.payload.length, until });
    try {
      await options.queues.addBatch({ batchId: id });
      await options.batches.create({
        id,
        devices,
        payload: body.payload,
        timeoutMs: body.timeoutMs,
        topic: body.topic,
        concurrency: body.concurrency,
        persistent: body.persistent,
        ttlMs,
        owner: ownerOf(principal),
        ratePerSecond: principal?.ratePerSecond ?? options.perKey,
        holding,
        trace: storedTrace(res),
      });
    } catch (error) {
      if (holding !== undefined) await options.quotas.release(ownerOf(principal), holding).catch(() => undefined);
      throw error;
    }
    res
      .status(202)
      .set('Location', `/v1/rrpc/batches/${id}`)
      .json({ id, state: devices.length === 0 ? 'DONE' : 'RUNNING', total: devices.length });
  });

  router.get('/v1/rrpc/batches/:id', async (req: Request, res: Response) => {
    const batch = await options.batches.get(batchIdFrom(req.params['id']));
    if (!batch || !mayRead(principalOf(res), batch.owner)) throw unknownBatch();
    res.json(batchView(batch));
  });

  router.get('/v1/rrpc/batches/:id/results', async (req: Request, res: Response) => {
    const id = batchIdFrom(req.params['id']);
    const query = batchResultsQuery.safeParse(req.query);
    if (!query.success) {
      const { field, message } = firstIssue(query.error);
      throw invalidArgument(field, message);
    }
    const batch = await options.batches.get(id);
    if (!batch || !mayRead(principalOf(res), batch.owner)) throw unknownBatch();
    const { cursor, limit } = query.data;
    const items = await options.batches.items(id, cursor, limit);
    const next = cursor + items.length;
    res.json({
      id,
      state: batch.state,
      total: batch.total,
      results: items.map(batchItemView),
      nextCursor: next < batch.total ? String(next) : null,
    });
  });

  return router;
}
