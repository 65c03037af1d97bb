import { DelayedError, type Job } from 'bullmq';
import type { Caller, CallOutcome } from '@rrpc/caller';
import type { WorkerMetrics } from '@rrpc/metrics';
import type { Logger } from '@rrpc/runtime';
import {
  FINAL_JOB_STATES,
  hearsTopic,
  type BatchStore,
  type CallStore,
  type JobRecord,
  type JobStore,
  type PresenceStore,
  type QuotaStore,
} from '@rrpc/store';
import type { JobWork, WorkQueues } from '@rrpc/jobs';
import { requestTopic, type DeviceRef } from '@rrpc/topics';
import { SpanKind, decodeTraceHeaders, type TraceHeaders, type Tracing } from '@rrpc/tracing';
import { storedOutcome } from './stored-outcome.js';
import { isRegistryRefusal } from './registry-refusal.js';

export interface JobRunnerDeps {
  jobs: JobStore;
  batches: BatchStore;
  calls: CallStore;
  presence: PresenceStore;
  caller: Caller;
  queues: WorkQueues;
  metrics: WorkerMetrics;
  logger: Logger;
  /** OpenTelemetry (docs/tracing.md): a span per delivery attempt, continuing the trace of the job's creator. */
  tracing?: Tracing | undefined;
  quotas: QuotaStore;
  /** Calls per second per device (RRPC_RATE_LIMIT_PER_DEVICE, as on the api); 0: no limit. */
  perDevice: number;
  /** RRPC_TRACK_SUBSCRIPTIONS: a job waits until its device is subscribed to the request topic, as for a connection. */
  trackSubscriptions?: boolean | undefined;
}

/** After a failure to reach Redis or the broker, a job is looked at again this much later. */
const TROUBLE_PAUSE_MS = 1000;

const BATCH_CODE: Record<string, string> = {
  SUCCEEDED: 'SUCCESS',
  TIMEOUT: 'TIMEOUT',
  EXPIRED: 'EXPIRED',
  FAILED: 'FAILED',
  CANCELLED: 'CANCELLED',
};

/**
 * Advances one persistent call. A job is delivered when it is the oldest unfinished job of its device and the
 * device is online; otherwise its work item is parked (BullMQ "delayed") until the job expires, and woken early
 * by the device's presence event or by the job ahead of it finishing. Every step is a compare-and-set in Redis,
 * so a worker that re-runs the item after another one died continues where that one stopped.
 */
export class JobRunner {
  constructor(private readonly deps: JobRunnerDeps) {}

  readonly process = async (work: Job<JobWork>, token?: string): Promise<string> => {
    const device: DeviceRef = { productKey: work.data.productKey, deviceName: work.data.deviceName };
    const id = work.data.jobId;
    const { jobs } = this.deps;
    let job = await jobs.get(device, id);
    // The api queues the work item before it records the job; BullMQ retries this shortly.
    if (!job) throw new Error(`job ${id} is not recorded (yet)`);
    for (let step = 0; step < 1000; step++) {
      if (FINAL_JOB_STATES.includes(job.state)) {
        await this.finish(job);
        return job.state;
      }
      if (job.state === 'SENT') {
        await this.recover(job);
      } else if (Date.now() >= job.expiresAt) {
        await jobs.transition(device, id, { from: ['QUEUED'], to: 'EXPIRED' });
      } else {
        const head = await jobs.head(device);
        const topic = job.topic;
        if (head !== id || !(await this.online(device, topic))) {
          await this.park(work, token, job.expiresAt, async () => (await jobs.head(device)) === id && (await this.online(device, topic)));
        }
        try {
          await this.attempt(job);
        } catch (error) {
          this.deps.logger.warn({ err: error, jobId: id }, 'job attempt failed; trying again shortly');
          await this.park(work, token, Math.min(Date.now() + TROUBLE_PAUSE_MS, job.expiresAt));
        }
      }
      const next = await jobs.get(device, id);
      if (!next) return 'GONE';
      job = next;
    }
    throw new Error(`job ${id} did not settle`);
  };

  /** Connected and (RRPC_TRACK_SUBSCRIPTIONS) subscribed to the job's request topic; subscribing wakes the job like connecting. */
  private async online(device: DeviceRef, topic: string | undefined): Promise<boolean> {
    const view = await this.deps.presence.get(device);
    if (view?.status !== 'ONLINE') return false;
    // Any message ID stands for the call's: filters name the topic's levels, not one message.
    return !this.deps.trackSubscriptions || hearsTopic(view, requestTopic(device, '1', topic));
  }

  /**
   * Parks the work item until `until`, then checks the wake condition once more: a wake-up (presence event,
   * job ahead finished) that came before the item was parked found nothing to wake, so the item wakes itself.
   */
  private async park(work: Job<JobWork>, token: string | undefined, until: number, wakeNow?: () => Promise<boolean>): Promise<never> {
    await work.moveToDelayed(until, token);
    if (wakeNow && (await wakeNow())) await this.deps.queues.wakeJob(work.data.jobId);
    throw new DelayedError();
  }

  /** One delivery attempt, in a span of its own when tracing is on (the call's publish span is its child). */
  private async attempt(job: JobRecord): Promise<void> {
    const tracing = this.deps.tracing;
    const parent = decodeTraceHeaders(job.trace);
    if (tracing === undefined) return this.deliver(job, parent);
    const span = tracing.startSpan('rrpc job', {
      kind: SpanKind.CONSUMER,
      parent,
      attributes: {
        'rrpc.job.id': job.id,
        'rrpc.device': `${job.device.productKey}/${job.device.deviceName}`,
        'rrpc.job.attempt': job.attempts + 1,
      },
    });
    try {
      await tracing.withSpan(span, () => this.deliver(job, tracing.headersOf(span)));
      tracing.end(span);
    } catch (error) {
      tracing.end(span, error);
      throw error;
    }
  }

  /** One delivery attempt: QUEUED → SENT (message ID recorded before publishing) → outcome. */
  private async deliver(job: JobRecord, trace: TraceHeaders | undefined): Promise<void> {
    const { jobs, caller, metrics } = this.deps;
    const began = await jobs.transition(job.device, job.id, {
      from: ['QUEUED'],
      to: 'SENT',
      attemptsDelta: 1,
      fields: { mid: '', sa: Date.now() },
    });
    if (!began.moved) return;
    let outcome: CallOutcome;
    try {
      outcome = await caller.call({
        device: job.device,
        payload: Buffer.from(await this.payloadOf(job), 'base64'),
        timeoutMs: job.timeoutMs,
        topic: job.topic,
        owner: job.owner,
        deviceRate: this.deps.perDevice > 0 ? { perSecond: this.deps.perDevice } : undefined,
        onPending: (messageId) => jobs.setMessageId(job.device, job.id, messageId),
        trace,
      });
    } catch (error) {
      if (isRegistryRefusal(error)) {
        // Unregistered or disabled since the job was created: nothing was published, and retrying cannot help.
        await jobs.transition(job.device, job.id, {
          from: ['SENT'],
          to: 'FAILED',
          attemptsDelta: -1,
          fields: { rc: error.code, err: error.message },
        });
        metrics.attemptsTotal.labels('refused').inc();
        return;
      }
      // Nothing was published (the caller throws before publishing, or when publishing failed): not an attempt.
      await jobs.transition(job.device, job.id, { from: ['SENT'], to: 'QUEUED', attemptsDelta: -1 });
      metrics.attemptsTotal.labels('error').inc();
      throw error;
    }
    metrics.attemptsTotal.labels(outcome.rrpcCode.toLowerCase()).inc();
    if (outcome.rrpcCode === 'OFFLINE' || outcome.rrpcCode === 'HALFCONN' || outcome.rrpcCode === 'NOT_SUBSCRIBED') {
      // The device left (or unsubscribed) between the presence check and the call: wait for it again; not an attempt.
      await jobs.transition(job.device, job.id, { from: ['SENT'], to: 'QUEUED', attemptsDelta: -1, fields: { rc: outcome.rrpcCode } });
      return;
    }
    if (outcome.rrpcCode === 'SUCCESS')
      await this.settle(job, began.attempts, { rrpcCode: 'SUCCESS', payload: outcome.payload }, outcome.messageId);
    else if (outcome.rrpcCode === 'TIMEOUT') await this.settle(job, began.attempts, { rrpcCode: 'TIMEOUT' }, outcome.messageId);
  }

  /** A batch's item job keeps no payload of its own: it is the batch's, stored once. */
  private async payloadOf(job: JobRecord): Promise<string> {
    if (job.payload !== '' || job.batch === undefined) return job.payload;
    const batch = await this.deps.batches.get(job.batch.id);
    if (!batch) throw new Error(`batch ${job.batch.id} of job ${job.id} is gone`);
    return batch.payload;
  }

  private async settle(
    job: JobRecord,
    attempts: number,
    outcome: { rrpcCode: 'SUCCESS'; payload: Buffer } | { rrpcCode: 'TIMEOUT' },
    messageId: string,
  ): Promise<void> {
    const { jobs } = this.deps;
    if (outcome.rrpcCode === 'SUCCESS') {
      await jobs.transition(job.device, job.id, {
        from: ['SENT'],
        to: 'SUCCEEDED',
        fields: { rc: 'SUCCESS', rmid: messageId, rp: outcome.payload.toString('base64') },
      });
      return;
    }
    const retry = attempts < job.maxAttempts && Date.now() < job.expiresAt;
    await jobs.transition(job.device, job.id, {
      from: ['SENT'],
      to: retry ? 'QUEUED' : 'TIMEOUT',
      fields: { rc: 'TIMEOUT', rmid: messageId },
    });
  }

  /** A job left SENT by a worker that died: read the call's outcome (never send it again). */
  private async recover(job: JobRecord): Promise<void> {
    if (job.messageId === undefined) {
      // Died before the message ID was recorded: nothing was published.
      await this.deps.jobs.transition(job.device, job.id, { from: ['SENT'], to: 'QUEUED', attemptsDelta: -1 });
      return;
    }
    this.deps.logger.info({ jobId: job.id, messageId: job.messageId }, 'recovering the outcome of a job attempt another worker began');
    const outcome = await storedOutcome(this.deps.calls, job.messageId);
    await this.settle(job, job.attempts, outcome, job.messageId);
  }

  /** A finished job: wake the device's next job, record a batch item, queue the callback. Safe to repeat. */
  private async finish(job: JobRecord): Promise<void> {
    const { jobs, queues, batches, metrics } = this.deps;
    const next = await jobs.head(job.device);
    if (next !== undefined) await queues.wakeJob(next);
    else await jobs.forgetDeviceIfIdle(job.device);
    if (job.batch !== undefined) {
      const recorded = await batches.record(job.batch.id, job.batch.index, {
        rrpcCode: job.state === 'SUCCEEDED' ? 'SUCCESS' : (BATCH_CODE[job.state] ?? job.state),
        messageId: job.result?.messageId,
        payload: job.state === 'SUCCEEDED' ? job.result?.payload : undefined,
        jobId: job.id,
      });
      if (recorded.recorded) metrics.batchItemsTotal.labels(BATCH_CODE[job.state] ?? job.state).inc();
      if (recorded.done) {
        const batch = await batches.get(job.batch.id);
        if (batch?.holding !== undefined && batch.owner !== '') await this.deps.quotas.release(batch.owner, batch.holding);
      }
    }
    if (job.holding !== undefined && job.owner !== '') await this.deps.quotas.release(job.owner, job.holding);
    if (job.callbackUrl !== undefined && job.callback === undefined) {
      await jobs.setCallback(job.device, job.id, { state: 'PENDING', attempts: 0 });
      await queues.addCallback({ productKey: job.device.productKey, deviceName: job.device.deviceName, jobId: job.id });
    }
    metrics.jobsTotal.labels(job.state).inc();
  }
}
