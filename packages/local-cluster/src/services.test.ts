import { describe, expect, it } from 'vitest';
import { commonEnv } from './services.js';

describe('the local cluster (npm start)', () => {
  it('binds every service to 127.0.0.1 (RRPC_BIND_HOST), so a laptop cluster is not on the network', () => {
    const env = commonEnv({
      redisUrl: 'redis://127.0.0.1:1',
      mqttUrl: 'mqtt://127.0.0.1:2',
      mqttProtocolVersion: 5,
      sharedSubscription: true,
      apiKey: 'k',
      webhookToken: 't',
      callbackSecret: 's',
      secretsKey: 'x',
      mqttUsername: 'rrpc-platform',
      mqttPassword: 'p',
      logLevel: 'info',
    });
    expect(env['RRPC_BIND_HOST']).toBe('127.0.0.1');
  });
});
