import { deviceId, type DeviceRef } from '@rrpc/topics';
import { Keys } from './keys.js';
import { withScripts, type ScriptCommands } from './scripts.js';
import { guard, type RedisClient } from './connection.js';

export interface NewBatch {
  id: string;
  devices: readonly DeviceRef[];
  /** Request bytes, base64. */
  payload: string;
  timeoutMs: number;
  topic?: string | undefined;
  concurrency: number;
  /** Offline devices are waited for (as jobs) until createdAt + ttlMs. */
  persistent: boolean;
  ttlMs: number;
  /** The caller's trace context, "<traceparent>[\n<tracestate>]" (docs/tracing.md): the worker continues it. */
  trace?: string | undefined;
  /** The id of the API key that created the batch: only that key reads it; its device calls spend its rate. */
  owner: string;
  /** The owner's calls-per-second limit when the batch was made (0: none): the worker spends it per device call. */
  ratePerSecond: number;
  /** The key's quota holding (QuotaStore.member), given back when the batch is done; absent: none. */
  holding?: string | undefined;
}

export interface BatchRecord extends Omit<NewBatch, 'devices'> {
  state: 'RUNNING' | 'DONE';
  total: number;
  done: number;
  counts: Record<string, number>;
  createdAt: number;
  finishedAt: number | undefined;
  /** When every key of the batch expires (ms since the epoch); keys written later get the same end. */
  expiresAt: number;
}

/** One device's result in a batch (stored as JSON by item index). */
export interface BatchItemResult {
  rrpcCode: string;
  messageId?: string | undefined;
  payload?: string | undefined;
  jobId?: string | undefined;
  error?: string | undefined;
}

export interface BatchItem {
  index: number;
  device: DeviceRef;
  result: BatchItemResult | undefined;
  /** "m:<messageId>" once its call has begun; "j:<jobId>" when it waits as a job. */
  marker: string | undefined;
}

const CHUNK = 1000;
const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));

function parseDevice(id: string): DeviceRef {
  const slash = id.indexOf('/');
  return { productKey: id.slice(0, slash), deviceName: id.slice(slash + 1) };
}

/** Batches: a record with counts, the device list, per-item progress markers and results. */
export class BatchStore {
  private readonly redis: RedisClient & ScriptCommands;

  constructor(
    redis: RedisClient,
    readonly keys: Keys,
    /** How long a batch stays readable after it is created, ms (longer for persistent batches: + ttlMs). */
    private readonly retentionMs: number,
  ) {
    this.redis = withScripts(redis);
  }

  /** How long a batch's keys live from its creation, ms. */
  lifetimeMs(batch: Pick<NewBatch, 'persistent' | 'ttlMs'>): number {
    return this.retentionMs + (batch.persistent ? batch.ttlMs : 0);
  }

  /** Records the batch: its hash (with the payload, once) and its device list, each with its TTL as it is written. */
  async create(batch: NewBatch): Promise<void> {
    const now = Date.now();
    const expiresAt = now + this.lifetimeMs(batch);
    const devicesKey = this.keys.batchDevices(batch.id);
    const batchKey = this.keys.batch(batch.id);
    const fields: Array<string | number> = [
      'id',
      batch.id,
      'st',
      batch.devices.length === 0 ? 'DONE' : 'RUNNING',
      'total',
      batch.devices.length,
      'done',
      0,
      'pl',
      batch.payload,
      'to',
      batch.timeoutMs,
      'cc',
      batch.concurrency,
      'ps',
      batch.persistent ? 1 : 0,
      'ttl',
      batch.ttlMs,
      'ca',
      now,
      'o',
      batch.owner,
      'kr',
      batch.ratePerSecond,
      'ex',
      expiresAt,
    ];
    if (batch.topic !== undefined) fields.push('tp', batch.topic);
    if (batch.holding !== undefined) fields.push('q', batch.holding);
    if (batch.devices.length === 0) fields.push('fa', now);
    if (batch.trace !== undefined && batch.trace.length <= 1024) fields.push('trc', batch.trace);
    // One transaction (every key has the batch's hash tag): no key exists without its TTL.
    const tx = this.redis.multi();
    for (let i = 0; i < batch.devices.length; i += CHUNK) tx.rpush(devicesKey, ...batch.devices.slice(i, i + CHUNK).map(deviceId));
    tx.hset(batchKey, ...fields);
    tx.pexpireat(batchKey, expiresAt);
    if (batch.devices.length > 0) tx.pexpireat(devicesKey, expiresAt);
    await guard(tx.exec());
  }

  async get(batchId: string): Promise<BatchRecord | undefined> {
    const h = await guard(this.redis.hgetall(this.keys.batch(batchId)));
    if (h['ca'] === undefined) return undefined;
    const counts: Record<string, number> = {};
    for (const [field, value] of Object.entries(h)) if (field.startsWith('c:')) counts[field.slice(2)] = Number(value);
    return {
      id: batchId,
      state: h['st'] === 'DONE' ? 'DONE' : 'RUNNING',
      total: num(h['total']) ?? 0,
      done: num(h['done']) ?? 0,
      counts,
      payload: h['pl'] ?? '',
      timeoutMs: num(h['to']) ?? 8000,
      topic: h['tp'],
      concurrency: num(h['cc']) ?? 1,
      persistent: h['ps'] === '1',
      ttlMs: num(h['ttl']) ?? 0,
      createdAt: num(h['ca']) ?? 0,
      finishedAt: num(h['fa']),
      trace: h['trc'],
      owner: h['o'] ?? '',
      ratePerSecond: num(h['kr']) ?? 0,
      holding: h['q'],
      expiresAt: num(h['ex']) ?? (num(h['ca']) ?? 0) + this.lifetimeMs({ persistent: h['ps'] === '1', ttlMs: num(h['ttl']) ?? 0 }),
    };
  }

  /** Items [start, start + count): device, result and progress marker. */
  async items(batchId: string, start: number, count: number): Promise<BatchItem[]> {
    if (count <= 0) return [];
    const ids = await guard(this.redis.lrange(this.keys.batchDevices(batchId), start, start + count - 1));
    if (ids.length === 0) return [];
    const fields = ids.map((_, i) => String(start + i));
    const [results, markers] = await guard(
      Promise.all([
        this.redis.hmget(this.keys.batchResults(batchId), ...fields),
        this.redis.hmget(this.keys.batchItems(batchId), ...fields),
      ]),
    );
    return ids.map((id, i) => {
      const raw = results[i];
      return {
        index: start + i,
        device: parseDevice(id),
        result: raw ? (JSON.parse(raw) as BatchItemResult) : undefined,
        marker: markers[i] ?? undefined,
      };
    });
  }

  /** Records an item's progress marker; the items hash ends with the rest of the batch. */
  async mark(batch: Pick<BatchRecord, 'id' | 'expiresAt'>, index: number, marker: string): Promise<void> {
    const key = this.keys.batchItems(batch.id);
    await guard(this.redis.multi().hset(key, String(index), marker).pexpireat(key, batch.expiresAt).exec());
  }

  /** Stores an item's result once; returns whether this call stored it and whether the batch is done. */
  async record(batchId: string, index: number, result: BatchItemResult): Promise<{ recorded: boolean; done: boolean }> {
    const [recorded, done, total] = await guard(
      this.redis.rrpcBatchRecord(
        this.keys.batch(batchId),
        this.keys.batchResults(batchId),
        String(index),
        result.rrpcCode,
        JSON.stringify(result),
      ),
    );
    return { recorded: recorded === 1, done: done >= total };
  }
}
