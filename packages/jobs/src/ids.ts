import { randomBytes } from 'node:crypto';

/** Job and batch IDs: "job_" / "bat_" + time (base36) + 48 random bits; safe in URLs, keys and BullMQ IDs. */
export function newId(kind: 'job' | 'bat'): string {
  return `${kind}_${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
}

export const ID_PATTERN = /^(job|bat)_[a-z0-9]{8,40}$/;
