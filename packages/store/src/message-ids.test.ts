import { describe, expect, it } from 'vitest';
import { Keys } from './keys.js';
import { MessageIds, slotOfMessageId, timeOfMessageId } from './message-ids.js';
import { crc16, slotOf, tagForSlot } from './slots.js';

describe('Redis Cluster slots', () => {
  it('computes CRC16/XMODEM and key slots as Redis does', () => {
    expect(crc16('123456789')).toBe(0x31c3);
    // Slots Redis documents / reports for these keys.
    expect(slotOf('foo')).toBe(12182);
    expect(slotOf('bar')).toBe(5061);
    expect(slotOf('hello')).toBe(866);
  });

  it('finds a hash tag for every slot', () => {
    for (const slot of [0, 1, 866, 12182, 16383]) expect(slotOf(tagForSlot(slot))).toBe(slot);
  });

  it('puts a call key in the same slot as its device presence key', () => {
    const keys = new Keys('rrpc');
    const device = { productKey: 'a14Xib5kdYd', deviceName: 'light1983432' };
    const id = new MessageIds().next(keys.deviceSlot(device));
    const tagOf = (key: string) => /\{([^}]*)\}/.exec(key)?.[1] ?? '';
    expect(slotOf(tagOf(keys.call(id)))).toBe(slotOf(tagOf(keys.presence(device))));
  });
});

describe('message IDs', () => {
  it('are positive 64-bit decimals above 2^53 that carry their slot and time', () => {
    const ids = new MessageIds();
    const before = Date.now();
    const id = ids.next(12182);
    expect(id).toMatch(/^[1-9][0-9]{17,18}$/);
    expect(BigInt(id) > 2n ** 53n).toBe(true);
    expect(BigInt(id) <= 2n ** 63n - 1n).toBe(true);
    expect(slotOfMessageId(id)).toBe(12182);
    expect(timeOfMessageId(id)).toBeGreaterThanOrEqual(before);
    expect(timeOfMessageId(id)).toBeLessThanOrEqual(Date.now());
  });

  it('do not repeat within one process', () => {
    const ids = new MessageIds();
    const seen = new Set<string>();
    for (let i = 0; i < 256; i++) seen.add(ids.next(7));
    expect(seen.size).toBe(256);
  });
});
