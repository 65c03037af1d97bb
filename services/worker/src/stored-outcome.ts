import type { CallStore } from '@rrpc/store';

export type StoredOutcome = { rrpcCode: 'SUCCESS'; payload: Buffer } | { rrpcCode: 'TIMEOUT' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The outcome of a call another worker began and did not see end (it died): its answer, if the device
 * answered, else TIMEOUT once its deadline passed. Never sends the request again.
 */
export async function storedOutcome(calls: CallStore, messageId: string): Promise<StoredOutcome> {
  for (;;) {
    const record = await calls.get(messageId);
    if (!record || record.state === 'TIMEOUT') return { rrpcCode: 'TIMEOUT' };
    if (record.state === 'SUCCESS') return { rrpcCode: 'SUCCESS', payload: record.payload ?? Buffer.alloc(0) };
    await sleep(Math.min(Math.max(record.deadline - Date.now() + 25, 25), 1000));
  }
}
