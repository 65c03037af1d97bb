import { createHmac, timingSafeEqual } from 'node:crypto';

/** `X-Rrpc-Signature: t=<unix ms>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` */
export const SIGNATURE_HEADER = 'X-Rrpc-Signature';

export function signCallback(secret: string, body: string | Buffer, timestampMs: number = Date.now()): string {
  const mac = createHmac('sha256', secret).update(`${timestampMs}.`).update(body).digest('hex');
  return `t=${timestampMs},v1=${mac}`;
}

/** Checks a callback's signature header against the raw body; `toleranceMs` bounds the age (replays). */
export function verifyCallback(secret: string, body: string | Buffer, header: string | undefined, toleranceMs = 5 * 60_000, now = Date.now()): boolean {
  if (!header) return false;
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2) as [string, string]));
  const t = Number(parts['t']);
  const v1 = parts['v1'];
  if (!Number.isFinite(t) || !v1 || !/^[0-9a-f]{64}$/.test(v1) || Math.abs(now - t) > toleranceMs) return false;
  const expected = createHmac('sha256', secret).update(`${t}.`).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex'));
}
