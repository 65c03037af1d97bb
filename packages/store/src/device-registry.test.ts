import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '@rrpc/crypto';
import { startRedis, type ManagedServer } from '@rrpc/testing';
import { Keys } from './keys.js';
import { connectRedis, createRedis, type RedisClient } from './connection.js';
import { CallStore } from './call-store.js';
import { DeviceRegistry } from './device-registry.js';
import { PresenceStore } from './presence-store.js';

let server: ManagedServer;
let redis: RedisClient;
let n = 0;
const box = new SecretBox(randomBytes(32));
/** A fresh namespace per test: nothing one test writes is seen by another. */
const fresh = () => new Keys(`reg${++n}`);

beforeAll(async () => {
  server = await startRedis();
  redis = createRedis({ url: server.url, commandTimeoutMs: 1000, connectionName: 'registry-test' });
  await connectRedis(redis);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

describe('DeviceRegistry', () => {
  it('registers once, never overwrites, and stores the secret sealed', async () => {
    const keys = fresh();
    const registry = new DeviceRegistry(redis, keys, box);
    const device = { productKey: 'pk1', deviceName: 'dev-0001' };
    expect(await registry.create(device, 'first-secret-0123456789', 1000)).toBe('created');
    expect(await registry.create(device, 'other-secret-0123456789', 2000)).toBe('exists');
    expect(await registry.get(device)).toEqual({ ...device, enabled: true, createdAt: 1000 });
    const stored = await redis.hget(keys.device(device), 's');
    expect(stored).not.toContain('first-secret');
    expect((await registry.credentials(device))?.secret).toBe('first-secret-0123456789');
    expect(await registry.get({ productKey: 'pk1', deviceName: 'nobody' })).toBeUndefined();
  });

  it('disables, rotates and deletes; updates never create a device', async () => {
    const registry = new DeviceRegistry(redis, fresh(), box);
    const device = { productKey: 'pk1', deviceName: 'dev-0002' };
    expect(await registry.setEnabled(device, false)).toBe(false);
    expect(await registry.replaceSecret(device, 'x'.repeat(20))).toBe(false);
    expect(await registry.get(device)).toBeUndefined();
    await registry.create(device, 'first-secret-0123456789');
    expect(await registry.setEnabled(device, false)).toBe(true);
    expect((await registry.get(device))?.enabled).toBe(false);
    expect(await registry.replaceSecret(device, 'second-secret-0123456789')).toBe(true);
    expect((await registry.credentials(device))?.secret).toBe('second-secret-0123456789');
    expect(await registry.delete(device)).toBe(true);
    expect(await registry.delete(device)).toBe(false);
    expect(await registry.get(device)).toBeUndefined();
  });

  it('pages a product by name with a cursor and skips index entries without a record', async () => {
    const keys = fresh();
    const registry = new DeviceRegistry(redis, keys, box);
    const names = Array.from({ length: 25 }, (_, i) => `dev-${String(i).padStart(4, '0')}`);
    const results = await registry.createMany(
      names.map((deviceName) => ({ device: { productKey: 'pk2', deviceName }, secret: `secret-of-${deviceName}-x` })),
    );
    expect(results.every((r) => r === 'created')).toBe(true);
    await registry.create({ productKey: 'other', deviceName: 'dev-0000' }, 'secret-of-other-device');
    await redis.del(keys.device({ productKey: 'pk2', deviceName: 'dev-0011' })); // an index entry left behind
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const result = await registry.list('pk2', { cursor, limit: 10 });
      seen.push(...result.devices.map((d) => d.deviceName));
      if (result.nextCursor === null) break;
      cursor = result.nextCursor;
    }
    expect(seen).toEqual(names.filter((name) => name !== 'dev-0011'));
  });

  it('re-seals secrets sealed under a previous secrets key', async () => {
    const keys = fresh();
    const oldKey = randomBytes(32);
    const device = { productKey: 'pk3', deviceName: 'dev-0001' };
    await new DeviceRegistry(redis, keys, new SecretBox(oldKey)).create(device, 'kept-secret-0123456789');
    const rotated = new SecretBox(randomBytes(32), [oldKey]);
    const registry = new DeviceRegistry(redis, keys, rotated);
    expect(await registry.resealProduct('pk3')).toBe(1);
    expect(await registry.resealProduct('pk3')).toBe(0);
    expect(rotated.needsReseal((await redis.hget(keys.device(device), 's')) ?? '')).toBe(false);
    expect((await registry.credentials(device))?.secret).toBe('kept-secret-0123456789');
  });

  it('re-sealing never undoes a rotation that lands between its read and its write (compare-and-set)', async () => {
    const keys = fresh();
    const oldKey = randomBytes(32);
    const device = { productKey: 'pk5', deviceName: 'dev-0001' };
    await new DeviceRegistry(redis, keys, new SecretBox(oldKey)).create(device, 'old-secret-0123456789');
    const current = new SecretBox(randomBytes(32), [oldKey]);
    let rotatedTo: string | undefined;
    // A sealer that, while the re-seal pass opens the old secret, lets a rotation write a new one first.
    const racing = {
      seal: (p: string, ad: string) => current.seal(p, ad),
      needsReseal: (s: string) => current.needsReseal(s),
      open: (sealed: string, ad: string) => {
        if (rotatedTo === undefined) {
          rotatedTo = current.seal('rotated-secret-0123456789', ad);
          void redis.hset(keys.device(device), 's', rotatedTo);
        }
        return current.open(sealed, ad);
      },
    };
    expect(await new DeviceRegistry(redis, keys, racing).resealProduct('pk5')).toBe(0);
    expect(await redis.hget(keys.device(device), 's')).toBe(rotatedTo);
    expect((await new DeviceRegistry(redis, keys, current).credentials(device))?.secret).toBe('rotated-secret-0123456789');
  });

  it('finds every product with a device index by SCAN, and re-seals them all', async () => {
    const keys = fresh();
    const oldKey = randomBytes(32);
    const before = new DeviceRegistry(redis, keys, new SecretBox(oldKey));
    await before.createMany(
      ['pkA', 'pkB', 'pkC'].flatMap((productKey) =>
        [1, 2].map((i) => ({ device: { productKey, deviceName: `dev-000${i}` }, secret: `secret-${productKey}-${i}-0123456` })),
      ),
    );
    const after = new DeviceRegistry(redis, keys, new SecretBox(randomBytes(32), [oldKey]));
    expect(await after.products()).toEqual(['pkA', 'pkB', 'pkC']);
    const seen: string[] = [];
    expect(await after.resealAll((pk, n) => seen.push(`${pk}:${n}`))).toEqual({ products: 3, resealed: 6 });
    expect(seen).toEqual(['pkA:2', 'pkB:2', 'pkC:2']);
    expect((await after.credentials({ productKey: 'pkB', deviceName: 'dev-0002' }))?.secret).toBe('secret-pkB-2-0123456');
  });
});

describe('call-begin with the registry (call-begin-4.lua)', () => {
  it('refuses unregistered and disabled devices before presence, and records nothing', async () => {
    const keys = fresh();
    const registry = new DeviceRegistry(redis, keys, box);
    const calls = new CallStore(redis, keys, 60_000, { deviceRegistry: true });
    const device = { productKey: 'pk4', deviceName: 'dev-0001' };
    const begin = () => calls.begin({ device, instanceId: 'api-0', timeoutMs: 1000, kind: 'sys' });
    const before = await redis.dbsize();
    expect(await begin()).toEqual({ status: 'refused', code: 'DEVICE_NOT_FOUND' });
    await registry.create(device, 'a-device-secret-0123456789');
    await registry.setEnabled(device, false);
    expect(await begin()).toEqual({ status: 'refused', code: 'DEVICE_DISABLED' });
    await registry.setEnabled(device, true);
    expect(await begin()).toMatchObject({ status: 'offline', rrpcCode: 'OFFLINE' });
    await new PresenceStore(redis, keys, 0).connected({ device, clientId: 'c1', connectedAt: Date.now(), keepaliveSeconds: 60 });
    expect(await begin()).toMatchObject({ status: 'pending' });
    // The refusals wrote nothing: only the registry record, its product index, presence and the one call.
    const callKeys = await redis.keys(`${keys.namespace}:*:call:*`);
    expect(callKeys).toHaveLength(1);
    expect((await redis.dbsize()) - before).toBeGreaterThanOrEqual(1);
  });

  it('with the registry off, calls consult presence only', async () => {
    const keys = fresh();
    const calls = new CallStore(redis, keys, 60_000, { deviceRegistry: false });
    const device = { productKey: 'pk5', deviceName: 'dev-0001' };
    expect(await calls.begin({ device, instanceId: 'api-0', timeoutMs: 1000, kind: 'sys' })).toMatchObject({ status: 'offline' });
  });
});
