import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Device secrets at rest: AES-256-GCM under the cluster's secrets key (RRPC_SECRETS_KEY), a random 96-bit
 * nonce per secret and the device's identity ("<pk>/<dn>") as associated data, so a sealed secret copied
 * onto another device's record does not open.
 *
 * A sealed secret is `v1.<keyId>.<nonce>.<ciphertext>.<tag>` (base64url parts). The key id names the key
 * that sealed it: after a key rotation the previous keys still open old secrets, and `needsReseal` tells a
 * re-encryption pass which records to rewrite under the current key.
 */
export const SECRETS_KEY_BYTES = 32;
const VERSION = 'v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

/** The public id of a secrets key (never the key): the first 8 hex digits of a SHA-256 of it. */
export function secretsKeyId(key: Buffer): string {
  return createHash('sha256').update('rrpc-secrets-key-id\0').update(key).digest('hex').slice(0, 8);
}

/** Reads a secrets key given as base64 (standard or url alphabet); throws a message a person can act on. */
export function parseSecretsKey(value: string): Buffer {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed))
    throw new SecretBoxError('must be base64 (for example the output of `openssl rand -base64 32`)');
  const key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (key.length !== SECRETS_KEY_BYTES)
    throw new SecretBoxError(
      `must decode to ${SECRETS_KEY_BYTES} bytes (it decodes to ${key.length}); make one with \`openssl rand -base64 32\``,
    );
  return key;
}

export class SecretBox {
  /** The id of the key new secrets are sealed with. */
  readonly keyId: string;
  private readonly current: Buffer;
  private readonly byId: Map<string, Buffer>;

  /** `current` seals; `previous` keys (older rotations) only open. */
  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    for (const key of [current, ...previous]) {
      if (key.length !== SECRETS_KEY_BYTES) throw new SecretBoxError(`a secrets key must be ${SECRETS_KEY_BYTES} bytes`);
    }
    this.current = Buffer.from(current);
    this.keyId = secretsKeyId(current);
    this.byId = new Map(previous.map((k) => [secretsKeyId(k), Buffer.from(k)] as const));
    this.byId.set(this.keyId, this.current);
  }

  /** Seals `plaintext` for the record named by `associatedData` (the device id). */
  seal(plaintext: string, associatedData: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, this.keyId, nonce.toString('base64url'), body.toString('base64url'), tag.toString('base64url')].join('.');
  }

  /** Opens a sealed secret; throws SecretBoxError when it is malformed, sealed under an unknown key, or tampered with. */
  open(sealed: string, associatedData: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new SecretBoxError('not a sealed secret');
    const [, keyId = '', nonceText = '', bodyText = '', tagText = ''] = parts;
    const key = this.byId.get(keyId);
    if (!key)
      throw new SecretBoxError(`sealed under secrets key ${keyId}, which this service does not have (set it in RRPC_SECRETS_KEY_PREVIOUS)`);
    const nonce = Buffer.from(nonceText, 'base64url');
    const tag = Buffer.from(tagText, 'base64url');
    if (nonce.length !== NONCE_BYTES || tag.length !== TAG_BYTES) throw new SecretBoxError('not a sealed secret');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(associatedData, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(bodyText, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError('the sealed secret does not open (wrong key, wrong record, or tampered with)');
    }
  }

  /** True when the secret was sealed under another key than the current one (a re-encryption pass rewrites it). */
  needsReseal(sealed: string): boolean {
    return sealed.split('.', 3)[1] !== this.keyId;
  }
}
