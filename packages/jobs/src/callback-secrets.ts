import { createHmac } from 'node:crypto';
import type { CallbackKey } from '@rrpc/store';

/**
 * Per-key callback secrets, derived, never stored: secret = HMAC-SHA256(master, "rrpc-callback\0<key id>\0<generation>").
 * The master (RRPC_CALLBACK_MASTER_SECRET) lives only in the worker's environment; the keys file holds the
 * key's generation (callback=N), and rotating is raising N, with the previous generation still signing
 * until callback-previous-until (the overlap). See docs/callbacks.md.
 */
export type { CallbackKey };
export function deriveCallbackSecret(master: string, keyId: string, generation: number): string {
  if (!Number.isInteger(generation) || generation < 1) throw new Error('a callback secret generation is a whole number from 1');
  return createHmac('sha256', master).update(`rrpc-callback\0${keyId}\0${generation}`).digest('hex');
}

export class CallbackSecretUnavailable extends Error {
  constructor() {
    super(
      'the job was made with a key that has its own callback secret (callback= in the keys file), but RRPC_CALLBACK_MASTER_SECRET is not set',
    );
    this.name = 'CallbackSecretUnavailable';
  }
}

/**
 * The secrets that sign a job's callback, newest first: the key's own (and during an overlap its previous one),
 * or the shared RRPC_CALLBACK_SECRET for a key without its own; empty: unsigned (only with auth disabled).
 */
export function callbackSecretsFor(
  key: CallbackKey | undefined,
  secrets: { master: string | undefined; shared: string | undefined },
  now: number = Date.now(),
): string[] {
  if (key === undefined) return secrets.shared === undefined ? [] : [secrets.shared];
  if (secrets.master === undefined) throw new CallbackSecretUnavailable();
  const list = [deriveCallbackSecret(secrets.master, key.keyId, key.generation)];
  if (key.generation > 1 && key.previousUntil !== undefined && now < key.previousUntil)
    list.push(deriveCallbackSecret(secrets.master, key.keyId, key.generation - 1));
  return list;
}
