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
}

export interface BatchRecord extends Omit<NewBatch, 'devices'> {
  state: 'RUNNING' | 'DONE';
  total: number;
  done: number;
  counts: Record<string, number>;
  createdAt: number;
  finishedAt: number | undefined;
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

  async create(batch: NewBatch): Promise<void> {
    const ttl = this.retentionMs + (batch.persistent ? batch.ttlMs : 0);
    const devicesKey = this.keys.batchDevices(batch.id);
    for (let i = 0; i < batch.devices.length; i += CHUNK) {
      await guard(this.redis.rpush(devicesKey, ...batch.devices.slice(i, i + CHUNK).map(deviceId)));
    }
    const batchKey = this.keys.batch(batch.id);
    const fields: Array<string | number> = [
      'id', batch.id, 'st', batch.devices.length === 0 ? 'DONE' : 'RUNNING', 'total', batch.devices.length, 'done', 0,
      'pl', batch.payload, 'to', batch.timeoutMs, 'cc', batch.concurrency, 'ps', batch.persistent ? 1 : 0, 'ttl', batch.ttlMs, 'ca', Date.now(),
    ];
    if (batch.topic !== undefined) fields.push('tp', batch.topic);
    if (batch.devices.length === 0) fields.push('fa', Date.now());
    if (batch.trace !== undefined && batch.trace.length <= 1024) fields.push('trc', batch.trace);
    await guard(this.redis.hset(batchKey, ...fields));
    await guard(Promise.all([batchKey, devicesKey, this.keys.batchResults(batch.id), this.keys.batchItems(batch.id)].map((k) => this.redis.pexpire(k, ttl))));
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
    };
  }

  /** Items [start, start + count): device, result and progress marker. */
  async items(batchId: string, start: number, count: number): Promise<BatchItem[]> {
    if (count <= 0) return [];
    const ids = await guard(this.redis.lrange(this.keys.batchDevices(batchId), start, start + count - 1));
    if (ids.length === 0) return [];
    const fields = ids.map((_, i) => String(start + i));
    const [results, markers] = await guard(
      Promise.all([this.redis.hmget(this.keys.batchResults(batchId), ...fields), this.redis.hmget(this.keys.batchItems(batchId), ...fields)]),
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

  async mark(batchId: string, index: number, marker: string): Promise<void> {
    await guard(this.redis.hset(this.keys.batchItems(batchId), String(index), marker));
  }

  /** Stores an item's result once; returns whether this call stored it and whether the batch is done. */
  async record(batchId: string, index: number, result: BatchItemResult): Promise<{ recorded: boolean; done: boolean }> {
    const [recorded, done, total] = await guard(
      this.redis.rrpcBatchRecord(this.keys.batch(batchId), this.keys.batchResults(batchId), String(index), result.rrpcCode, JSON.stringify(result)),
    );
    return { recorded: recorded === 1, done: done >= total };
  }
}
