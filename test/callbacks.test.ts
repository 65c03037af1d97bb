import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { waitFor } from '@rrpc/testing';
import {
  MemoryDeliveryIdStore,
  deriveCallbackSecret,
  signCallback,
  verifyCallback,
  type DeliveryIdStore,
  type HostResolver,
} from '@rrpc/jobs';
import {
  CALLBACK_SECRET,
  b64,
  startDeviceGroup,
  startReceiver,
  startWorkerCluster,
  type DeviceGroup,
  type Receiver,
  type WorkerCluster,
} from './support/worker-cluster.js';

/**
 * Callbacks that cannot be turned against us, on real Redis, Mosquitto, api, ingest and worker: URLs to internal
 * addresses refused when the job is created; names that resolve to internal addresses refused at delivery
 * (the worker's resolver is given the answers, as a DNS server under an attacker's control would give them);
 * operator-allowed receivers reached, over plain http too; redirects not followed; each key's own secret
 * (with a rotation overlap) signs its callbacks; verifyCallback rejects replays and future-dated callbacks.
 */
const PK = 'a1Hooks';
const MASTER = 'callback-master-secret-0123456789abcdef';
const KEY_A = 'tenant-a-key-0123456789abcdef';
const KEY_B = 'tenant-b-key-0123456789abcdef';
const hex = (s: string) => createHash('sha256').update(s).digest('hex');
const idOf = (key: string) => hex(key).slice(0, 12);
const ALLOWED = 'hooks.internal.test';

/** The answers a DNS server would give (an attacker controls the names under evil.example.test). */
const DNS: Record<string, string[]> = {
  [ALLOWED]: ['127.0.0.1'],
  'rebind.evil.example.test': ['127.0.0.1'],
  'meta.evil.example.test': ['169.254.169.254'],
  'mapped.evil.example.test': ['::ffff:127.0.0.1'],
  'mixed.evil.example.test': ['93.184.215.14', '127.0.0.1'],
};
const asked: string[] = [];
const resolveHost: HostResolver = (host) => {
  asked.push(host);
  const answers = DNS[host];
  if (!answers) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
  return Promise.resolve(answers.map((address) => ({ address, family: address.includes(':') ? (6 as const) : (4 as const) })));
};

let dir: string;
let cluster: WorkerCluster;
let group: DeviceGroup;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rrpc-callbacks-'));
  const keysFile = join(dir, 'keys');
  const overlapUntil = new Date(Date.now() + 3_600_000).toISOString();
  writeFileSync(keysFile, `sha256:${hex(KEY_A)} callback=1\nsha256:${hex(KEY_B)} callback=2 callback-previous-until=${overlapUntil}\n`);
  cluster = await startWorkerCluster({
    workers: 0,
    env: { RRPC_API_KEYS_FILE: keysFile, RRPC_CALLBACK_ALLOWED_HOSTS: ALLOWED, RRPC_CALLBACK_MASTER_SECRET: MASTER },
  });
  await cluster.startWorker({}, { resolveHost });
  group = await startDeviceGroup(cluster.mosquitto.url, PK);
});
afterAll(async () => {
  await group?.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Job = { id: string; state: string; callback?: Record<string, unknown> & { state: string; attempts: number } };
const jobsPath = (dn: string) => `/v1/devices/${PK}/${dn}/rrpc/jobs`;
function createJob(dn: string, callbackUrl: string, key?: string) {
  return cluster.json<Job & { error?: { code: string; field?: string; message: string } }>(jobsPath(dn), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ payload: b64('ping'), ttlMs: 60_000, callbackUrl }),
  });
}
/** A job as its own key sees it (another key gets 404: jobs belong to the key that made them). */
const job = async (dn: string, id: string, key?: string) =>
  (await cluster.json<Job>(`${jobsPath(dn)}/${id}`, key ? { headers: { authorization: `Bearer ${key}` } } : {})).body;
async function callbackEnds(dn: string, id: string, state: 'DELIVERED' | 'FAILED', key?: string): Promise<Job> {
  await waitFor(async () => (await job(dn, id, key)).callback?.state === state, 20_000, `callback ${state}`);
  return job(dn, id, key);
}
const allowedUrl = (r: Receiver, scheme = 'http') => `${scheme}://${ALLOWED}:${r.port}/hook`;

describe('callback URLs refused when the job is created', () => {
  it.each([
    'http://127.0.0.1/hook',
    'https://127.0.0.1/hook',
    'https://0x7f000001/hook',
    'https://2130706433/hook',
    'https://0177.0.0.1/hook',
    'https://127.1/hook',
    'https://localhost/hook',
    'https://api.localhost./hook',
    'https://10.0.0.1/hook',
    'https://172.16.5.4/hook',
    'https://192.168.1.1/hook',
    'https://100.64.0.1/hook',
    'https://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'https://[fd00:ec2::254]/latest/meta-data/',
    'https://[fe80::1]/hook',
    'https://[::1]/hook',
    'https://[::ffff:127.0.0.1]/hook',
    'https://[::ffff:a9fe:a9fe]/hook',
    'https://[64:ff9b::7f00:1]/hook',
    'https://0.0.0.0/hook',
    'https://255.255.255.255/hook',
    'https://224.0.0.1/hook',
    'http://public.example.test/hook',
    'ftp://public.example.test/hook',
    'https://user:password@public.example.test/hook',
    `https://public.example.test/${'a'.repeat(2100)}`,
  ])('%s', async (url) => {
    const answer = await createJob('refused-1', url);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'callbackUrl' });
  });

  it('records nothing for a refused job', async () => {
    expect((await cluster.json<{ jobs: Job[] }>(jobsPath('refused-1'))).body.jobs).toEqual([]);
  });
});

describe('callback delivery', () => {
  it('refuses at delivery a name that resolves to loopback, metadata, a mapped address, or to one internal address among others', async () => {
    const receiver = await startReceiver(() => 200);
    try {
      await cluster.connectDevice(PK, 'rebind-1');
      for (const host of ['rebind.evil.example.test', 'meta.evil.example.test', 'mapped.evil.example.test', 'mixed.evil.example.test']) {
        const created = await createJob('rebind-1', `https://${host}:${receiver.port}/hook`);
        expect(created.status).toBe(202);
        const ended = await callbackEnds('rebind-1', created.body.id, 'FAILED');
        // Refused at once (no retries), and shown in our words only.
        expect(ended.callback).toMatchObject({ state: 'FAILED', attempts: 1 });
        expect(Object.keys(ended.callback ?? {}).sort()).toEqual(['attempts', 'lastAttemptAt', 'state']);
        expect(asked).toContain(host);
      }
      expect(receiver.connections).toBe(0);
      expect(receiver.received).toHaveLength(0);
    } finally {
      await receiver.close();
    }
  });

  it('reaches an allowed internal receiver over plain http, at the address it checked (DNS asked once per delivery)', async () => {
    const receiver = await startReceiver(() => 204);
    try {
      await cluster.connectDevice(PK, 'allowed-1');
      const before = asked.filter((h) => h === ALLOWED).length;
      const created = await createJob('allowed-1', allowedUrl(receiver));
      expect(created.status).toBe(202);
      const ended = await callbackEnds('allowed-1', created.body.id, 'DELIVERED');
      expect(ended.callback).toMatchObject({ state: 'DELIVERED', attempts: 1 });
      expect(receiver.received).toHaveLength(1);
      expect(receiver.received[0]?.headers['host']).toBe(`${ALLOWED}:${receiver.port}`);
      // The name exists only in the worker's resolver: the connection can only have used the address it checked.
      expect(asked.filter((h) => h === ALLOWED).length - before).toBe(1);
    } finally {
      await receiver.close();
    }
  });

  it('does not follow redirects', async () => {
    const target = await startReceiver(() => 200);
    const redirecting = await startReceiver(() => 307, { headers: () => ({ location: allowedUrl(target) }) });
    try {
      await cluster.connectDevice(PK, 'redirect-1');
      const created = await createJob('redirect-1', allowedUrl(redirecting));
      const ended = await callbackEnds('redirect-1', created.body.id, 'FAILED');
      expect(ended.callback).toMatchObject({ state: 'FAILED', attempts: 4 }); // RRPC_CALLBACK_MAX_ATTEMPTS of the test workers
      expect(redirecting.received).toHaveLength(4);
      expect(target.connections).toBe(0);
    } finally {
      await Promise.all([target.close(), redirecting.close()]);
    }
  });
});

describe('per-key callback secrets', () => {
  const secretA = deriveCallbackSecret(MASTER, idOf(KEY_A), 1);
  const secretB2 = deriveCallbackSecret(MASTER, idOf(KEY_B), 2);
  const secretB1 = deriveCallbackSecret(MASTER, idOf(KEY_B), 1);
  let receiver: Receiver;
  const delivered: Record<string, { body: string; signature: string }> = {};

  beforeAll(async () => {
    receiver = await startReceiver(() => 200);
    await cluster.connectDevice(PK, 'keys-1');
    for (const [name, key] of [
      ['a', KEY_A],
      ['b', KEY_B],
      ['shared', undefined],
    ] as const) {
      const created = await createJob('keys-1', allowedUrl(receiver), key);
      expect(created.status).toBe(202);
      await callbackEnds('keys-1', created.body.id, 'DELIVERED', key);
      const got = receiver.received.find((r) => (JSON.parse(r.body) as { id: string }).id === created.body.id);
      delivered[name] = { body: got?.body ?? '', signature: got?.signature ?? '' };
    }
  });
  afterAll(() => receiver.close());

  it("each key's callbacks verify with its own secret only", async () => {
    expect(new Set([secretA, secretB2, secretB1, CALLBACK_SECRET]).size).toBe(4);
    const a = delivered['a']!;
    expect(await verifyCallback(secretA, a.body, a.signature)).toBe(true);
    expect(await verifyCallback(secretB2, a.body, a.signature)).toBe(false);
    expect(await verifyCallback(secretB1, a.body, a.signature)).toBe(false);
    expect(await verifyCallback(CALLBACK_SECRET, a.body, a.signature)).toBe(false);
    // A receiver of tenant B cannot forge a callback for tenant A: its secret does not sign A's.
    const forged = signCallback(secretB2, a.body, 'forged-delivery-0001');
    expect(await verifyCallback(secretA, a.body, forged)).toBe(false);
  });

  it('during a rotation overlap both the new and the previous secret verify', async () => {
    const b = delivered['b']!;
    expect(b.signature.match(/v2=/g)).toHaveLength(2);
    expect(await verifyCallback(secretB2, b.body, b.signature)).toBe(true);
    expect(await verifyCallback(secretB1, b.body, b.signature)).toBe(true);
    expect(await verifyCallback(secretA, b.body, b.signature)).toBe(false);
  });

  it('a key without its own secret signs with RRPC_CALLBACK_SECRET', async () => {
    const s = delivered['shared']!;
    expect(await verifyCallback(CALLBACK_SECRET, s.body, s.signature)).toBe(true);
    expect(await verifyCallback(secretA, s.body, s.signature)).toBe(false);
  });

  it('the command prints the same secret as the worker signs with', () => {
    const printed = execFileSync(process.execPath, ['services/worker/dist/callback-secret.js', `sha256:${hex(KEY_B)}`, '2'], {
      input: MASTER,
    })
      .toString()
      .trim();
    expect(printed).toBe(secretB2);
  });

  it('verifyCallback rejects a replayed delivery (memory store, and Redis SET NX PX) and a future-dated one', async () => {
    const a = delivered['a']!;
    const memory = new MemoryDeliveryIdStore();
    expect(await verifyCallback(secretA, a.body, a.signature, { store: memory })).toBe(true);
    expect(await verifyCallback(secretA, a.body, a.signature, { store: memory })).toBe(false);

    // The receiver's own Redis (here the test's), as docs/callbacks.md shows.
    const redis = new Redis(cluster.redis.url);
    try {
      const store: DeliveryIdStore = {
        remember: async (id, ttlMs) => (await redis.set(`receiver:delivery:${id}`, '1', 'PX', ttlMs, 'NX')) === 'OK',
      };
      expect(await verifyCallback(secretA, a.body, a.signature, { store })).toBe(true);
      expect(await verifyCallback(secretA, a.body, a.signature, { store })).toBe(false);
      const ttl = await redis.pttl(`receiver:delivery:${/id=([^,]+)/.exec(a.signature)?.[1]}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(6 * 60_000);
    } finally {
      redis.disconnect();
    }

    // Someone holding the secret signs a callback for later (or a clock runs ahead): refused.
    const future = signCallback(secretA, a.body, 'future-delivery-0001', Date.now() + 10 * 60_000);
    expect(await verifyCallback(secretA, a.body, future)).toBe(false);
    const old = signCallback(secretA, a.body, 'old-delivery-00000001', Date.now() - 10 * 60_000);
    expect(await verifyCallback(secretA, a.body, old)).toBe(false);
  });
});

describe('HTTPS receiver and a worker process', () => {
  let tls: WorkerCluster;
  let tlsGroup: DeviceGroup;
  let certDir: string;
  let key: string;
  let cert: string;

  beforeAll(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'rrpc-callbacks-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(certDir, 'key.pem'),
        '-out',
        join(certDir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    key = readFileSync(join(certDir, 'key.pem'), 'utf8');
    cert = readFileSync(join(certDir, 'cert.pem'), 'utf8');
    tls = await startWorkerCluster({ workers: 0, env: { RRPC_CALLBACK_ALLOWED_HOSTS: '127.0.0.1' } });
    // The receiver's certificate is trusted the way an operator trusts an internal CA.
    await tls.spawnWorker({ NODE_EXTRA_CA_CERTS: join(certDir, 'cert.pem') });
    tlsGroup = await startDeviceGroup(tls.mosquitto.url, PK);
  });
  afterAll(async () => {
    await tlsGroup?.close();
    await tls?.stop();
    rmSync(certDir, { recursive: true, force: true });
  });

  it('delivers over https to an allowed receiver, signed; a 3xx is not followed', async () => {
    const target = await startReceiver(() => 200, { tls: { key, cert } });
    const receiver = await startReceiver((n) => (n === 0 ? 302 : 200), { tls: { key, cert }, headers: () => ({ location: target.url }) });
    try {
      await tls.connectDevice(PK, 'tls-1');
      const created = await tls.json<Job>(jobsPath('tls-1'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ payload: b64('ping'), ttlMs: 60_000, callbackUrl: receiver.url }),
      });
      expect(created.status).toBe(202);
      await waitFor(
        async () => (await tls.json<Job>(`${jobsPath('tls-1')}/${created.body.id}`)).body.callback?.state === 'DELIVERED',
        20_000,
        'callback delivered',
      );
      expect(receiver.received.map((r) => r.status)).toEqual([302, 200]);
      expect(target.connections).toBe(0);
      for (const r of receiver.received) expect(await verifyCallback(CALLBACK_SECRET, r.body, r.signature)).toBe(true);
    } finally {
      await Promise.all([target.close(), receiver.close()]);
    }
  });
});
