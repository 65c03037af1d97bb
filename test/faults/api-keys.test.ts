import { createHash } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@rrpc/testing';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { startDevice, type TestDevice } from '../support/device.js';

/**
 * API keys: only digests are kept (env "sha256:<hex>" entries and a keys file), product scopes (403), and
 * rotation by rewriting the keys file, without a restart.
 */
const sha = (key: string) => `sha256:${createHash('sha256').update(key).digest('hex')}`;
const ENV_KEY = 'env-key-given-only-as-its-digest-01';
const SCOPED = 'scoped-key-product-A-0123456789';
const OLD = 'old-key-to-be-rotated-out-012345';
const NEW = 'new-key-rotated-in-0123456789ab';
const PA = 'a1ProdA';
const PB = 'a1ProdB';
const b64 = (s: string) => Buffer.from(s).toString('base64');

let dir: string;
let file: string;
let cluster: TestCluster;
let devices: TestDevice[];

function writeKeys(lines: string[]) {
  // Written aside and renamed into place, as a secret manager or `kubectl` would.
  writeFileSync(`${file}.tmp`, lines.join('\n') + '\n');
  renameSync(`${file}.tmp`, file);
}

function as(key: string, path: string, init: RequestInit = {}) {
  return cluster.api(path, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${key}` } });
}

function callAs(key: string, pk: string, dn: string) {
  return as(key, `/v1/devices/${pk}/${dn}/rrpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ payload: b64('hi') }),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rrpc-keys-'));
  file = join(dir, 'api-keys');
  writeKeys(['# scoped to product A', `${sha(SCOPED)} products=${PA}`, OLD]);
  cluster = await startCluster({ apis: 2, env: { RRPC_API_KEYS: sha(ENV_KEY), RRPC_API_KEYS_FILE: file } });
  devices = await Promise.all([
    startDevice(cluster.mosquitto.url, PA, 'dev-a-1', ({ payload }) => payload),
    startDevice(cluster.mosquitto.url, PB, 'dev-b-1', ({ payload }) => payload),
  ]);
  await cluster.connectDevice(PA, 'dev-a-1');
  await cluster.connectDevice(PB, 'dev-b-1');
});
afterAll(async () => {
  await Promise.all(devices.map((d) => d.close()));
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('API keys', () => {
  it('accepts a key configured only as its SHA-256 digest, and no longer the old plaintext key', async () => {
    expect((await callAs(ENV_KEY, PA, 'dev-a-1')).status).toBe(200);
    expect((await callAs(sha(ENV_KEY), PA, 'dev-a-1')).status).toBe(401); // the digest itself is not a key
    expect((await callAs('test-api-key-0123456789abcdef', PA, 'dev-a-1')).status).toBe(401);
    expect(JSON.stringify(cluster.apis[0]!.service.config)).not.toContain(ENV_KEY);
  });

  it('keeps a scoped key to its products: 403 PERMISSION_DENIED for another product, on every route, nothing published', async () => {
    expect((await callAs(SCOPED, PA, 'dev-a-1')).status).toBe(200);
    const before = cluster.published.length;
    const denied = await callAs(SCOPED, PB, 'dev-b-1');
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe('PERMISSION_DENIED');
    const raw = await as(SCOPED, `/v1/devices/${PB}/dev-b-1/rrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'x',
    });
    expect(raw.status).toBe(403);
    expect((await as(SCOPED, `/v1/devices/${PB}/dev-b-1`)).status).toBe(403);
    const compat = await as(
      SCOPED,
      `/compat/aliyun?Action=RRpc&ProductKey=${PB}&DeviceName=dev-b-1&RequestBase64Byte=${b64('x')}&Timeout=2000`,
    );
    expect(compat.status).toBe(403);
    await new Promise((r) => setTimeout(r, 100));
    expect(cluster.published.length).toBe(before);

    // Another product's stored outcome is not readable with the scoped key (it is "not found").
    const other = (await (await callAs(OLD, PB, 'dev-b-1')).json()) as { messageId: string };
    expect((await as(OLD, `/v1/rrpc/${other.messageId}`)).status).toBe(200);
    expect((await as(SCOPED, `/v1/rrpc/${other.messageId}`)).status).toBe(404);
  });

  it('rotates keys by rewriting the file, without a restart: the old key is refused, the new one accepted, on every pod', async () => {
    for (const pod of [0, 1])
      expect((await cluster.api(`/v1/devices/${PA}/dev-a-1`, { pod, headers: { authorization: `Bearer ${OLD}` } })).status).toBe(200);
    expect((await callAs(NEW, PA, 'dev-a-1')).status).toBe(401);
    writeKeys([`${sha(SCOPED)} products=${PA}`, `${sha(NEW)} rate=100`]);
    for (const pod of [0, 1]) {
      await waitFor(
        async () => (await cluster.api(`/v1/devices/${PA}/dev-a-1`, { pod, headers: { authorization: `Bearer ${NEW}` } })).status === 200,
        10_000,
        `pod ${pod} to take the new key`,
      );
      expect((await cluster.api(`/v1/devices/${PA}/dev-a-1`, { pod, headers: { authorization: `Bearer ${OLD}` } })).status).toBe(401);
    }
    expect((await callAs(NEW, PA, 'dev-a-1')).status).toBe(200);
  });

  it('keeps the keys in force when the file is rewritten with a mistake (and says so in the log)', async () => {
    writeKeys([`${sha(NEW)} rate=lots`]);
    await new Promise((r) => setTimeout(r, 2500)); // two polls of the file
    expect((await callAs(NEW, PA, 'dev-a-1')).status).toBe(200);
    expect((await callAs(SCOPED, PA, 'dev-a-1')).status).toBe(200);
  });
});
