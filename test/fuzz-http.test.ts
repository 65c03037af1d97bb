import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, WEBHOOK_TOKEN, connectedEvent, disconnectedEvent, startCluster, type TestCluster } from './support/cluster.js';

/**
 * Fuzzing the HTTP API and the webhook endpoint with random and malformed input from a seeded PRNG
 * (RRPC_FUZZ_SEED to replay a run): no answer is a 5xx other than 503, no process dies, and nothing is
 * published on the broker (no fuzzed call can reach a device: the webhooks only ever name "hook" products,
 * the calls only "call" products).
 */
const SEED = Number(process.env['RRPC_FUZZ_SEED'] ?? 20260517);
const API_REQUESTS = 2000;
const HOOK_REQUESTS = 1000;
const CONCURRENCY = 16;

/** mulberry32: small, fast, good enough to drive a fuzzer, and reproducible. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof prng>;

const NASTY = [
  '',
  ' ',
  '%00',
  '%2F',
  '%2B',
  '%23',
  '..',
  '%2e%2e',
  '+',
  '#',
  '/',
  '\\',
  '%',
  '%zz',
  '🙂',
  'a'.repeat(300),
  '${jndi:x}',
  "' OR 1=1",
  '<script>',
  '\u0000',
  '0',
  '-1',
  '1e309',
  'NaN',
  'null',
  '[]',
  '{}',
];

function randomString(r: Rng, max = 40): string {
  const alphabet = 'abcXYZ019_-.:@/+#%&?= \u0000\u00e9\u4e2d\ud83d\ude00"\'\\{}[]';
  let s = '';
  for (let i = r.int(max); i > 0; i--) s += alphabet[r.int(alphabet.length)];
  return s;
}

function randomJson(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 3 ? 5 : 8)) {
    case 0:
      return r.pick([0, -1, 1.5, 2 ** 63, -(2 ** 53), 1e308, 999, 1000, 60000, 60001]);
    case 1:
      return randomString(r);
    case 2:
      return r.chance(0.5);
    case 3:
      return null;
    case 4:
      return r.pick(NASTY);
    case 5:
      return Array.from({ length: r.int(5) }, () => randomJson(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(6); i > 0; i--)
        o[r.pick(['payload', 'timeoutMs', 'topic', '__proto__', 'constructor', randomString(r, 8)])] = randomJson(r, depth + 1);
      return o;
    }
  }
}

function mutate(r: Rng, text: string): string {
  const ops = r.int(4);
  let s = text;
  for (let i = 0; i < ops; i++) {
    const at = r.int(s.length + 1);
    switch (r.int(4)) {
      case 0:
        s = s.slice(0, at);
        break; // truncate
      case 1:
        s = s.slice(0, at) + r.pick(['{', '}', '"', ',', ':', '\\', '\u0000', '[', 'null']) + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + s.slice(at + r.int(5));
        break;
      default:
        s = s.slice(0, at) + randomString(r, 6) + s.slice(at);
    }
  }
  return s;
}

/** encodeURIComponent, also for strings with lone surrogates (sent as a raw, invalid %-escape instead). */
const enc = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '')) + '%ED%A0';
  }
};

const segment = (r: Rng, valid: string) => (r.chance(0.6) ? valid : r.chance(0.5) ? r.pick(NASTY) : enc(randomString(r, 20)));

function apiRequest(r: Rng): { path: string; init: RequestInit } {
  const pk = segment(r, `call${r.int(3)}`);
  const dn = segment(r, `dev-fuzz-${r.int(5)}`);
  const path = r.pick([
    `/v1/devices/${pk}/${dn}/rrpc`,
    `/v1/devices/${pk}/${dn}/rrpc?timeoutMs=${enc(JSON.stringify(randomJson(r)) ?? '')}&topic=${enc(randomString(r))}`,
    `/v1/devices/${pk}/${dn}`,
    `/v1/rrpc/${segment(r, String(385437786871333340n + BigInt(r.int(1000))))}`,
    `/compat/aliyun?Action=${segment(r, 'RRpc')}&ProductKey=${pk}&DeviceName=${dn}&RequestBase64Byte=${segment(r, 'aGk=')}&Timeout=${segment(r, '1000')}`,
    `/${enc(randomString(r, 30))}`,
    `/v1/devices/${pk}/${dn}/rrpc/${segment(r, 'x')}`,
  ]);
  const method = r.pick(['POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']);
  const headers: Record<string, string> = {};
  if (r.chance(0.9))
    headers['authorization'] = r.chance(0.9)
      ? `Bearer ${API_KEY}`
      : r.pick([
          'Bearer',
          'Bearer ',
          `Basic ${API_KEY}`,
          `Bearer ${API_KEY}x`,
          `bearer ${randomString(r, 60).replace(/[^\x20-\x7e]/g, 'x')}`,
        ]);
  headers['content-type'] = r.pick([
    'application/json',
    'application/json',
    'application/octet-stream',
    'application/x-www-form-urlencoded',
    'text/plain',
    'application/json; charset=utf-16',
    'application/json; charset=latin1',
    'multipart/form-data; boundary=x',
    '*/*',
  ]);
  let body: string | Buffer | undefined;
  if (method !== 'GET' && method !== 'HEAD') {
    const base = JSON.stringify(
      r.chance(0.5)
        ? {
            payload: r.pick(['aGk=', '', 'not base64', 'aGk', '====']),
            timeoutMs: randomJson(r),
            topic: r.chance(0.3) ? `/${pk}/${dn}/user/${randomString(r, 10)}` : undefined,
          }
        : randomJson(r),
    );
    body = r.chance(0.15)
      ? Buffer.from(Array.from({ length: r.int(2000) }, () => r.int(256)))
      : r.chance(0.5)
        ? mutate(r, base ?? '')
        : base;
    if (r.chance(0.01)) body = 'x'.repeat(500 * 1024);
  }
  return { path, init: { method, headers, ...(body !== undefined ? { body } : {}) } };
}

function hookRequest(r: Rng): RequestInit {
  const pk = `hook${r.int(3)}`;
  const dn = segment(r, `dev-hook-${r.int(5)}`);
  const valid = r.chance(0.5)
    ? connectedEvent(pk, dn, Date.now() - r.int(100_000), r.int(1000))
    : disconnectedEvent(pk, dn, Date.now() - r.int(100_000), randomString(r, 10));
  const fields = Object.keys(valid);
  const event: Record<string, unknown> = { ...valid };
  for (let i = r.int(4); i > 0; i--) event[r.chance(0.8) ? r.pick(fields) : randomString(r, 8)] = randomJson(r);
  let body: string | Buffer = JSON.stringify(r.chance(0.1) ? randomJson(r) : event);
  if (r.chance(0.3)) body = mutate(r, body);
  if (r.chance(0.05)) body = Buffer.from(Array.from({ length: r.int(500) }, () => r.int(256)));
  if (r.chance(0.01)) body = JSON.stringify({ ...event, pad: 'x'.repeat(70 * 1024) });
  const headers: Record<string, string> = {
    'content-type': r.pick(['application/json', 'text/plain', 'application/octet-stream', 'application/json; charset=utf-32']),
  };
  if (r.chance(0.95))
    headers['authorization'] = r.chance(0.95) ? `Bearer ${WEBHOOK_TOKEN}` : `Bearer ${randomString(r, 20).replace(/[^\x20-\x7e]/g, 'x')}`;
  const method = r.chance(0.95) ? 'POST' : r.pick(['GET', 'PUT']);
  return { method, headers, body: method !== 'GET' && r.chance(0.97) ? body : undefined };
}

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster({ apis: 1, ingests: 1, env: { RRPC_RATE_LIMIT_PER_KEY: '0' } });
});
afterAll(() => cluster.stop());

async function runAll<T>(count: number, make: (i: number) => T, send: (req: T) => Promise<number>) {
  const statuses = new Map<number, number>();
  const problems: Array<{ i: number; status: number; req: T }> = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        const req = make(i);
        const status = await send(req);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500 && status !== 503) problems.push({ i, status, req });
        if (status === 0) problems.push({ i, status, req });
      }
    }),
  );
  return { statuses: Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])), problems };
}

describe(`fuzzing (seed ${SEED})`, () => {
  it(`the HTTP API answers ${API_REQUESTS} random and malformed requests with no 5xx but 503, publishing nothing`, async () => {
    const r = prng(SEED);
    const reqs = Array.from({ length: API_REQUESTS }, () => apiRequest(r));
    const { statuses, problems } = await runAll(
      API_REQUESTS,
      (i) => reqs[i]!,
      async ({ path, init }) => {
        try {
          const res = await fetch(cluster.apis[0]!.url + path, { ...init, signal: AbortSignal.timeout(15_000) });
          await res.arrayBuffer();
          return res.status;
        } catch {
          return 0; // no HTTP answer at all
        }
      },
    );
    console.log('[fuzz] api statuses', statuses);
    expect(problems.map((p) => ({ i: p.i, status: p.status, method: p.req.init.method, path: p.req.path }))).toEqual([]);
    expect(cluster.published).toEqual([]);
    expect((await fetch(`${cluster.apis[0]!.url}/livez`)).status).toBe(200);
  }, 120_000);

  it(`the webhook endpoint answers ${HOOK_REQUESTS} random and malformed webhooks with no 5xx but 503`, async () => {
    const r = prng(SEED + 1);
    const reqs = Array.from({ length: HOOK_REQUESTS }, () => hookRequest(r));
    const { statuses, problems } = await runAll(
      HOOK_REQUESTS,
      (i) => reqs[i]!,
      async (init) => {
        try {
          const res = await fetch(`${cluster.ingests[0]!.url}/hooks/emqx`, { ...init, signal: AbortSignal.timeout(15_000) });
          await res.arrayBuffer();
          return res.status;
        } catch {
          return 0;
        }
      },
    );
    console.log('[fuzz] webhook statuses', statuses);
    expect(
      problems.map((p) => ({
        i: p.i,
        status: p.status,
        body: (typeof p.req.body === 'string' ? p.req.body : JSON.stringify(p.req.body)).slice(0, 200),
      })),
    ).toEqual([]);
    expect((await fetch(`${cluster.ingests[0]!.url}/livez`)).status).toBe(200);
    // The fuzzed calls and webhooks never named the same devices, so no call could have been published.
    expect(cluster.published).toEqual([]);
  }, 120_000);
});
