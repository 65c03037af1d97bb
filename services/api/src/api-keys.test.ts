import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@rrpc/runtime';
import { ApiKeyRing, digestOf, parseKeysFile } from './api-keys.js';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

describe('keys file', () => {
  it('reads digests, plain keys, scopes and rates; skips comments', () => {
    const { keys, problems } = parseKeysFile(`# ops\n\nsha256:${hex('a-key-of-sixteen-chars')} products=pkA,pkB rate=20\nplain-key-0123456789\n`);
    expect(problems).toEqual([]);
    expect(keys).toHaveLength(2);
    expect(keys[0]!.digest.equals(digestOf('a-key-of-sixteen-chars'))).toBe(true);
    expect([...keys[0]!.products!]).toEqual(['pkA', 'pkB']);
    expect(keys[0]!.ratePerSecond).toBe(20);
    expect(keys[1]!.products).toBeUndefined();
  });

  it('reports each bad line by number, never its content', () => {
    const { problems } = parseKeysFile('short\nsha256:abc\nvalid-key-0123456789 products=\nvalid-key-0123456789 rate=-1\nvalid-key-0123456789 color=red\n');
    expect(problems).toHaveLength(5);
    expect(problems.map((p) => p.split(':')[0])).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
    expect(problems.join(' ')).not.toContain('valid-key');
  });
});

describe('ApiKeyRing', () => {
  const ring = new ApiKeyRing({ keys: ['env-key-0123456789', `sha256:${hex('hashed-key-0123456789')}`], logger: createLogger('test', 'silent') });
  it('accepts the keys, plain or given as digests, with a public id that is not the key', () => {
    const a = ring.authenticate('Bearer env-key-0123456789');
    expect(a?.keyId).toBe(hex('env-key-0123456789').slice(0, 12));
    expect(ring.authenticate('Bearer hashed-key-0123456789')).toBeDefined();
  });
  it('refuses anything else', () => {
    for (const h of [undefined, '', 'Bearer', 'Bearer ', 'Basic env-key-0123456789', 'Bearer env-key-012345678', `Bearer sha256:${hex('hashed-key-0123456789')}`]) {
      expect(ring.authenticate(h), String(h)).toBeUndefined();
    }
  });
});
