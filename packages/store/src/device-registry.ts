import { Cluster } from 'ioredis';
import { deviceId, type DeviceRef } from '@rrpc/topics';
import { Keys } from './keys.js';
import { withScripts, type ScriptCommands } from './scripts.js';
import { guard, type RedisClient } from './connection.js';

/** Seals and opens device secrets (SecretBox of @rrpc/crypto); the store never sees the secrets key. */
export interface SecretSealer {
  seal(plaintext: string, associatedData: string): string;
  open(sealed: string, associatedData: string): string;
  needsReseal(sealed: string): boolean;
}

export interface DeviceRecord extends DeviceRef {
  enabled: boolean;
  /** Registered at, ms since the epoch. */
  createdAt: number;
}

export interface NewDevice {
  device: DeviceRef;
  /** The device secret in clear; sealed before it is stored. */
  secret: string;
}

export interface DevicePage {
  devices: DeviceRecord[];
  /** The name to continue after, or null at the end of the product. */
  nextCursor: string | null;
}

/** Devices registered per pipelined window by createMany. */
const CREATE_WINDOW = 1000;

/** The largest page `list` returns. */
export const MAX_DEVICE_PAGE = 1000;

/**
 * The device registry: one hash per device (sealed secret, enabled, created at) beside its presence hash, and
 * one sorted set of device names per product for paging. call-begin-4.lua reads the record on every call.
 *
 * The product index is written before a device's record and removed after it, so an index entry may name a
 * device that is not (or no longer) registered — never the reverse; reads skip such entries.
 */
export class DeviceRegistry {
  private readonly redis: RedisClient & ScriptCommands;

  constructor(
    redis: RedisClient,
    readonly keys: Keys,
    private readonly sealer: SecretSealer,
  ) {
    this.redis = withScripts(redis);
  }

  /** Registers a device with its secret; 'exists' (and nothing changed) when it is registered already. */
  async create(device: DeviceRef, secret: string, now = Date.now()): Promise<'created' | 'exists'> {
    const [result] = await this.createMany([{ device, secret }], now);
    return result ?? 'exists';
  }

  /**
   * Registers many devices, pipelined: CREATE_WINDOW devices at a time, each window one ZADD per product and its
   * devices' scripts sent together (a few round trips per window, never one per device, and never so many
   * commands queued at once that the last ones outwait the command timeout). Existing devices are left as they are.
   */
  async createMany(devices: readonly NewDevice[], now = Date.now()): Promise<Array<'created' | 'exists'>> {
    const results: Array<'created' | 'exists'> = [];
    for (let start = 0; start < devices.length; start += CREATE_WINDOW) {
      const window = devices.slice(start, start + CREATE_WINDOW);
      const byProduct = new Map<string, string[]>();
      for (const { device } of window) {
        const names = byProduct.get(device.productKey);
        if (names) names.push(device.deviceName);
        else byProduct.set(device.productKey, [device.deviceName]);
      }
      await guard(
        Promise.all(
          [...byProduct].map(([productKey, names]) =>
            this.redis.zadd(this.keys.productDevices(productKey), ...names.flatMap((n) => [0, n])),
          ),
        ),
      );
      const created = await guard(
        Promise.all(
          window.map(({ device, secret }) =>
            this.redis.rrpcDeviceCreate(this.keys.device(device), this.sealer.seal(secret, deviceId(device)), now),
          ),
        ),
      );
      for (const r of created) results.push(r === 1 ? 'created' : 'exists');
    }
    return results;
  }

  async get(device: DeviceRef): Promise<DeviceRecord | undefined> {
    const [e, c] = await guard(this.redis.hmget(this.keys.device(device), 'e', 'c'));
    return e ? { ...device, enabled: e === '1', createdAt: Number(c) } : undefined;
  }

  /** Several devices' records in one pipelined round trip (undefined where not registered). */
  async getMany(devices: readonly DeviceRef[]): Promise<Array<DeviceRecord | undefined>> {
    const replies = await guard(Promise.all(devices.map((d) => this.redis.hmget(this.keys.device(d), 'e', 'c'))));
    return replies.map(([e, c], i) => {
      const device = devices[i];
      return e && device ? { ...device, enabled: e === '1', createdAt: Number(c) } : undefined;
    });
  }

  /** The record and the device's secret in clear (for authentication); undefined when not registered. */
  async credentials(device: DeviceRef): Promise<{ record: DeviceRecord; secret: string } | undefined> {
    const [s, e, c] = await guard(this.redis.hmget(this.keys.device(device), 's', 'e', 'c'));
    if (!s || !e) return undefined;
    return { record: { ...device, enabled: e === '1', createdAt: Number(c) }, secret: this.sealer.open(s, deviceId(device)) };
  }

  /** Enables or disables a device; false when it is not registered. */
  async setEnabled(device: DeviceRef, enabled: boolean): Promise<boolean> {
    return (await guard(this.redis.rrpcDeviceUpdate(this.keys.device(device), 'e', enabled ? '1' : '0'))) === 1;
  }

  /** Replaces a device's secret (the old one stops working at once); false when it is not registered. */
  async replaceSecret(device: DeviceRef, secret: string): Promise<boolean> {
    return (await guard(this.redis.rrpcDeviceUpdate(this.keys.device(device), 's', this.sealer.seal(secret, deviceId(device))))) === 1;
  }

  /** Unregisters a device; false when it was not registered. */
  async delete(device: DeviceRef): Promise<boolean> {
    const removed = await guard(this.redis.del(this.keys.device(device)));
    await guard(this.redis.zrem(this.keys.productDevices(device.productKey), device.deviceName));
    return removed === 1;
  }

  /**
   * One page of a product's devices, by name, after `cursor` (a device name; exclusive). Costs O(log N + limit)
   * whatever the product's size: one ZRANGE BYLEX, then one pipelined read of the page's records.
   */
  async list(productKey: string, options: { cursor?: string | undefined; limit: number }): Promise<DevicePage> {
    const limit = Math.max(1, Math.min(MAX_DEVICE_PAGE, Math.floor(options.limit)));
    const start = options.cursor === undefined ? '-' : `(${options.cursor}`;
    // One name more than the page: whether another page follows is known now (no empty last page).
    const found = await guard(this.redis.zrange(this.keys.productDevices(productKey), start, '+', 'BYLEX', 'LIMIT', 0, limit + 1));
    const names = found.slice(0, limit);
    const records = await this.getMany(names.map((deviceName) => ({ productKey, deviceName })));
    const devices = records.filter((r): r is DeviceRecord => r !== undefined);
    const last = names[names.length - 1];
    return { devices, nextCursor: found.length > limit && last !== undefined ? last : null };
  }

  /**
   * Re-seals, under the current secrets key, the secrets of a product's devices sealed under an older key
   * (after RRPC_SECRETS_KEY was rotated), a page at a time (one pipelined read, one pipelined write per page).
   * Each write is a compare-and-set (device-reseal-1.lua): a secret rotated or a device deleted meanwhile is
   * left as it is. Returns how many were rewritten; safe to run again (and alongside the services).
   */
  async resealProduct(productKey: string): Promise<number> {
    let cursor: string | undefined;
    let resealed = 0;
    for (;;) {
      const start = cursor === undefined ? '-' : `(${cursor}`;
      const names = await guard(this.redis.zrange(this.keys.productDevices(productKey), start, '+', 'BYLEX', 'LIMIT', 0, MAX_DEVICE_PAGE));
      const devices = names.map((deviceName) => ({ productKey, deviceName }));
      const sealed = await guard(Promise.all(devices.map((d) => this.redis.hget(this.keys.device(d), 's'))));
      const writes = devices.flatMap((device, i) => {
        const old = sealed[i];
        if (!old || !this.sealer.needsReseal(old)) return [];
        const id = deviceId(device);
        return [this.redis.rrpcDeviceReseal(this.keys.device(device), old, this.sealer.seal(this.sealer.open(old, id), id))];
      });
      resealed += (await guard(Promise.all(writes))).filter((r) => r === 1).length;
      if (names.length < MAX_DEVICE_PAGE) return resealed;
      cursor = names[names.length - 1];
    }
  }

  /** The product keys that have a device index, found with SCAN (on a Redis Cluster, on every primary). */
  async products(): Promise<string[]> {
    const nodes = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
    const found = new Set<string>();
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await guard(node.scan(cursor, 'MATCH', this.keys.productDevicesPattern, 'COUNT', 1000));
        cursor = next;
        for (const key of keys) {
          const productKey = this.keys.productOfDevicesKey(key);
          if (productKey !== undefined) found.add(productKey);
        }
      } while (cursor !== '0');
    }
    return [...found].sort();
  }

  /** Re-seals every product's device secrets under the current key (see resealProduct). */
  async resealAll(onProduct?: (productKey: string, resealed: number) => void): Promise<{ products: number; resealed: number }> {
    const products = await this.products();
    let resealed = 0;
    for (const productKey of products) {
      const n = await this.resealProduct(productKey);
      onProduct?.(productKey, n);
      resealed += n;
    }
    return { products: products.length, resealed };
  }
}
