import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { loadApiConfig } from '@rrpc/config';
import { createLogger, declaredMethods } from '@rrpc/runtime';
import { isDeviceName, isMessageId, isProductKey } from '@rrpc/topics';
import { createApiService } from './api-service.js';
import { IDENTIFIER_PATTERNS, buildOpenApi, formatOpenApi } from './openapi.js';
import { aliyunRrpc, callBody } from './schemas.js';

const COMMITTED = fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url));

type Doc = {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { example?: unknown }> } }>>;
};

describe('docs/openapi.json', () => {
  it('is what buildOpenApi() builds (run `npm run openapi` after changing the API)', () => {
    const committed = readFileSync(COMMITTED, 'utf8');
    expect(committed, 'docs/openapi.json is stale: run `npm run openapi` and commit it').toBe(formatOpenApi(buildOpenApi()));
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(buildOpenApi());
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('documents every route the api serves, and no route it does not serve', () => {
    const config = loadApiConfig({
      REDIS_URL: 'redis://127.0.0.1:1',
      MQTT_URL: 'mqtt://127.0.0.1:1',
      RRPC_API_KEYS: 'openapi-test-key-0123456789',
      RRPC_SECRETS_KEY: Buffer.alloc(32, 5).toString('base64'),
      PORT: '0',
    });
    const service = createApiService(config, createLogger('test', 'silent'));
    const app = service.app as unknown as { router: { stack: Layer[] } };
    const served = new Set<string>();
    const visit = (stack: Layer[]) => {
      for (const layer of stack) {
        if (!layer.route) {
          if (layer.handle?.stack) visit(layer.handle.stack);
          continue;
        }
        const path = layer.route.path.replace(/:(\w+)/g, '{$1}');
        for (const method of Object.keys(layer.route.methods)) {
          // A route answered in front of express (the call route) is declared to express with allowMethods.
          if (method === '_all')
            for (const h of layer.route.stack) for (const m of declaredMethods(h.handle) ?? []) served.add(`${m} ${path}`);
          else served.add(`${method.toUpperCase()} ${path}`);
        }
      }
    };
    visit(app.router.stack);
    const documented = new Set<string>();
    for (const [path, item] of Object.entries((buildOpenApi() as Doc).paths))
      for (const method of Object.keys(item)) documented.add(`${method.toUpperCase()} ${path}`);
    expect([...documented].sort()).toEqual([...served].sort());
  });

  it('states the identifier rules that @rrpc/topics enforces', () => {
    const samples = [
      'a',
      'a1B2_c-3',
      'abc',
      'abcd',
      'dev:1@x.y',
      'a b',
      'a/b',
      'x'.repeat(32),
      'x'.repeat(33),
      '0',
      '1',
      '9223372036854775807',
      '01',
      '-1',
      '+',
    ];
    for (const s of samples) {
      expect(new RegExp(IDENTIFIER_PATTERNS.productKey).test(s), `productKey ${s}`).toBe(isProductKey(s));
      expect(new RegExp(IDENTIFIER_PATTERNS.deviceName).test(s), `deviceName ${s}`).toBe(isDeviceName(s));
      if (s.length < 19) expect(new RegExp(IDENTIFIER_PATTERNS.messageId).test(s), `messageId ${s}`).toBe(isMessageId(s));
    }
  });

  it('has request examples that the validating schemas accept', () => {
    const doc = buildOpenApi() as Doc;
    const example = doc.paths['/v1/devices/{productKey}/{deviceName}/rrpc']?.['post']?.requestBody?.content['application/json']?.example;
    expect(callBody.safeParse(example).success).toBe(true);
    expect(
      aliyunRrpc.safeParse({ Action: 'RRpc', ProductKey: 'a1', DeviceName: 'dev1', RequestBase64Byte: 'aGk=', Timeout: '5000' }).success,
    ).toBe(true);
  });
});

interface Layer {
  route?: { path: string; methods: Record<string, boolean>; stack: Array<{ handle: unknown }> };
  handle?: { stack?: Layer[] };
}
