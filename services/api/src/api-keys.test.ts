import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@rrpc/runtime';
import { ApiKeyRing, digestOf, parseKeysFile } from './api-keys.js';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

describe('keys file', () => {
  it('reads digests, plain keys, scopes and rates; skips comments', () => {
    const { keys, problems } = parseKeysFile(
      `# ops\n\nsha256:${hex('a-key-of-sixteen-chars')} products=pkA,pkB rate=20\nplain-key-0123456789\n`,
    );
    expect(problems).toEqual([]);
    expect(keys).toHaveLength(2);
    expect(keys[0]!.digest.equals(digestOf('a-key-of-sixteen-chars'))).toBe(true);
    expect([...keys[0]!.products!]).toEqual(['pkA', 'pkB']);
    expect(keys[0]!.ratePerSecond).toBe(20);
    expect(keys[1]!.products).toBeUndefined();
  });

  it('reads the admin option and the per-key caps', () => {
    const { keys, problems } = parseKeysFile(
      `ops-admin-key-0123456789 admin\ntenant-key-0123456789 max-jobs=5 max-batch-devices=100 max-bytes=0\n`,
    );
    expect(problems).toEqual([]);
    expect(keys[0]!.admin).toBe(true);
    expect(keys[0]!.caps).toEqual({});
    expect(keys[1]!.admin).toBe(false);
    expect(keys[1]!.caps).toEqual({ jobs: 5, batchDevices: 100, bytes: 0 });
  });

  it('refuses a malformed admin option or cap', () => {
    const { keys, problems } = parseKeysFile(
      'valid-key-0123456789 admin=yes\nvalid-key-0123456789 max-jobs=-1\nvalid-key-0123456789 max-bytes=1e9\n',
    );
    expect(keys).toEqual([]);
    expect(problems.map((p) => p.split(':')[0])).toEqual(['line 1', 'line 2', 'line 3']);
  });

  it('reports each bad line by number, never its content', () => {
    const { problems } = parseKeysFile(
      'short\nsha256:abc\nvalid-key-0123456789 products=\nvalid-key-0123456789 rate=-1\nvalid-key-0123456789 color=red\n',
    );
    expect(problems).toHaveLength(5);
    expect(problems.map((p) => p.split(':')[0])).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
    expect(problems.join(' ')).not.toContain('valid-key');
  });
});

describe('keys file: per-key callback secrets', () => {
  it('reads callback= and callback-previous-until=, and hands them to the principal', () => {
    const text = `callback-key-0123456789 callback=2 callback-previous-until=2030-01-02T03:04:05Z\nplain-key-0123456789 callback=1\nshared-key-0123456789\n`;
    const { keys, problems } = parseKeysFile(text);
    expect(problems).toEqual([]);
    expect(keys[0]!.callback).toEqual({ generation: 2, previousUntil: Date.parse('2030-01-02T03:04:05Z') });
    expect(keys[1]!.callback).toEqual({ generation: 1, previousUntil: undefined });
    expect(keys[2]!.callback).toBeUndefined();
    const ring = new ApiKeyRing({ keys: [], logger: createLogger('test', 'silent') });
    (ring as unknown as { all: unknown }).all = keys;
    expect(ring.authenticate('Bearer callback-key-0123456789')?.callback).toEqual({
      generation: 2,
      previousUntil: Date.parse('2030-01-02T03:04:05Z'),
    });
    expect(ring.authenticate('Bearer shared-key-0123456789')?.callback).toBeUndefined();
  });

  it('refuses bad generations and an overlap without a previous generation', () => {
    const { problems } = parseKeysFile(
      'k-0123456789abcdef callback=0\nk-0123456789abcdef callback=x\nk-0123456789abcdef callback=1 callback-previous-until=2030-01-01T00:00:00Z\nk-0123456789abcdef callback=2 callback-previous-until=tomorrow\n',
    );
    expect(problems.map((p) => p.split(':')[0])).toEqual(['line 1', 'line 2', 'line 3', 'line 4']);
  });
});

describe('ApiKeyRing', () => {
  const ring = new ApiKeyRing({
    keys: ['env-key-0123456789', `sha256:${hex('hashed-key-0123456789')}`],
    logger: createLogger('test', 'silent'),
  });
  it('accepts the keys, plain or given as digests, with a public id that is not the key', () => {
    const a = ring.authenticate('Bearer env-key-0123456789');
    expect(a?.keyId).toBe(hex('env-key-0123456789').slice(0, 12));
    expect(ring.authenticate('Bearer hashed-key-0123456789')).toBeDefined();
  });
  it('refuses anything else', () => {
    for (const h of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Basic env-key-0123456789',
      'Bearer env-key-012345678',
      `Bearer sha256:${hex('hashed-key-0123456789')}`,
    ]) {
      expect(ring.authenticate(h), String(h)).toBeUndefined();
    }
  });
});
