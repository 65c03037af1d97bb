import type { BatchItem, BatchRecord, CallbackStatus, JobRecord } from '@rrpc/store';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/**
 * A callback's state as the API shows it: our own words only, field by field (a record written by an older
 * worker may still hold the receiver's status or error text; they are never shown).
 */
function callbackView(status: CallbackStatus | undefined) {
  if (status === undefined) return { state: 'PENDING', attempts: 0 };
  const known = (['PENDING', 'RETRYING', 'DELIVERED', 'FAILED'] as const).includes(status.state);
  const state = !known || (status.state === 'PENDING' && status.attempts > 0) ? 'RETRYING' : status.state;
  return {
    state,
    attempts: status.attempts,
    ...(status.lastAttemptAt !== undefined ? { lastAttemptAt: iso(status.lastAttemptAt) } : {}),
    ...(status.deliveredAt !== undefined ? { deliveredAt: iso(status.deliveredAt) } : {}),
  };
}

/** A job as the API shows it (and as callbacks post it). */
export function jobView(job: JobRecord) {
  return {
    id: job.id,
    productKey: job.device.productKey,
    deviceName: job.device.deviceName,
    state: job.state,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    createdAt: iso(job.createdAt),
    updatedAt: iso(job.updatedAt),
    expiresAt: iso(job.expiresAt),
    finishedAt: iso(job.finishedAt),
    timeoutMs: job.timeoutMs,
    ...(job.topic !== undefined ? { topic: job.topic } : {}),
    result: job.result ?? null,
    ...(job.error !== undefined ? { error: job.error } : {}),
    ...(job.callbackUrl !== undefined ? { callbackUrl: job.callbackUrl, callback: callbackView(job.callback) } : {}),
    ...(job.batch !== undefined ? { batchId: job.batch.id } : {}),
  };
}

export function batchView(batch: BatchRecord) {
  return {
    id: batch.id,
    state: batch.state,
    total: batch.total,
    done: batch.done,
    counts: batch.counts,
    concurrency: batch.concurrency,
    timeoutMs: batch.timeoutMs,
    persistent: batch.persistent,
    ...(batch.persistent ? { ttlMs: batch.ttlMs } : {}),
    createdAt: iso(batch.createdAt),
    finishedAt: iso(batch.finishedAt),
  };
}

export function batchItemView(item: BatchItem) {
  return {
    index: item.index,
    productKey: item.device.productKey,
    deviceName: item.device.deviceName,
    ...(item.result ?? { rrpcCode: null, pending: true, ...(item.marker?.startsWith('j:') ? { jobId: item.marker.slice(2) } : {}) }),
  };
}
