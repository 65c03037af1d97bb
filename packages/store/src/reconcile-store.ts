import { Cluster, type Redis } from 'ioredis';
import { deviceId, type DeviceRef } from '@rrpc/topics';
import { Keys } from './keys.js';
import { guard, type RedisClient } from './connection.js';

/** Most timed-out devices kept waiting for a check (older reports are dropped). */
const MAX_TIMEOUT_REPORTS = 1000;
const TIMEOUT_REPORTS_TTL_MS = 3_600_000;

function parseDevice(id: string): DeviceRef | undefined {
  const slash = id.indexOf('/');
  if (slash <= 0 || slash === id.length - 1) return undefined;
  return { productKey: id.slice(0, slash), deviceName: id.slice(slash + 1) };
}

/**
 * The Redis side of reconciling presence with the broker: the api reports devices whose calls timed out
 * (a bounded list the ingest drains), a lease so one ingest replica sweeps at a time, and a paged walk over
 * presence records whose position survives the lease moving to another replica.
 */
export class ReconcileStore {
  constructor(
    private readonly redis: RedisClient,
    readonly keys: Keys,
  ) {}

  /** The api: a call to `device` timed out (one pipelined write, only on the timeout path). */
  async reportTimeout(device: DeviceRef): Promise<void> {
    const key = this.keys.reconcileTimeouts;
    await guard(
      this.redis
        .multi()
        .lpush(key, deviceId(device))
        .ltrim(key, 0, MAX_TIMEOUT_REPORTS - 1)
        .pexpire(key, TIMEOUT_REPORTS_TTL_MS)
        .exec(),
    );
  }

  /** The ingest: up to `count` reported devices, oldest first, each once (duplicates folded). */
  async takeTimeouts(count: number): Promise<DeviceRef[]> {
    const ids = (await guard(this.redis.rpop(this.keys.reconcileTimeouts, count))) ?? [];
    return [...new Set(ids)].map(parseDevice).filter((d): d is DeviceRef => d !== undefined);
  }

  /** Takes (or, when this replica holds it, renews) the sweep lease for `ms`; false while another replica holds it. */
  async acquireLease(instanceId: string, ms: number): Promise<boolean> {
    const key = this.keys.reconcileLease;
    if ((await guard(this.redis.set(key, instanceId, 'PX', ms, 'NX'))) === 'OK') return true;
    if ((await guard(this.redis.get(key))) !== instanceId) return false;
    await guard(this.redis.pexpire(key, ms));
    return true;
  }

  /**
   * One page of the walk over presence records: the devices of up to ~`count` records (SCAN), resuming
   * where the previous page stopped; `done` once the walk came round (it starts again next time).
   */
  async presencePage(count: number): Promise<{ devices: DeviceRef[]; done: boolean }> {
    const nodes: Redis[] = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
    const saved = (await guard(this.redis.get(this.keys.reconcileCursor))) ?? '0:0';
    const [first = '0', cursor = '0'] = saved.split(':');
    let nodeIndex = Number(first);
    if (!Number.isInteger(nodeIndex) || nodeIndex >= nodes.length) nodeIndex = 0;
    const node = nodes[nodeIndex] as Redis;
    const [next, keys] = await guard(node.scan(cursor, 'MATCH', this.keys.presencePattern, 'COUNT', count));
    let done = false;
    if (next === '0') {
      nodeIndex++;
      if (nodeIndex >= nodes.length) {
        nodeIndex = 0;
        done = true;
      }
    }
    await guard(this.redis.set(this.keys.reconcileCursor, `${nodeIndex}:${next}`, 'PX', TIMEOUT_REPORTS_TTL_MS));
    const prefix = `${this.keys.namespace}:{`;
    const devices = keys
      .filter((k) => k.startsWith(prefix) && k.endsWith('}:presence'))
      .map((k) => parseDevice(k.slice(prefix.length, -'}:presence'.length)))
      .filter((d): d is DeviceRef => d !== undefined);
    return { devices, done };
  }
}
