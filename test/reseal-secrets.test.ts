import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox, parseSecretsKey, secretsKeyId } from '@rrpc/crypto';
import { DeviceRegistry, Keys } from '@rrpc/store';
import { startRedis, type ManagedServer } from '@rrpc/testing';
import { connectTestRegistry, type TestRegistry } from './support/registry.js';

/**
 * Key rotation: devices registered under key A; RRPC_SECRETS_KEY becomes B (A moves to
 * RRPC_SECRETS_KEY_PREVIOUS); the built reseal command re-encrypts every secret under B, after which B alone
 * opens them. Runs the command as an operator would: `node services/api/dist/reseal-secrets.js`.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEY_A = Buffer.alloc(32, 0xa1).toString('base64');
const KEY_B = Buffer.alloc(32, 0xb2).toString('base64');
const KEY_C = Buffer.alloc(32, 0xc3).toString('base64');
let redis: ManagedServer;
let client: Redis;
let underA: TestRegistry;

function reseal(env: Record<string, string>) {
  const run = spawnSync(process.execPath, ['services/api/dist/reseal-secrets.js'], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', REDIS_URL: redis.url, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

const devicesOf = (pk: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ productKey: pk, deviceName: `dev-${String(i).padStart(4, '0')}` }));

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  underA = connectTestRegistry({ redisUrl: redis.url, secretsKey: KEY_A });
  // Two products; one larger than a page (1000) of the reseal walk.
  await underA.register([...devicesOf('a1One', 1205), ...devicesOf('a1Two', 3)]);
});
afterAll(async () => {
  await underA?.close();
  client?.disconnect();
  await redis?.stop();
});

describe('reseal-secrets', () => {
  it('re-encrypts every secret under the new key; then the new key alone opens them; a second run changes nothing', async () => {
    const rotated = await underA.registry.replaceSecret({ productKey: 'a1Two', deviceName: 'dev-0001' }, 'rotated-secret-0123456789');
    expect(rotated).toBe(true);
    const first = reseal({ RRPC_SECRETS_KEY: KEY_B, RRPC_SECRETS_KEY_PREVIOUS: KEY_A });
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const done = first.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['msg'] === 'device secrets re-sealed');
    expect(done).toMatchObject({ products: 2, resealed: 1208 });
    // Nothing secret in the output: no key, no device secret.
    for (const forbidden of [KEY_A, KEY_B, 'test-device-secret', 'rotated-secret']) expect(first.stdout).not.toContain(forbidden);
    // Every record is sealed under B now, and opens with B alone.
    const idB = secretsKeyId(parseSecretsKey(KEY_B));
    const onlyB = new DeviceRegistry(client, new Keys('rrpc'), new SecretBox(parseSecretsKey(KEY_B)));
    for (const d of [...devicesOf('a1One', 1205), ...devicesOf('a1Two', 3)]) {
      expect((await client.hget(`rrpc:{${d.productKey}/${d.deviceName}}:device`, 's'))?.split('.')[1]).toBe(idB);
    }
    expect((await onlyB.credentials({ productKey: 'a1One', deviceName: 'dev-1204' }))?.secret).toBe('test-device-secret-0123456789ab');
    expect((await onlyB.credentials({ productKey: 'a1Two', deviceName: 'dev-0001' }))?.secret).toBe('rotated-secret-0123456789');
    const again = reseal({ RRPC_SECRETS_KEY: KEY_B, RRPC_SECRETS_KEY_PREVIOUS: KEY_A });
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('"resealed":0');
  }, 120_000);

  it('fails clearly, changing nothing, when a secret was sealed under a key it is not given', async () => {
    await underA.register([{ productKey: 'a1Three', deviceName: 'left-1' }]); // sealed under A
    const before = await client.hget('rrpc:{a1Three/left-1}:device', 's');
    const run = reseal({ RRPC_SECRETS_KEY: KEY_C, RRPC_SECRETS_KEY_PREVIOUS: KEY_B });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`sealed under secrets key ${secretsKeyId(parseSecretsKey(KEY_A))}`);
    expect(run.stderr).not.toContain(KEY_A);
    expect(await client.hget('rrpc:{a1Three/left-1}:device', 's')).toBe(before);
  }, 60_000);

  it('refuses to start without a valid key', () => {
    const none = reseal({});
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/reseal-secrets: cannot start: .*RRPC_SECRETS_KEY/s);
    const short = reseal({ RRPC_SECRETS_KEY: Buffer.alloc(16).toString('base64') });
    expect(short.status).toBe(1);
    expect(short.stderr).toMatch(/RRPC_SECRETS_KEY: must decode to 32 bytes/);
  });
});
