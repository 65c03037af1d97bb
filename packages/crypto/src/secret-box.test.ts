import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox, SecretBoxError, parseSecretsKey } from './secret-box.js';
import { generateDeviceName, generateDeviceSecret, randomString } from './generate.js';

describe('SecretBox', () => {
  const key = randomBytes(32);

  it('seals with a fresh nonce and opens only for the same record', () => {
    const box = new SecretBox(key);
    const a = box.seal('oLyaKqVxtRvjH284LdhqVgVUx1UPy6zq', 'pk/dev1');
    const b = box.seal('oLyaKqVxtRvjH284LdhqVgVUx1UPy6zq', 'pk/dev1');
    expect(a).not.toBe(b);
    expect(a).not.toContain('oLyaKqVx');
    expect(box.open(a, 'pk/dev1')).toBe('oLyaKqVxtRvjH284LdhqVgVUx1UPy6zq');
    expect(() => box.open(a, 'pk/dev2')).toThrow(SecretBoxError);
  });

  it('refuses a tampered ciphertext and a foreign key', () => {
    const box = new SecretBox(key);
    const sealed = box.seal('secret-secret-secret', 'pk/dev1');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3] ?? '', 'base64url');
    body[0] = (body[0] ?? 0) ^ 1;
    parts[3] = body.toString('base64url');
    expect(() => box.open(parts.join('.'), 'pk/dev1')).toThrow(/does not open/);
    expect(() => new SecretBox(randomBytes(32)).open(sealed, 'pk/dev1')).toThrow(/RRPC_SECRETS_KEY_PREVIOUS/);
    expect(() => box.open('plain-text-secret', 'pk/dev1')).toThrow(/not a sealed secret/);
  });

  it('opens secrets of a previous key after a rotation and says which need re-sealing', () => {
    const old = new SecretBox(key);
    const sealed = old.seal('a-device-secret-1234', 'pk/dev1');
    const rotated = new SecretBox(randomBytes(32), [key]);
    expect(rotated.open(sealed, 'pk/dev1')).toBe('a-device-secret-1234');
    expect(rotated.needsReseal(sealed)).toBe(true);
    const resealed = rotated.seal(rotated.open(sealed, 'pk/dev1'), 'pk/dev1');
    expect(rotated.needsReseal(resealed)).toBe(false);
    expect(resealed.split('.')[1]).toBe(rotated.keyId);
  });

  it('parses base64 keys of exactly 32 bytes, with messages for the rest', () => {
    expect(parseSecretsKey(key.toString('base64')).equals(key)).toBe(true);
    expect(parseSecretsKey(key.toString('base64url')).equals(key)).toBe(true);
    expect(() => parseSecretsKey(randomBytes(16).toString('base64'))).toThrow(/32 bytes/);
    expect(() => parseSecretsKey('not base64!')).toThrow(/base64/);
  });
});

describe('generated identifiers', () => {
  it('device secrets are 32 letters and digits and differ', () => {
    const secrets = new Set(Array.from({ length: 200 }, generateDeviceSecret));
    expect(secrets.size).toBe(200);
    for (const s of secrets) expect(s).toMatch(/^[A-Za-z0-9]{32}$/);
  });

  it('device names are 20 characters of the Alibaba charset', () => {
    expect(generateDeviceName()).toMatch(/^[A-Za-z0-9]{20}$/);
  });

  it('draws every character of the alphabet', () => {
    expect(new Set(randomString(4000, 'abc')).size).toBe(3);
  });
});
