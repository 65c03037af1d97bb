import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

/**
 * `X-Rrpc-Signature: t=<unix ms>,id=<delivery id>,v2=<hex HMAC-SHA256(secret, "<t>.<id>.<raw body>")>[,v2=...]`
 * One v2 per secret in force: two while a key's secret is being rotated (the new one first, then the old one).
 */
export const SIGNATURE_HEADER = 'X-Rrpc-Signature';
/** The delivery id again, for logging at the receiver (the signed copy is the one in the signature header). */
export const DELIVERY_ID_HEADER = 'X-Rrpc-Delivery-Id';

const DELIVERY_ID = /^[A-Za-z0-9_-]{8,64}$/;
const MAC = /^[0-9a-f]{64}$/;

/** A new delivery id: one per delivery attempt (a retry is a new delivery; the job id names the event). */
export function newDeliveryId(): string {
  return randomUUID();
}

function mac(secret: string, timestampMs: number, deliveryId: string, body: string | Buffer): Buffer {
  return createHmac('sha256', secret).update(`${timestampMs}.${deliveryId}.`).update(body).digest();
}

export function signCallback(
  secrets: string | readonly string[],
  body: string | Buffer,
  deliveryId: string,
  timestampMs: number = Date.now(),
): string {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  if (list.length === 0) throw new Error('signCallback needs at least one secret');
  if (!DELIVERY_ID.test(deliveryId)) throw new Error('a delivery id is 8-64 letters, digits, "_" or "-"');
  return [`t=${timestampMs}`, `id=${deliveryId}`, ...list.map((s) => `v2=${mac(s, timestampMs, deliveryId, body).toString('hex')}`)].join(
    ',',
  );
}

/**
 * Remembers delivery ids a receiver has accepted. `remember` records the id for `ttlMs` and answers true
 * when it was not recorded yet; false means a replay. With Redis, one command does it atomically:
 * `SET <prefix>:<id> 1 NX PX <ttlMs>` answers OK only the first time.
 */
export interface DeliveryIdStore {
  remember(deliveryId: string, ttlMs: number): boolean | Promise<boolean>;
}

/** A DeliveryIdStore for one receiver process: ids expire after their TTL; at most `maxEntries` are kept. */
export class MemoryDeliveryIdStore implements DeliveryIdStore {
  private readonly seen = new Map<string, number>();

  constructor(private readonly maxEntries = 100_000) {}

  remember(deliveryId: string, ttlMs: number, now: number = Date.now()): boolean {
    const until = this.seen.get(deliveryId);
    if (until !== undefined && until > now) return false;
    // Map order is insertion order: the oldest entries are dropped first, expired or not (so the bound holds).
    for (const [id, expiry] of this.seen) {
      if (expiry > now && this.seen.size < this.maxEntries) break;
      this.seen.delete(id);
    }
    this.seen.delete(deliveryId);
    this.seen.set(deliveryId, now + ttlMs);
    return true;
  }
}

export interface VerifyOptions {
  /** How old a timestamp may be (default 5 minutes). */
  toleranceMs?: number;
  /** How far in the future a timestamp may be: clock skew (default 60 s). */
  futureToleranceMs?: number;
  /** Rejects a delivery id seen before; without a store, a replay inside the tolerance passes. */
  store?: DeliveryIdStore;
  now?: number;
}

/**
 * Checks a callback against the raw body, before the body is parsed: a signature made with `secret` (or with
 * any of several, while the receiver itself rotates), a timestamp inside the tolerance, and, given a store, a
 * delivery id not seen before (recorded only once everything else passed, for as long as the timestamp could
 * still be accepted). Comparisons are constant-time.
 */
export async function verifyCallback(
  secret: string | readonly string[],
  body: string | Buffer,
  header: string | undefined,
  options: VerifyOptions = {},
): Promise<boolean> {
  if (!header || header.length > 1024) return false;
  const toleranceMs = options.toleranceMs ?? 5 * 60_000;
  const futureToleranceMs = options.futureToleranceMs ?? 60_000;
  const now = options.now ?? Date.now();
  let t: number | undefined;
  let id: string | undefined;
  const given: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === 't' && /^\d{1,16}$/.test(value)) t = Number(value);
    else if (name === 'id' && DELIVERY_ID.test(value)) id = value;
    else if (name === 'v2' && MAC.test(value)) given.push(Buffer.from(value, 'hex'));
  }
  if (t === undefined || id === undefined || given.length === 0 || given.length > 4) return false;
  if (now - t > toleranceMs || t - now > futureToleranceMs) return false;
  let match = false;
  for (const s of typeof secret === 'string' ? [secret] : secret) {
    const expected = mac(s, t, id, body);
    for (const g of given) if (timingSafeEqual(expected, g)) match = true;
  }
  if (!match) return false;
  if (options.store && !(await options.store.remember(id, toleranceMs + futureToleranceMs))) return false;
  return true;
}
