import { deviceId, type DeviceRef } from '@rrpc/topics';
import { Keys } from './keys.js';
import { withScripts, type ScriptCommands } from './scripts.js';
import { guard, type RedisClient } from './connection.js';

export const JOB_STATES = ['QUEUED', 'SENT', 'SUCCEEDED', 'TIMEOUT', 'EXPIRED', 'FAILED', 'CANCELLED'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINAL_JOB_STATES: readonly JobState[] = ['SUCCEEDED', 'TIMEOUT', 'EXPIRED', 'FAILED', 'CANCELLED'];

export interface JobResult {
  rrpcCode: 'SUCCESS' | 'TIMEOUT' | 'OFFLINE' | 'HALFCONN';
  messageId?: string | undefined;
  /** The device's answer, base64. */
  payload?: string | undefined;
}

/**
 * Where a job's callback stands. Only our own words: never the receiver's HTTP status or error text, so a
 * callback URL cannot be used to probe what answers where.
 */
export interface CallbackStatus {
  state: 'PENDING' | 'RETRYING' | 'DELIVERED' | 'FAILED';
  attempts: number;
  lastAttemptAt?: number | undefined;
  deliveredAt?: number | undefined;
}

/** Which key's callback secret signs a job's callback (no secret: the worker derives it; see @rrpc/jobs). */
export interface CallbackKey {
  keyId: string;
  generation: number;
  /** Until when (unix ms) the previous generation signs too. */
  previousUntil?: number | undefined;
}

export interface NewJob {
  id: string;
  device: DeviceRef;
  /** Request bytes, base64; "" for a batch's item (the payload is the batch's, stored once). */
  payload: string;
  timeoutMs: number;
  topic?: string | undefined;
  expiresAt: number;
  maxAttempts: number;
  callbackUrl?: string | undefined;
  batch?: { id: string; index: number } | undefined;
  /** The creating key's own callback secret; undefined: the shared RRPC_CALLBACK_SECRET signs. */
  callbackKey?: CallbackKey | undefined;
  /** The caller's trace context, "<traceparent>[\n<tracestate>]" (docs/tracing.md): the worker continues it. */
  trace?: string | undefined;
  /** The id of the API key that created the job (or its batch): only that key reads it. */
  owner: string;
  /** The key's quota holding (QuotaStore.member), given back when the job finishes; absent: none. */
  holding?: string | undefined;
}

export interface JobRecord extends NewJob {
  state: JobState;
  attempts: number;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | undefined;
  /** Message ID of the latest attempt (recorded before its request is published). */
  messageId: string | undefined;
  result: JobResult | undefined;
  callback: CallbackStatus | undefined;
  error: string | undefined;
}

export interface TransitionResult {
  moved: boolean;
  state: JobState | undefined;
  attempts: number;
}

const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));

/** Persistent calls (jobs): one hash per job and a per-device queue in creation order. */
export class JobStore {
  private readonly redis: RedisClient & ScriptCommands;

  constructor(
    redis: RedisClient,
    readonly keys: Keys,
    /** How long a finished job stays readable, ms. */
    private readonly retentionMs: number,
  ) {
    this.redis = withScripts(redis);
  }

  /** Records the job and queues it behind the device's earlier jobs; a second create changes nothing. */
  async create(job: NewJob): Promise<{ created: boolean; createdAt: number }> {
    const fields: Array<string | number> = [
      'id',
      job.id,
      'd',
      deviceId(job.device),
      'to',
      job.timeoutMs,
      'ea',
      job.expiresAt,
      'max',
      job.maxAttempts,
      'o',
      job.owner,
    ];
    if (job.payload !== '') fields.push('pl', job.payload);
    if (job.holding !== undefined) fields.push('q', job.holding);
    if (job.topic !== undefined) fields.push('tp', job.topic);
    if (job.callbackUrl !== undefined) fields.push('cb', job.callbackUrl);
    if (job.batch !== undefined) fields.push('bt', job.batch.id, 'bi', job.batch.index);
    if (job.callbackKey !== undefined)
      fields.push('cbk', job.callbackKey.keyId, 'cbg', job.callbackKey.generation, 'cbp', job.callbackKey.previousUntil ?? '');
    if (job.trace !== undefined && job.trace.length <= 1024) fields.push('trc', job.trace);
    // The job's keys live until it expires, plus the last attempt's timeout, plus the retention of a finished job.
    const indexTtl = Math.max(job.expiresAt - Date.now(), 0) + job.timeoutMs + this.retentionMs;
    const [created, createdAt] = await guard(
      this.redis.rrpcJobCreate(
        this.keys.job(job.device, job.id),
        this.keys.deviceJobs(job.device),
        this.keys.deviceJobIndex(job.device),
        job.id,
        indexTtl,
        ...fields,
      ),
    );
    if (created === 1) await guard(this.redis.sadd(this.keys.jobDevices, deviceId(job.device)));
    return { created: created === 1, createdAt };
  }

  async get(device: DeviceRef, jobId: string): Promise<JobRecord | undefined> {
    const h = await guard(this.redis.hgetall(this.keys.job(device, jobId)));
    return h['ca'] === undefined ? undefined : toRecord(device, h);
  }

  /** The job to deliver next to this device (the oldest unfinished one). */
  async head(device: DeviceRef): Promise<string | undefined> {
    const [first] = await guard(this.redis.zrange(this.keys.deviceJobs(device), 0, 0));
    return first;
  }

  /** A device's jobs, newest first, optionally of one state and of one owner (undefined: every owner's). */
  async list(device: DeviceRef, state: JobState | undefined, limit: number, owner?: string): Promise<JobRecord[]> {
    const ids = await guard(this.redis.zrevrange(this.keys.deviceJobIndex(device), 0, 999));
    const found: JobRecord[] = [];
    const gone: string[] = [];
    const hashes = await guard(Promise.all(ids.map((id) => this.redis.hgetall(this.keys.job(device, id)))));
    hashes.forEach((h, i) => {
      if (h['ca'] === undefined) {
        gone.push(ids[i] ?? '');
        return;
      }
      const record = toRecord(device, h);
      if ((state === undefined || record.state === state) && (owner === undefined || record.owner === owner) && found.length < limit)
        found.push(record);
    });
    if (gone.length > 0) await guard(this.redis.zrem(this.keys.deviceJobIndex(device), ...gone));
    return found;
  }

  /**
   * Compare-and-set of the job's state. `final` takes it out of the device queue and starts its retention.
   * `fields` are written too (raw hash fields: mid, rc, rp, ra, err, sa).
   */
  async transition(
    device: DeviceRef,
    jobId: string,
    change: { from: readonly JobState[]; to: JobState; attemptsDelta?: number; fields?: Record<string, string | number> },
  ): Promise<TransitionResult> {
    const final = FINAL_JOB_STATES.includes(change.to);
    const extra = Object.entries(change.fields ?? {}).flat();
    const reply = await guard(
      this.redis.rrpcJobTransition(
        this.keys.job(device, jobId),
        this.keys.deviceJobs(device),
        jobId,
        change.from.join(','),
        change.to,
        final ? '1' : '0',
        change.attemptsDelta ?? 0,
        this.retentionMs,
        ...extra,
      ),
    );
    const state = reply[1] === '' ? undefined : (reply[1] as JobState);
    return { moved: reply[0] === 1, state, attempts: Number(reply[2]) };
  }

  /** Records the message ID of the attempt in flight, before its request is published. */
  async setMessageId(device: DeviceRef, jobId: string, messageId: string): Promise<void> {
    await guard(this.redis.hset(this.keys.job(device, jobId), 'mid', messageId));
  }

  async setCallback(device: DeviceRef, jobId: string, status: CallbackStatus): Promise<void> {
    await guard(this.redis.hset(this.keys.job(device, jobId), 'cbs', JSON.stringify(status)));
  }

  /** Drops a device from the set of devices with jobs when its queue is empty. */
  async forgetDeviceIfIdle(device: DeviceRef): Promise<void> {
    if ((await guard(this.redis.zcard(this.keys.deviceJobs(device)))) === 0) {
      await guard(this.redis.srem(this.keys.jobDevices, deviceId(device)));
    }
  }

  /** Every device that has unfinished jobs (scanned, not read at once). */
  async *devicesWithJobs(): AsyncGenerator<DeviceRef> {
    let cursor = '0';
    do {
      const [next, members] = await guard(this.redis.sscan(this.keys.jobDevices, cursor, 'COUNT', 500));
      cursor = next;
      for (const id of members) {
        const slash = id.indexOf('/');
        if (slash > 0) yield { productKey: id.slice(0, slash), deviceName: id.slice(slash + 1) };
      }
    } while (cursor !== '0');
  }
}

function toRecord(device: DeviceRef, h: Record<string, string>): JobRecord {
  const rc = h['rc'] as JobResult['rrpcCode'] | undefined;
  return {
    id: h['id'] ?? '',
    device,
    state: (h['st'] ?? 'QUEUED') as JobState,
    attempts: num(h['att']) ?? 0,
    maxAttempts: num(h['max']) ?? 1,
    createdAt: num(h['ca']) ?? 0,
    updatedAt: num(h['ua']) ?? 0,
    finishedAt: num(h['fa']),
    expiresAt: num(h['ea']) ?? 0,
    timeoutMs: num(h['to']) ?? 8000,
    payload: h['pl'] ?? '',
    topic: h['tp'],
    callbackUrl: h['cb'],
    batch: h['bt'] !== undefined ? { id: h['bt'], index: num(h['bi']) ?? 0 } : undefined,
    owner: h['o'] ?? '',
    holding: h['q'],
    messageId: h['mid'] || undefined,
    result: rc === undefined ? undefined : { rrpcCode: rc, messageId: h['rmid'], payload: h['rp'] },
    callback: h['cbs'] !== undefined ? (JSON.parse(h['cbs']) as CallbackStatus) : undefined,
    callbackKey: h['cbk'] !== undefined ? { keyId: h['cbk'], generation: num(h['cbg']) ?? 1, previousUntil: num(h['cbp']) } : undefined,
    error: h['err'],
    trace: h['trc'],
  };
}
