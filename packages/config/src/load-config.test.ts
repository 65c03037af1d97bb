import { describe, expect, it } from 'vitest';
import { ConfigError, loadApiConfig, loadIngestConfig, loadWorkerConfig } from './index.js';

const key = 'k'.repeat(24);
/** The device registry is on by default and then needs the secrets key. */
const sealed = { RRPC_SECRETS_KEY: Buffer.alloc(32, 1).toString('base64') };

describe('api configuration', () => {
  it('has the documented defaults', () => {
    const c = loadApiConfig({ ...sealed, RRPC_API_KEYS: key });
    expect(c).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      mqtt: { url: 'mqtt://127.0.0.1:1883', protocolVersion: 5 },
      port: 8080,
      namespace: 'rrpc',
      apiKeys: [key],
      maxPayloadBytes: 262144,
      resultTtlMs: 600000,
      logLevel: 'info',
      authDisabled: false,
    });
    expect(c.instanceId).toMatch(/^api-/);
  });

  it('refuses to run without keys unless auth is disabled explicitly', () => {
    expect(() => loadApiConfig({})).toThrow(ConfigError);
    expect(() => loadApiConfig({})).toThrow(/RRPC_AUTH_DISABLED=true/);
    expect(loadApiConfig({ ...sealed, RRPC_AUTH_DISABLED: 'true' }).authDisabled).toBe(true);
  });

  it('names every bad variable', () => {
    try {
      loadApiConfig({ ...sealed, RRPC_API_KEYS: key, PORT: 'x', MQTT_URL: 'ftp://a', RRPC_NAMESPACE: 'a{b}', MQTT_PROTOCOL_VERSION: '3' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems.join('\n');
      for (const name of ['PORT', 'MQTT_URL', 'RRPC_NAMESPACE', 'MQTT_PROTOCOL_VERSION']) expect(problems).toContain(name);
    }
  });

  it('parses lists and flags', () => {
    const c = loadApiConfig({ ...sealed, RRPC_API_KEYS: ` ${key} , ${key}x ,`, MQTT_PROTOCOL_VERSION: '4' });
    expect(c.apiKeys).toEqual([key, `${key}x`]);
    expect(c.mqtt.protocolVersion).toBe(4);
  });
});

describe('abuse limits and API keys', () => {
  it('has the documented defaults', () => {
    expect(loadApiConfig({ ...sealed, RRPC_API_KEYS: key })).toMatchObject({
      apiKeysFile: undefined,
      rateLimitPerKey: 1000,
      rateLimitPerDevice: 50,
      maxInFlight: 10000,
      headersTimeoutMs: 10000,
      requestTimeoutMs: 30000,
    });
  });

  it('takes a keys file instead of RRPC_API_KEYS, and digests in RRPC_API_KEYS', () => {
    expect(loadApiConfig({ ...sealed, RRPC_API_KEYS_FILE: '/etc/rrpc/keys' }).apiKeysFile).toBe('/etc/rrpc/keys');
    expect(loadApiConfig({ ...sealed, RRPC_API_KEYS: `sha256:${'ab'.repeat(32)}` }).apiKeys).toHaveLength(1);
    expect(() => loadApiConfig({ ...sealed, RRPC_API_KEYS: `sha256:${'ab'.repeat(31)}zz` })).toThrow(/64 hex digits/);
  });

  it('names bad limits', () => {
    expect(() => loadApiConfig({ ...sealed, RRPC_API_KEYS: key, RRPC_MAX_IN_FLIGHT: '0', RRPC_RATE_LIMIT_PER_DEVICE: '-1' })).toThrow(
      /RRPC_MAX_IN_FLIGHT[\s\S]*RRPC_RATE_LIMIT_PER_DEVICE|RRPC_RATE_LIMIT_PER_DEVICE[\s\S]*RRPC_MAX_IN_FLIGHT/,
    );
  });
});

describe('callback receivers', () => {
  it('reads RRPC_CALLBACK_ALLOWED_HOSTS for the api and the worker', () => {
    const hosts = 'hooks.internal, 10.0.0.7:8080,[fd00::1]:9000,Receiver.Example.';
    const expected = [
      { hostname: 'hooks.internal', port: undefined },
      { hostname: '10.0.0.7', port: 8080 },
      { hostname: 'fd00::1', port: 9000 },
      { hostname: 'receiver.example', port: undefined },
    ];
    expect(loadApiConfig({ ...sealed, RRPC_AUTH_DISABLED: 'true', RRPC_CALLBACK_ALLOWED_HOSTS: hosts }).callbackAllowedHosts).toEqual(
      expected,
    );
    expect(loadWorkerConfig({ RRPC_AUTH_DISABLED: 'true', RRPC_CALLBACK_ALLOWED_HOSTS: hosts }).callbackAllowedHosts).toEqual(expected);
    expect(loadWorkerConfig({ RRPC_AUTH_DISABLED: 'true' }).callbackAllowedHosts).toEqual([]);
  });

  it.each(['http://hooks.internal', 'hooks.internal/path', 'user@hooks', 'hooks:99999', 'hooks:', 'a b'])(
    'refuses the allowed host %s at start-up',
    (entry) => {
      expect(() => loadWorkerConfig({ RRPC_AUTH_DISABLED: 'true', RRPC_CALLBACK_ALLOWED_HOSTS: entry })).toThrow(
        /RRPC_CALLBACK_ALLOWED_HOSTS/,
      );
      expect(() => loadApiConfig({ RRPC_AUTH_DISABLED: 'true', RRPC_CALLBACK_ALLOWED_HOSTS: entry })).toThrow(
        /RRPC_CALLBACK_ALLOWED_HOSTS/,
      );
    },
  );

  it('checks the master secret for per-key callback secrets', () => {
    const base = { RRPC_CALLBACK_SECRET: 'shared-secret-0123456789' };
    expect(loadWorkerConfig({ ...base, RRPC_CALLBACK_MASTER_SECRET: 'm'.repeat(32) }).callbackMasterSecret).toBe('m'.repeat(32));
    expect(() => loadWorkerConfig({ ...base, RRPC_CALLBACK_MASTER_SECRET: 'short-0123456789' })).toThrow(/at least 32/);
    expect(() => loadWorkerConfig({ RRPC_CALLBACK_SECRET: 'x'.repeat(40), RRPC_CALLBACK_MASTER_SECRET: 'x'.repeat(40) })).toThrow(
      /must differ/,
    );
  });
});

describe('ingest configuration', () => {
  it('needs a webhook token unless auth is disabled', () => {
    expect(() => loadIngestConfig({})).toThrow(/RRPC_WEBHOOK_TOKEN/);
    const c = loadIngestConfig({ ...sealed, RRPC_WEBHOOK_TOKEN: 't'.repeat(20), RRPC_SHARED_SUBSCRIPTION: 'false' });
    expect(c.port).toBe(8081);
    expect(c.sharedSubscription).toBe(false);
    expect(() => loadIngestConfig({ ...sealed, RRPC_WEBHOOK_TOKEN: 't'.repeat(20), RRPC_SHARED_SUBSCRIPTION: 'maybe' })).toThrow(
      /RRPC_SHARED_SUBSCRIPTION/,
    );
  });
});

describe('device registry and secrets key', () => {
  it('is on by default and then refuses to start without a valid secrets key, naming the fix', () => {
    expect(loadApiConfig({ ...sealed, RRPC_API_KEYS: key })).toMatchObject({
      deviceRegistry: true,
      secretsKeys: { current: Buffer.alloc(32, 1), previous: [] },
    });
    expect(() => loadApiConfig({ RRPC_API_KEYS: key })).toThrow(/RRPC_SECRETS_KEY: .*openssl rand -base64 32.*RRPC_DEVICE_REGISTRY=off/);
    expect(() => loadIngestConfig({ RRPC_WEBHOOK_TOKEN: 't'.repeat(20) })).toThrow(/RRPC_SECRETS_KEY/);
    expect(() => loadApiConfig({ RRPC_API_KEYS: key, RRPC_SECRETS_KEY: Buffer.alloc(16).toString('base64') })).toThrow(/32 bytes/);
    expect(() => loadApiConfig({ RRPC_API_KEYS: key, RRPC_SECRETS_KEY: 'not a key!' })).toThrow(/base64/);
  });

  it('names a bad previous key without printing any key', () => {
    const bad = Buffer.alloc(8, 2).toString('base64');
    try {
      loadApiConfig({ ...sealed, RRPC_API_KEYS: key, RRPC_SECRETS_KEY_PREVIOUS: `${Buffer.alloc(32, 3).toString('base64')},${bad}` });
      expect.unreachable();
    } catch (error) {
      const text = (error as ConfigError).message;
      expect(text).toContain('RRPC_SECRETS_KEY_PREVIOUS (entry 2)');
      expect(text).not.toContain(bad);
      expect(text).not.toContain(sealed.RRPC_SECRETS_KEY);
    }
    const c = loadApiConfig({ ...sealed, RRPC_API_KEYS: key, RRPC_SECRETS_KEY_PREVIOUS: Buffer.alloc(32, 3).toString('base64') });
    expect(c.secretsKeys?.previous).toEqual([Buffer.alloc(32, 3)]);
  });

  it('off: no secrets key needed, calls consult presence only', () => {
    const c = loadApiConfig({ RRPC_API_KEYS: key, RRPC_DEVICE_REGISTRY: 'off' });
    expect(c.deviceRegistry).toBe(false);
    expect(c.secretsKeys).toBeUndefined();
    expect(() => loadApiConfig({ RRPC_API_KEYS: key, RRPC_DEVICE_REGISTRY: 'maybe' })).toThrow(/RRPC_DEVICE_REGISTRY/);
  });
});

describe('subscriptions and reconciliation (issue 14)', () => {
  const token = { RRPC_WEBHOOK_TOKEN: 't'.repeat(24) };
  it('tracks subscriptions only when told (false when unset), with a 2 s grace by default', () => {
    expect(loadApiConfig({ ...sealed, RRPC_API_KEYS: key })).toMatchObject({ trackSubscriptions: false, subscribeGraceMs: 2000 });
    expect(
      loadApiConfig({ ...sealed, RRPC_API_KEYS: key, RRPC_TRACK_SUBSCRIPTIONS: 'true', RRPC_SUBSCRIBE_GRACE_MS: '500' }),
    ).toMatchObject({ trackSubscriptions: true, subscribeGraceMs: 500 });
    expect(() => loadApiConfig({ ...sealed, RRPC_API_KEYS: key, RRPC_SUBSCRIBE_GRACE_MS: '-1' })).toThrow(/RRPC_SUBSCRIBE_GRACE_MS/);
  });

  it('reconciles only with EMQX_API_URL, and then needs the API key and secret', () => {
    expect(loadIngestConfig({ ...sealed, ...token }).emqxApi).toBeUndefined();
    const c = loadIngestConfig({ ...sealed, ...token, EMQX_API_URL: 'http://emqx:18083/', EMQX_API_KEY: 'k1', EMQX_API_SECRET: 's1' });
    expect(c.emqxApi).toEqual({ url: 'http://emqx:18083', key: 'k1', secret: 's1' });
    expect(c.reconcileIntervalMs).toBe(60_000);
    expect(() => loadIngestConfig({ ...sealed, ...token, EMQX_API_URL: 'http://emqx:18083' })).toThrow(/EMQX_API_KEY/);
    expect(() => loadIngestConfig({ ...sealed, ...token, EMQX_API_URL: 'ftp://emqx' })).toThrow(/EMQX_API_URL/);
  });
});
