import { randomInt } from 'node:crypto';
import { SLOT_COUNT } from './slots.js';

/**
 * Message IDs: decimal strings of positive signed 64-bit integers, unique across pods without coordination.
 *
 *   bits 62..22  milliseconds since 2024-01-01T00:00:00Z (41 bits, good until 2093)
 *   bits 21..8   the target device's Redis Cluster slot (14 bits), so the call lives beside its device
 *   bits  7..0   a per-process sequence that starts at a random value
 *
 * Two pods can draw the same ID only in the same millisecond, for the same slot, at the same sequence
 * value; call-begin refuses an ID that is in use (its record lives for the whole retention period) and
 * the pod draws again, so IDs are unique for as long as anything remembers them.
 * Values exceed 2^53: they are built and read with BigInt and never pass through a JS number.
 */
export const MESSAGE_ID_EPOCH_MS = 1_704_067_200_000;

export class MessageIds {
  private seq = randomInt(256);
  private lastMs = 0;

  next(slot: number): string {
    if (!Number.isInteger(slot) || slot < 0 || slot >= SLOT_COUNT) throw new RangeError(`bad slot ${slot}`);
    let ms = Date.now() - MESSAGE_ID_EPOCH_MS;
    if (ms < this.lastMs) ms = this.lastMs; // the clock stepped back: never reuse an earlier time
    this.lastMs = ms;
    this.seq = (this.seq + 1) & 0xff;
    return ((BigInt(ms) << 22n) | BigInt((slot << 8) | this.seq)).toString();
  }
}

/** The device slot a message ID carries. */
export function slotOfMessageId(messageId: string): number {
  return Number((BigInt(messageId) >> 8n) & 0x3fffn);
}

/** When the message ID was drawn (ms since the Unix epoch). */
export function timeOfMessageId(messageId: string): number {
  return Number(BigInt(messageId) >> 22n) + MESSAGE_ID_EPOCH_MS;
}
