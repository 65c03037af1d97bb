import type { Job } from 'bullmq';
import type { Caller, CallOutcome } from '@rrpc/caller';
import type { WorkerMetrics } from '@rrpc/metrics';
import type { Logger } from '@rrpc/runtime';
import { RrpcError } from '@rrpc/errors';
import type { BatchItem, BatchItemResult, BatchRecord, BatchStore, CallStore, JobStore, QuotaStore } from '@rrpc/store';
import type { BatchWork, WorkQueues } from '@rrpc/jobs';
import { SpanKind, decodeTraceHeaders, encodeTraceHeaders, type TraceHeaders, type Tracing } from '@rrpc/tracing';
import { storedOutcome } from './stored-outcome.js';
import type { KeyRateSpender } from './key-rate.js';
import { isRegistryRefusal } from './registry-refusal.js';

export interface BatchRunnerDeps {
  batches: BatchStore;
  jobs: JobStore;
  calls: CallStore;
  caller: Caller;
  queues: WorkQueues;
  metrics: WorkerMetrics;
  logger: Logger;
  /** OpenTelemetry (docs/tracing.md): a span per run of a batch, continuing the trace of its creator. */
  tracing?: Tracing | undefined;
  quotas: QuotaStore;
  keyRate: KeyRateSpender;
  /** Calls per second per device (RRPC_RATE_LIMIT_PER_DEVICE, as on the api); 0: no limit. */
  perDevice: number;
}

const PAGE = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** At most `limit` tasks at once; `acquire` waits for a free slot. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(limit: number) {
    this.free = limit;
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** The job ID of a persistent batch's item that waits for its device (the same on every re-run). */
export function batchItemJobId(batchId: string, index: number): string {
  return `job_${batchId.replace(/^bat_/, '')}i${index}`;
}

/**
 * Drives a batch: calls every device that has no result yet, at most `concurrency` at once. Each call's message
 * ID is recorded on the item before its request is published, so a driver that re-runs the batch after a worker
 * died reads the outcome of those calls (they count against the concurrency limit while it waits) instead of
 * sending them again.
 */
export class BatchRunner {
  constructor(private readonly deps: BatchRunnerDeps) {}

  readonly process = async (work: Job<BatchWork>): Promise<string> => {
    const batch = await this.deps.batches.get(work.data.batchId);
    if (!batch) throw new Error(`batch ${work.data.batchId} is not recorded (yet)`);
    if (batch.state === 'DONE') {
      await this.release(batch);
      return 'DONE';
    }
    const tracing = this.deps.tracing;
    const parent = decodeTraceHeaders(batch.trace);
    if (tracing === undefined) return this.drive(batch, parent);
    const span = tracing.startSpan('rrpc batch', {
      kind: SpanKind.CONSUMER,
      parent,
      attributes: { 'rrpc.batch.id': batch.id, 'rrpc.batch.total': batch.total },
    });
    try {
      const result = await tracing.withSpan(span, () => this.drive(batch, tracing.headersOf(span)));
      tracing.end(span);
      return result;
    } catch (error) {
      tracing.end(span, error);
      throw error;
    }
  };

  /** Calls every item without a result; `trace` is the parent of each item's call. */
  private async drive(batch: BatchRecord, trace: TraceHeaders | undefined): Promise<string> {
    const payload = Buffer.from(batch.payload, 'base64'); // decoded once for every device
    const slots = new Slots(batch.concurrency);
    const running = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined; // boxed: a rejection with `undefined` is a failure too
    for (let start = 0; start < batch.total && failure === undefined; start += PAGE) {
      const items = await this.deps.batches.items(batch.id, start, PAGE);
      for (const item of items) {
        if (item.result !== undefined || item.marker?.startsWith('j:')) continue;
        await slots.acquire();
        if (failure !== undefined) break;
        const task = this.runItem(batch, item, trace, payload)
          .catch((error: unknown) => {
            failure ??= { error };
          })
          .finally(() => {
            slots.release();
            running.delete(task);
          });
        running.add(task);
      }
    }
    await Promise.all(running);
    if (failure !== undefined) throw failure.error; // BullMQ runs the batch again; finished items are skipped
    return 'DRIVEN';
  }

  private async runItem(batch: BatchRecord, item: BatchItem, trace: TraceHeaders | undefined, payload: Buffer): Promise<void> {
    if (item.marker?.startsWith('m:')) {
      const messageId = item.marker.slice(2);
      const outcome = await storedOutcome(this.deps.calls, messageId);
      await this.record(
        batch,
        item,
        outcome.rrpcCode === 'SUCCESS'
          ? { rrpcCode: 'SUCCESS', messageId, payload: outcome.payload.toString('base64') }
          : { rrpcCode: 'TIMEOUT', messageId },
      );
      return;
    }
    let outcome: CallOutcome | undefined;
    for (let tries = 1; outcome === undefined; tries++) {
      try {
        // One token of the key's rate per device call, when it is made: a big batch slows down, never fails.
        await this.deps.keyRate.spend(batch.owner, batch.ratePerSecond);
        outcome = await this.deps.caller.call({
          device: item.device,
          payload,
          timeoutMs: batch.timeoutMs,
          topic: batch.topic,
          owner: batch.owner,
          deviceRate: this.deps.perDevice > 0 ? { perSecond: this.deps.perDevice } : undefined,
          onPending: (messageId) => this.deps.batches.mark(batch, item.index, `m:${messageId}`),
          trace,
        });
      } catch (error) {
        if (isRegistryRefusal(error)) {
          // Not registered, or disabled: nothing was published; the item's result is that error.
          this.deps.metrics.attemptsTotal.labels('refused').inc();
          await this.record(batch, item, { rrpcCode: error.code, error: error.message });
          return;
        }
        if (error instanceof RrpcError && error.code === 'RATE_LIMITED') {
          // Over the device's rate (another caller is using it): wait and call again; not a failed try.
          tries--;
          await sleep(Math.max(100, Number(error.headers?.['Retry-After'] ?? 1) * 1000));
          continue;
        }
        // Nothing was published; try again a few times, then give up on this item.
        this.deps.metrics.attemptsTotal.labels('error').inc();
        if (tries >= 3) {
          await this.record(batch, item, { rrpcCode: 'FAILED', error: error instanceof Error ? error.message : String(error) });
          return;
        }
        await sleep(500 * tries);
      }
    }
    this.deps.metrics.attemptsTotal.labels(outcome.rrpcCode.toLowerCase()).inc();
    if (outcome.rrpcCode === 'SUCCESS') {
      await this.record(batch, item, { rrpcCode: 'SUCCESS', messageId: outcome.messageId, payload: outcome.payload.toString('base64') });
    } else if (outcome.rrpcCode === 'TIMEOUT') {
      await this.record(batch, item, { rrpcCode: 'TIMEOUT', messageId: outcome.messageId });
    } else if (batch.persistent && Date.now() < batch.createdAt + batch.ttlMs) {
      await this.waitAsJob(batch, item, trace);
    } else {
      await this.record(batch, item, { rrpcCode: outcome.rrpcCode });
    }
  }

  /** A persistent batch's offline device: a job delivers the call when it connects and records the result. */
  private async waitAsJob(batch: BatchRecord, item: BatchItem, trace: TraceHeaders | undefined): Promise<void> {
    const jobId = batchItemJobId(batch.id, item.index);
    await this.deps.batches.mark(batch, item.index, `j:${jobId}`);
    await this.deps.queues.addJob({ ...item.device, jobId });
    await this.deps.jobs.create({
      id: jobId,
      device: item.device,
      payload: '', // the batch's payload, stored once on the batch
      owner: batch.owner,
      timeoutMs: batch.timeoutMs,
      topic: batch.topic,
      expiresAt: batch.createdAt + batch.ttlMs,
      maxAttempts: 1,
      batch: { id: batch.id, index: item.index },
      trace: trace === undefined ? undefined : encodeTraceHeaders(trace),
    });
  }

  private async record(batch: BatchRecord, item: BatchItem, result: BatchItemResult): Promise<void> {
    const { recorded, done } = await this.deps.batches.record(batch.id, item.index, result);
    if (recorded) this.deps.metrics.batchItemsTotal.labels(result.rrpcCode).inc();
    if (done) await this.release(batch);
  }

  /** A finished batch gives its devices and bytes back to its key's caps. */
  private async release(batch: BatchRecord): Promise<void> {
    if (batch.holding !== undefined && batch.owner !== '') await this.deps.quotas.release(batch.owner, batch.holding);
  }
}
