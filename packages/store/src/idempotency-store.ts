import { createHash } from 'node:crypto';
import { Keys } from './keys.js';
import { withScripts, type ScriptCommands } from './scripts.js';
import { guard, type RedisClient } from './connection.js';

export interface StoredAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export type IdempotencyClaim =
  { state: 'new'; key: string } | { state: 'mismatch' } | { state: 'pending' } | { state: 'done'; answer: StoredAnswer };

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/**
 * Idempotency-Key records: per API key (given hashed), the first request's answer kept for `ttlMs`
 * (24 h), so that a retry gets the same answer and the device never gets a second request.
 */
export class IdempotencyStore {
  private readonly redis: RedisClient & ScriptCommands;

  constructor(
    redis: RedisClient,
    readonly keys: Keys,
    readonly ttlMs: number,
  ) {
    this.redis = withScripts(redis);
  }

  /** Claims `idempotencyKey` for `scope` (an API key) and a request fingerprint, or finds the first request. */
  async claim(scope: string, idempotencyKey: string, fingerprint: Buffer | string, pendingMs: number): Promise<IdempotencyClaim> {
    const key = this.keys.idempotency(sha(scope).slice(0, 32), sha(idempotencyKey));
    const reply = await guard(this.redis.rrpcIdempotencyBeginBuffer(key, sha(fingerprint), Math.min(pendingMs, this.ttlMs)));
    const state = reply[0]?.toString();
    if (state === 'new') return { state: 'new', key };
    if (state === 'mismatch') return { state: 'mismatch' };
    if (state === 'pending') return { state: 'pending' };
    return {
      state: 'done',
      answer: {
        status: Number(reply[1]?.toString() ?? 500),
        headers: JSON.parse(reply[2]?.toString() || '{}') as Record<string, string>,
        body: reply[3] ?? Buffer.alloc(0),
      },
    };
  }

  /** Stores the first request's answer for the rest of the key's lifetime. */
  async complete(key: string, answer: StoredAnswer): Promise<void> {
    await guard(this.redis.hset(key, 'st', 'D', 's', answer.status, 'h', JSON.stringify(answer.headers), 'b', answer.body));
    await guard(this.redis.pexpire(key, this.ttlMs));
  }

  /** Gives the key up (the first request failed without reaching the device), so a retry runs anew. */
  async release(key: string): Promise<void> {
    await guard(this.redis.del(key));
  }
}
