import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import { RrpcError, invalidArgument } from '@rrpc/errors';
import { ID_PATTERN, jobView, newId, type CallbackPolicy, type WorkQueues } from '@rrpc/jobs';
import type { DeviceRegistry, JobStore } from '@rrpc/store';
import { JOB_LIMITS, firstIssue, jobBody, jobListQuery, jsonBodyLimit } from '../schemas.js';
import { callRequest, deviceFrom } from '../call-input.js';
import { mayRead, ownerOf, principalOf } from '../request-principal.js';
import type { KeyRate } from '../rate-limit.js';
import type { KeyQuotas } from '../key-quotas.js';
import { storedTrace } from '../request-tracing.js';
import { requireCallable } from '../registered-device.js';

export interface JobRoutesOptions {
  jobs: JobStore;
  queues: WorkQueues;
  /** Idempotency-Key handling (see idempotency.ts). */
  idempotent: RequestHandler;
  maxPayloadBytes: number;
  /** Where callbacks may go (the URL alone is checked here; the worker checks the addresses at delivery). */
  callbackPolicy: CallbackPolicy;
  /** Creating a job takes one token of the key's call rate (the call it will make). */
  keyRate: KeyRate;
  /** A job holds one of its key's unfinished jobs and its payload bytes until it finishes. */
  quotas: KeyQuotas;
  /** The registry a job's device must be registered and enabled in (undefined: RRPC_DEVICE_REGISTRY=off). */
  registry?: DeviceRegistry | undefined;
}

function jobIdFrom(value: unknown): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value) || !value.startsWith('job_'))
    throw invalidArgument('id', 'must be a job ID ("job_...")');
  return value;
}

const unknownJob = () => new RrpcError('NOT_FOUND', { message: 'No such job (finished jobs are kept for a limited time).' });

/** Persistent calls: created here, delivered by services/worker when the device is online. */
export function jobRoutes(options: JobRoutesOptions): Router {
  const router = Router();
  const json = express.json({ limit: jsonBodyLimit(options.maxPayloadBytes), strict: true, type: 'application/json' });
  const base = '/v1/devices/:productKey/:deviceName/rrpc/jobs';

  router.post(base, json, options.idempotent, async (req: Request, res: Response) => {
    const device = deviceFrom(req.params['productKey'], req.params['deviceName']);
    if (!req.is('application/json')) throw new RrpcError('UNSUPPORTED_MEDIA_TYPE', { message: 'Use Content-Type application/json.' });
    const parsed = jobBody.safeParse(req.body);
    if (!parsed.success) {
      const { field, message } = firstIssue(parsed.error);
      throw invalidArgument(field, message);
    }
    const body = parsed.data;
    const payload = Buffer.from(body.payload, 'base64');
    callRequest({ device, payload, timeoutMs: body.timeoutMs, topic: body.topic, maxPayloadBytes: options.maxPayloadBytes });
    if (body.expiresAt !== undefined && body.ttlMs !== undefined) throw invalidArgument('expiresAt', 'give expiresAt or ttlMs, not both');
    const now = Date.now();
    const expiresAt = body.expiresAt !== undefined ? Date.parse(body.expiresAt) : now + (body.ttlMs ?? JOB_LIMITS.defaultTtlMs);
    if (expiresAt <= now) throw invalidArgument('expiresAt', 'must be in the future');
    if (expiresAt > now + JOB_LIMITS.maxTtlMs) throw invalidArgument('expiresAt', `must be at most ${JOB_LIMITS.maxTtlMs} ms away`);
    const callbackProblem = body.callbackUrl === undefined ? undefined : options.callbackPolicy.problem(body.callbackUrl);
    if (callbackProblem !== undefined) throw invalidArgument('callbackUrl', callbackProblem);
    await requireCallable(options.registry, device);
    const principal = principalOf(res);
    const callbackKey =
      principal?.callback && body.callbackUrl !== undefined ? { keyId: principal.keyId, ...principal.callback } : undefined;
    await options.keyRate.take(principal);
    const id = newId('job');
    const holding = await options.quotas.hold(principal, {
      kind: 'job',
      id,
      jobs: 1,
      devices: 0,
      bytes: body.payload.length,
      until: expiresAt + body.timeoutMs,
    });
    try {
      // Queue first, then record: a job is never recorded without its work item (the worker waits for the record).
      await options.queues.addJob({ ...device, jobId: id });
      await options.jobs.create({
        id,
        device,
        payload: body.payload,
        timeoutMs: body.timeoutMs,
        topic: body.topic,
        expiresAt,
        maxAttempts: body.maxAttempts,
        callbackUrl: body.callbackUrl,
        callbackKey,
        trace: storedTrace(res),
        owner: ownerOf(principal),
        holding,
      });
    } catch (error) {
      await options.quotas.release(ownerOf(principal), holding).catch(() => undefined);
      throw error;
    }
    const job = await options.jobs.get(device, id);
    res.status(202).set('Location', `/v1/devices/${device.productKey}/${device.deviceName}/rrpc/jobs/${id}`);
    res.json(job ? jobView(job) : { id, state: 'QUEUED' });
  });

  router.get(base, async (req: Request, res: Response) => {
    const device = deviceFrom(req.params['productKey'], req.params['deviceName']);
    const query = jobListQuery.safeParse(req.query);
    if (!query.success) {
      const { field, message } = firstIssue(query.error);
      throw invalidArgument(field, message);
    }
    const principal = principalOf(res);
    const found = await options.jobs.list(device, query.data.state, query.data.limit, principal?.admin ? undefined : ownerOf(principal));
    res.json({ jobs: found.map(jobView) });
  });

  router.get(`${base}/:id`, async (req: Request, res: Response) => {
    const device = deviceFrom(req.params['productKey'], req.params['deviceName']);
    const job = await options.jobs.get(device, jobIdFrom(req.params['id']));
    if (!job || !mayRead(principalOf(res), job.owner)) throw unknownJob();
    res.json(jobView(job));
  });

  router.delete(`${base}/:id`, async (req: Request, res: Response) => {
    const device = deviceFrom(req.params['productKey'], req.params['deviceName']);
    const id = jobIdFrom(req.params['id']);
    const existing = await options.jobs.get(device, id);
    if (!existing || !mayRead(principalOf(res), existing.owner)) throw unknownJob();
    const moved = await options.jobs.transition(device, id, { from: ['QUEUED', 'SENT'], to: 'CANCELLED' });
    if (moved.state === undefined) throw unknownJob();
    if (moved.moved && existing.holding !== undefined) await options.quotas.release(existing.owner, existing.holding);
    if (!moved.moved)
      throw new RrpcError('CONFLICT', {
        message: `The job has finished already (${moved.state}); only QUEUED or SENT jobs can be cancelled.`,
      });
    // Wake its parked work item, so the worker finishes it (next job of the device, callback).
    await options.queues.wakeJob(id);
    const job = await options.jobs.get(device, id);
    res.json(job ? jobView(job) : { id, state: 'CANCELLED' });
  });

  return router;
}
