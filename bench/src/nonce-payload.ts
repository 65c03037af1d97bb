import { randomBytes } from 'node:crypto';

export const PAYLOAD_BYTES = 128;
export const PRODUCT_KEY = 'benchpk';

const prefix = randomBytes(6).toString('hex');
const padding = 'x'.repeat(PAYLOAD_BYTES);

/** A 128-byte request payload that starts with a nonce unique to this process and sequence number. */
export function noncePayload(sequence: number): Buffer {
  const head = `${prefix}-${process.pid}-${sequence}-`;
  return Buffer.from(head + padding.slice(head.length), 'latin1');
}

export function fastDevice(i: number): string {
  return `fast${String(i).padStart(4, '0')}`;
}

export function slowDevice(i: number): string {
  return `slow${String(i).padStart(4, '0')}`;
}
