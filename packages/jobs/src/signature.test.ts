import { describe, expect, it } from 'vitest';
import { MemoryDeliveryIdStore, newDeliveryId, signCallback, verifyCallback } from './signature.js';
import { callbackSecretsFor, deriveCallbackSecret } from './callback-secrets.js';

const SECRET = 'receiver-secret-0123456789';
const BODY = '{"id":"job_x","state":"SUCCEEDED"}';
const T0 = 1_800_000_000_000;

describe('signCallback / verifyCallback', () => {
  it('covers the timestamp, the delivery id and the body', async () => {
    const id = newDeliveryId();
    const header = signCallback(SECRET, BODY, id, T0);
    expect(header).toMatch(new RegExp(`^t=${T0},id=${id},v2=[0-9a-f]{64}$`));
    expect(await verifyCallback(SECRET, BODY, header, { now: T0 })).toBe(true);
    expect(await verifyCallback('another-secret-0123456789', BODY, header, { now: T0 })).toBe(false);
    expect(await verifyCallback(SECRET, BODY.replace('SUCCEEDED', 'FAILED'), header, { now: T0 })).toBe(false);
    expect(await verifyCallback(SECRET, BODY, header.replace(`t=${T0}`, `t=${T0 + 1}`), { now: T0 })).toBe(false);
    expect(await verifyCallback(SECRET, BODY, header.replace(id, newDeliveryId()), { now: T0 })).toBe(false);
    expect(await verifyCallback(SECRET, BODY, undefined, { now: T0 })).toBe(false);
    expect(await verifyCallback(SECRET, BODY, `t=${T0},id=${id}`, { now: T0 })).toBe(false);
  });

  it('rejects old timestamps and future ones beyond the clock-skew allowance', async () => {
    const header = (t: number) => signCallback(SECRET, BODY, newDeliveryId(), t);
    expect(await verifyCallback(SECRET, BODY, header(T0 - 5 * 60_000), { now: T0 })).toBe(true);
    expect(await verifyCallback(SECRET, BODY, header(T0 - 5 * 60_000 - 1), { now: T0 })).toBe(false);
    expect(await verifyCallback(SECRET, BODY, header(T0 + 60_000), { now: T0 })).toBe(true);
    expect(await verifyCallback(SECRET, BODY, header(T0 + 60_001), { now: T0 })).toBe(false);
    expect(await verifyCallback(SECRET, BODY, header(T0 + 10 * 60_000), { now: T0 })).toBe(false);
    expect(await verifyCallback(SECRET, BODY, header(T0 - 30_000), { now: T0, toleranceMs: 10_000 })).toBe(false);
    expect(await verifyCallback(SECRET, BODY, header(T0 + 5_000), { now: T0, futureToleranceMs: 1_000 })).toBe(false);
  });

  it('with a store, a replayed delivery is rejected (and a forged one is not recorded)', async () => {
    const store = new MemoryDeliveryIdStore();
    const id = newDeliveryId();
    const header = signCallback(SECRET, BODY, id, T0);
    expect(await verifyCallback(SECRET, BODY, header.replace(/v2=[0-9a-f]{64}/, `v2=${'0'.repeat(64)}`), { now: T0, store })).toBe(false);
    expect(await verifyCallback(SECRET, BODY, header, { now: T0, store })).toBe(true);
    expect(await verifyCallback(SECRET, BODY, header, { now: T0 + 1000, store })).toBe(false);
    // Without a store the same replay passes: the store is what stops it.
    expect(await verifyCallback(SECRET, BODY, header, { now: T0 + 1000 })).toBe(true);
  });

  it('the memory store forgets an id only after its TTL, and stays within its bound', () => {
    const store = new MemoryDeliveryIdStore(3);
    expect(store.remember('id-aaaaaaaa', 1000, T0)).toBe(true);
    expect(store.remember('id-aaaaaaaa', 1000, T0 + 999)).toBe(false);
    expect(store.remember('id-aaaaaaaa', 1000, T0 + 1000)).toBe(true);
    for (let i = 0; i < 10; i++) store.remember(`id-bbbbbbb${i}`, 60_000, T0 + 2000);
    expect((store as unknown as { seen: Map<string, number> }).seen.size).toBeLessThanOrEqual(3);
  });

  it('accepts any of several signatures, and a receiver holding any of several secrets', async () => {
    const header = signCallback(['new-secret-0123456789', 'old-secret-0123456789'], BODY, newDeliveryId(), T0);
    expect(header.match(/v2=/g)).toHaveLength(2);
    expect(await verifyCallback('new-secret-0123456789', BODY, header, { now: T0 })).toBe(true);
    expect(await verifyCallback('old-secret-0123456789', BODY, header, { now: T0 })).toBe(true);
    expect(await verifyCallback(['x-secret-0123456789', 'old-secret-0123456789'], BODY, header, { now: T0 })).toBe(true);
    expect(await verifyCallback('third-secret-0123456789', BODY, header, { now: T0 })).toBe(false);
  });
});

describe('per-key callback secrets', () => {
  const master = 'master-secret-0123456789abcdef0123456789';
  const shared = 'shared-secret-0123456789';

  it('differ per key, per generation and per master', () => {
    const a1 = deriveCallbackSecret(master, 'aaaaaaaaaaaa', 1);
    expect(a1).toMatch(/^[0-9a-f]{64}$/);
    expect(deriveCallbackSecret(master, 'aaaaaaaaaaaa', 1)).toBe(a1);
    expect(deriveCallbackSecret(master, 'bbbbbbbbbbbb', 1)).not.toBe(a1);
    expect(deriveCallbackSecret(master, 'aaaaaaaaaaaa', 2)).not.toBe(a1);
    expect(deriveCallbackSecret(`${master}x`, 'aaaaaaaaaaaa', 1)).not.toBe(a1);
    expect(() => deriveCallbackSecret(master, 'aaaaaaaaaaaa', 0)).toThrow();
  });

  it("sign with the key's generation, the previous one too during the overlap, the shared secret without a key", () => {
    const key = { keyId: 'aaaaaaaaaaaa', generation: 3, previousUntil: T0 + 1000 };
    expect(callbackSecretsFor(key, { master, shared }, T0)).toEqual([
      deriveCallbackSecret(master, 'aaaaaaaaaaaa', 3),
      deriveCallbackSecret(master, 'aaaaaaaaaaaa', 2),
    ]);
    expect(callbackSecretsFor(key, { master, shared }, T0 + 1000)).toEqual([deriveCallbackSecret(master, 'aaaaaaaaaaaa', 3)]);
    expect(callbackSecretsFor({ keyId: 'aaaaaaaaaaaa', generation: 1 }, { master, shared }, T0)).toEqual([
      deriveCallbackSecret(master, 'aaaaaaaaaaaa', 1),
    ]);
    expect(callbackSecretsFor(undefined, { master, shared }, T0)).toEqual([shared]);
    expect(callbackSecretsFor(undefined, { master: undefined, shared: undefined }, T0)).toEqual([]);
    expect(() => callbackSecretsFor(key, { master: undefined, shared }, T0)).toThrow(/RRPC_CALLBACK_MASTER_SECRET/);
  });
});
