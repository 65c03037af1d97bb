import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatorOptionError } from './behaviour.js';
import { parseCliOptions } from './cli-options.js';
import { IMPORT_BATCH, registerDevices } from './register-devices.js';

// A stand-in for the api's POST /v1/devices/import (issue 11's pinned contract): records each request and
// answers with the documented body; names starting with "old-" are registered already.
const received: Array<{ auth: string | undefined; devices: Array<{ productKey: string; deviceName: string; deviceSecret: string }> }> = [];
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      if (req.url !== '/v1/devices/import' || req.method !== 'POST') return void res.writeHead(404).end();
      if (req.headers.authorization !== 'Bearer sim-api-key-0123456789') {
        return void res
          .writeHead(401, { 'content-type': 'application/json' })
          .end('{"code":"UNAUTHENTICATED","message":"missing or unknown API key"}');
      }
      const body = JSON.parse(data) as (typeof received)[number];
      received.push({ auth: req.headers.authorization, devices: body.devices });
      const existing = body.devices.filter((d) => d.deviceName.startsWith('old-')).length;
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ created: body.devices.length - existing, existing, failed: [] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('rrpc-sim --register', () => {
  it('imports every device with a new secret of its own, in batches of at most 10,000', async () => {
    received.length = 0;
    const names = [...Array.from({ length: IMPORT_BATCH + 5 }, (_, i) => `sim-${String(i).padStart(5, '0')}`), 'old-0001'];
    const r = await registerDevices({ apiUrl: `${url}/`, apiKey: 'sim-api-key-0123456789', productKey: 'simProduct', deviceNames: names });
    expect(received.map((q) => q.devices.length)).toEqual([IMPORT_BATCH, 6]);
    expect(r).toMatchObject({ created: IMPORT_BATCH + 5, existing: 1, failed: 0 });
    const sent = received.flatMap((q) => q.devices);
    expect(sent.map((d) => d.deviceName)).toEqual(names);
    for (const d of sent) {
      expect(d.productKey).toBe('simProduct');
      expect(d.deviceSecret).toMatch(/^[A-Za-z0-9]{32}$/);
      expect(r.secrets.get(d.deviceName)).toBe(d.deviceSecret);
    }
    expect(new Set(sent.map((d) => d.deviceSecret)).size).toBe(sent.length);
  });

  it('fails with the status and the api error, never a secret', async () => {
    const error = await registerDevices({
      apiUrl: url,
      apiKey: 'wrong-key-0123456789',
      productKey: 'simProduct',
      deviceNames: ['sim-0001'],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SimulatorOptionError);
    expect((error as Error).message).toBe(
      '--register: POST /v1/devices/import answered 401: {"code":"UNAUTHENTICATED","message":"missing or unknown API key"}',
    );
  });

  it('needs an http(s) URL and an API key', () => {
    expect(parseCliOptions(['--register', url, '--api-key', 'k'.repeat(20)], {}).register).toEqual({ apiUrl: url, apiKey: 'k'.repeat(20) });
    expect(parseCliOptions(['--register', url], { RRPC_API_KEY: 'from-env-key' }).register?.apiKey).toBe('from-env-key');
    expect(() => parseCliOptions(['--register', url], {})).toThrow(/API key/);
    expect(() => parseCliOptions(['--register', 'ftp://x'], { RRPC_API_KEY: 'k' })).toThrow(/http/);
    expect(parseCliOptions([], {}).register).toBeUndefined();
  });
});
