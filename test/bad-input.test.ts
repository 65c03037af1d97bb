import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startCluster, type TestCluster } from './support/cluster.js';
import { startDevice, type TestDevice } from './support/device.js';

/**
 * Every kind of bad input gets a clear JSON error and changes nothing: above all, nothing reaches the broker.
 * A '#' subscriber records every topic published while the bad requests run.
 */
const PK = 'a1Bad';
const DN = 'dev-ok-1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

let cluster: TestCluster;
let device: TestDevice;

beforeAll(async () => {
  cluster = await startCluster({ env: { RRPC_MAX_PAYLOAD_BYTES: String(256 * 1024) } });
  device = await startDevice(cluster.mosquitto.url, PK, DN, ({ payload }) => payload, [`/${PK}/${DN}/user/get`]);
  await cluster.connectDevice(PK, DN);
});
afterAll(async () => {
  await device.close();
  await cluster.stop();
});

interface Case {
  name: string;
  path?: string;
  body?: unknown;
  raw?: string | Buffer;
  contentType?: string;
  encoding?: string;
  status: number;
  code: string;
  field?: string;
}

const rrpcPath = (pk: string, dn: string) => `/v1/devices/${pk}/${dn}/rrpc`;
const big = Buffer.alloc(256 * 1024 + 1, 7);

const cases: Case[] = [
  {
    name: 'productKey with +',
    path: rrpcPath('a1%2B', DN),
    body: { payload: b64('x') },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'productKey',
  },
  {
    name: 'productKey with #',
    path: rrpcPath('a1%23', DN),
    body: { payload: b64('x') },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'productKey',
  },
  {
    name: 'productKey with /',
    path: rrpcPath('a1%2Fx', DN),
    body: { payload: b64('x') },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'productKey',
  },
  {
    name: 'productKey with NUL',
    path: rrpcPath('a1%00', DN),
    body: { payload: b64('x') },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'productKey',
  },
  {
    name: 'deviceName with +',
    path: rrpcPath(PK, 'dev%2B1'),
    body: { payload: b64('x') },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'deviceName',
  },
  {
    name: 'deviceName with #',
    path: rrpcPath(PK, 'dev%23'),
    body: { payload: b64('x') },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'deviceName',
  },
  {
    name: 'deviceName with /',
    path: rrpcPath(PK, 'dev%2Fok-1'),
    body: { payload: b64('x') },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'deviceName',
  },
  {
    name: 'deviceName with NUL',
    path: rrpcPath(PK, 'dev-%00k'),
    body: { payload: b64('x') },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'deviceName',
  },
  {
    name: 'deviceName too short',
    path: rrpcPath(PK, 'abc'),
    body: { payload: b64('x') },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'deviceName',
  },
  {
    name: 'topic with #',
    body: { payload: b64('x'), topic: `/${PK}/${DN}/user/#` },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'topic',
  },
  {
    name: 'topic with +',
    body: { payload: b64('x'), topic: `/${PK}/${DN}/user/+` },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'topic',
  },
  {
    name: 'topic with NUL',
    body: { payload: b64('x'), topic: `/${PK}/${DN}/user/a\u0000b` },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'topic',
  },
  {
    name: 'topic of another device',
    body: { payload: b64('x'), topic: `/${PK}/other-dev/user/get` },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'topic',
  },
  {
    name: 'topic with empty level',
    body: { payload: b64('x'), topic: `/${PK}/${DN}/user//get` },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'topic',
  },
  {
    name: 'topic with ..',
    body: { payload: b64('x'), topic: `/${PK}/${DN}/user/../../sys` },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'topic',
  },
  {
    name: 'topic outside /user/',
    body: { payload: b64('x'), topic: `/${PK}/${DN}/thing/get` },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'topic',
  },
  { name: 'topic not a string', body: { payload: b64('x'), topic: 5 }, status: 400, code: 'INVALID_ARGUMENT', field: 'topic' },
  { name: 'bad base64', body: { payload: 'not base64!' }, status: 400, code: 'INVALID_ARGUMENT', field: 'payload' },
  { name: 'unpadded base64', body: { payload: 'aGVsbG8' }, status: 400, code: 'INVALID_ARGUMENT', field: 'payload' },
  { name: 'missing payload', body: { timeoutMs: 2000 }, status: 400, code: 'INVALID_ARGUMENT', field: 'payload' },
  { name: 'timeout too small', body: { payload: b64('x'), timeoutMs: 999 }, status: 400, code: 'INVALID_ARGUMENT', field: 'timeoutMs' },
  { name: 'timeout too large', body: { payload: b64('x'), timeoutMs: 60_001 }, status: 400, code: 'INVALID_ARGUMENT', field: 'timeoutMs' },
  { name: 'timeout not whole', body: { payload: b64('x'), timeoutMs: 1500.5 }, status: 400, code: 'INVALID_ARGUMENT', field: 'timeoutMs' },
  { name: 'timeout a string', body: { payload: b64('x'), timeoutMs: '2000' }, status: 400, code: 'INVALID_ARGUMENT', field: 'timeoutMs' },
  { name: 'unknown field', body: { payload: b64('x'), qos: 1 }, status: 400, code: 'INVALID_ARGUMENT', field: 'body' },
  { name: 'body not an object', body: ['x'], status: 400, code: 'INVALID_ARGUMENT' },
  { name: 'malformed JSON', raw: '{"payload": ', contentType: 'application/json', status: 400, code: 'INVALID_ARGUMENT', field: 'body' },
  { name: 'unsupported content type', raw: 'payload=x', contentType: 'text/plain', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'decoded payload over the limit', body: { payload: big.toString('base64') }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
  {
    name: 'JSON body far over the limit',
    raw: JSON.stringify({ payload: Buffer.alloc(600 * 1024).toString('base64') }),
    contentType: 'application/json',
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  { name: 'raw body over the limit', raw: big, contentType: 'application/octet-stream', status: 413, code: 'PAYLOAD_TOO_LARGE' },
  {
    name: 'raw call with a bad timeout',
    path: `${rrpcPath(PK, DN)}?timeoutMs=abc`,
    raw: 'x',
    contentType: 'application/octet-stream',
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'timeoutMs',
  },
  { name: 'empty JSON body', raw: '', contentType: 'application/json', status: 400, code: 'INVALID_ARGUMENT', field: 'body' },
  { name: 'a top-level number', raw: '5', contentType: 'application/json', status: 400, code: 'INVALID_ARGUMENT', field: 'body' },
  { name: 'a top-level string', raw: '"payload"', contentType: 'application/json', status: 400, code: 'INVALID_ARGUMENT', field: 'body' },
  { name: 'JSON null', raw: 'null', contentType: 'application/json', status: 400, code: 'INVALID_ARGUMENT', field: 'body' },
  {
    name: 'JSON in latin1',
    raw: JSON.stringify({ payload: b64('x') }),
    contentType: 'application/json; charset=latin1',
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'gzip content encoding',
    raw: JSON.stringify({ payload: b64('x') }),
    contentType: 'application/json',
    encoding: 'gzip',
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  { name: 'no content type', raw: JSON.stringify({ payload: b64('x') }), contentType: '', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  {
    name: 'bad %-encoding in productKey',
    path: rrpcPath('a1%E0%A4%A', DN),
    body: { payload: b64('x') },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'path',
  },
  {
    name: 'bad %-encoding in deviceName',
    path: rrpcPath(PK, 'dev%'),
    body: { payload: b64('x') },
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'path',
  },
  {
    name: 'raw call with an injected topic',
    path: `${rrpcPath(PK, DN)}?topic=${encodeURIComponent(`/${PK}/${DN}/user/#`)}`,
    raw: 'x',
    contentType: 'application/octet-stream',
    status: 400,
    code: 'INVALID_ARGUMENT',
    field: 'topic',
  },
];

/** One request of a case; with an Idempotency-Key when `key` is given. */
async function send(c: Case, key?: string): Promise<Response> {
  const headers: Record<string, string> = {};
  const contentType = c.contentType ?? 'application/json';
  if (contentType !== '') headers['content-type'] = contentType;
  if (c.encoding !== undefined) headers['content-encoding'] = c.encoding;
  if (key !== undefined) headers['idempotency-key'] = key;
  // No content-type at all: fetch would add text/plain to a string body.
  const body = c.raw ?? JSON.stringify(c.body);
  return cluster.api(c.path ?? rrpcPath(PK, DN), { method: 'POST', headers, body: contentType === '' ? Buffer.from(body) : body });
}

describe('bad input on POST /v1/devices/{pk}/{dn}/rrpc', () => {
  it.each(cases)('$name → $status $code, nothing published', async (c) => {
    const before = cluster.published.length;
    const res = await send(c);
    expect(res.status).toBe(c.status);
    expect(res.headers.get('content-type')).toContain('application/json');
    const body = (await res.json()) as { error: { code: string; message: string; field?: string } };
    expect(body.error.code).toBe(c.code);
    expect(body.error.message.length).toBeGreaterThan(5);
    if (c.field !== undefined) expect(body.error.field).toBe(c.field);
    await sleep(30);
    expect(cluster.published.slice(before)).toEqual([]);
  });

  it('the same device answers a good call (the checks above were not vacuous)', async () => {
    const before = cluster.published.length;
    const res = await cluster.call(PK, DN, { payload: b64('fine'), topic: `/${PK}/${DN}/user/get`, timeoutMs: 3000 });
    expect(res.status).toBe(200);
    await sleep(50);
    expect(cluster.published.length).toBeGreaterThan(before);
  });
});

describe('the same answers with an Idempotency-Key (one implementation of the route)', () => {
  it.each(cases.map((c, i) => ({ ...c, key: `bad-input-${i}` })))('$name → $status $code, nothing published', async (c) => {
    const before = cluster.published.length;
    const plain = await send(c);
    const keyed = await send(c, c.key);
    expect(keyed.status).toBe(c.status);
    expect(keyed.status).toBe(plain.status);
    expect(keyed.headers.get('content-type')).toContain('application/json');
    const [a, b] = (await Promise.all([plain.json(), keyed.json()])) as Array<{ error: { code: string; message: string; field?: string } }>;
    expect(b!.error.code).toBe(c.code);
    expect(b!.error).toEqual(a!.error);
    await sleep(30);
    expect(cluster.published.slice(before)).toEqual([]);
  });

  it('a bad Idempotency-Key is refused before anything runs', async () => {
    const before = cluster.published.length;
    const res = await cluster.api(rrpcPath(PK, DN), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'has spaces' },
      body: JSON.stringify({ payload: b64('x') }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT', field: 'Idempotency-Key' } });
    await sleep(30);
    expect(cluster.published.slice(before)).toEqual([]);
  });

  it('a good call with a key runs once; its retry is replayed and reaches no device', async () => {
    const key = `good-${Date.now()}`;
    const init = {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ payload: b64('once'), timeoutMs: 3000 }),
    };
    const first = await cluster.api(rrpcPath(PK, DN), init);
    expect(first.status).toBe(200);
    const firstBody = (await first.json()) as { rrpcCode: string; messageId: string; payload: string };
    expect(firstBody).toMatchObject({ rrpcCode: 'SUCCESS', payload: b64('once') });
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    await sleep(50);
    const before = cluster.published.length;
    const retry = await cluster.api(rrpcPath(PK, DN), init);
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.json()).toEqual(firstBody);
    const other = await cluster.api(rrpcPath(PK, DN), { ...init, body: JSON.stringify({ payload: b64('other'), timeoutMs: 3000 }) });
    expect(other.status).toBe(409);
    expect(await other.json()).toMatchObject({ error: { code: 'CONFLICT' } });
    await sleep(50);
    expect(cluster.published.slice(before)).toEqual([]);
  });
});

describe('wrong methods', () => {
  it.each([
    ['GET', rrpcPath(PK, DN), 'POST'],
    ['PUT', rrpcPath(PK, DN), 'POST'],
    ['PUT', `/v1/devices/${PK}/${DN}`, 'GET, PATCH, DELETE, HEAD'],
    ['POST', '/v1/rrpc/123', 'GET, HEAD'],
  ])('%s %s → 405 METHOD_NOT_ALLOWED, Allow: %s', async (method, path, allow) => {
    const before = cluster.published.length;
    const res = await cluster.api(path, { method });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe(allow);
    expect(await res.json()).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED' } });
    await sleep(30);
    expect(cluster.published.slice(before)).toEqual([]);
  });
});

describe('authentication', () => {
  const messages = new Map<string, string>();
  it.each([
    ['no header', undefined],
    ['wrong key', 'Bearer wrong-key-wrong-key-wrong'],
    ['not bearer', `Basic ${API_KEY}`],
  ])('%s → 401, nothing published', async (name, authorization) => {
    const before = cluster.published.length;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const res = await fetch(`${cluster.apis[0]!.url}${rrpcPath(PK, DN)}`, {
      method: 'POST',
      headers: authorization === undefined ? headers : { ...headers, authorization },
      body: JSON.stringify({ payload: b64('x') }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('UNAUTHENTICATED');
    messages.set(name, body.error.message);
    await sleep(30);
    expect(cluster.published.slice(before)).toEqual([]);
  });

  it('says which mistake it is: no header, not Bearer, an unknown key (the same on express routes)', async () => {
    expect(new Set(messages.values()).size).toBe(3);
    expect(messages.get('no header')).toMatch(/required/);
    expect(messages.get('wrong key')).toMatch(/not valid/);
    expect(messages.get('wrong key')).not.toContain('wrong-key');
    const read = await fetch(`${cluster.apis[0]!.url}/v1/devices/${PK}/${DN}`, {
      headers: { authorization: 'Bearer wrong-key-wrong-key-wrong' },
    });
    expect(((await read.json()) as { error: { message: string } }).error.message).toBe(messages.get('wrong key'));
  });

  it('guards the read endpoints too', async () => {
    for (const path of [`/v1/devices/${PK}/${DN}`, '/v1/rrpc/123']) {
      expect((await fetch(`${cluster.apis[0]!.url}${path}`)).status).toBe(401);
    }
  });
});

describe('other bad requests', () => {
  it('rejects bad message IDs and unknown routes with JSON errors', async () => {
    for (const id of ['abc', '0', '-5', '99999999999999999999', '9223372036854775808']) {
      const res = await cluster.api(`/v1/rrpc/${id}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT', field: 'messageId' } });
    }
    expect((await cluster.api('/v1/rrpc/9223372036854775807')).status).toBe(404);
    const missing = await cluster.api('/v2/nothing');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });
});
