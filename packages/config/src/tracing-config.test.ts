import { describe, expect, it } from 'vitest';
import { loadApiConfig, loadIngestConfig } from './load-config.js';
import { loadWorkerConfig } from './worker-config.js';

const key = 'k'.repeat(20);

describe('OpenTelemetry configuration (OTEL_*)', () => {
  it('is off by default: no endpoint, the standard sampler and protocol', () => {
    expect(loadApiConfig({ RRPC_SECRETS_KEY: Buffer.alloc(32, 1).toString('base64'), RRPC_API_KEYS: key }).tracing).toEqual({
      disabled: false,
      endpoint: undefined,
      protocol: 'http/protobuf',
      sampler: 'parentbased_always_on',
      samplerArg: 1,
      serviceName: undefined,
    });
  });

  it('reads every variable, in every service', () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_SERVICE_NAME: 'my-api',
      OTEL_SDK_DISABLED: 'true',
    };
    const expected = {
      disabled: true,
      endpoint: 'http://collector:4318',
      protocol: 'http/json',
      sampler: 'parentbased_traceidratio',
      samplerArg: 0.25,
      serviceName: 'my-api',
    };
    expect(loadApiConfig({ RRPC_SECRETS_KEY: Buffer.alloc(32, 1).toString('base64'), RRPC_API_KEYS: key, ...env }).tracing).toEqual(
      expected,
    );
    expect(loadIngestConfig({ RRPC_SECRETS_KEY: Buffer.alloc(32, 1).toString('base64'), RRPC_WEBHOOK_TOKEN: key, ...env }).tracing).toEqual(
      expected,
    );
    expect(loadWorkerConfig({ RRPC_CALLBACK_SECRET: key, ...env }).tracing).toEqual(expected);
  });

  it('names bad values clearly', () => {
    expect(() =>
      loadApiConfig({ RRPC_SECRETS_KEY: Buffer.alloc(32, 1).toString('base64'), RRPC_API_KEYS: key, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
    ).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL: must be http\/protobuf or http\/json \(gRPC is not supported\)/);
    expect(() =>
      loadApiConfig({
        RRPC_SECRETS_KEY: Buffer.alloc(32, 1).toString('base64'),
        RRPC_API_KEYS: key,
        OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
      }),
    ).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() =>
      loadApiConfig({ RRPC_SECRETS_KEY: Buffer.alloc(32, 1).toString('base64'), RRPC_API_KEYS: key, OTEL_TRACES_SAMPLER: 'sometimes' }),
    ).toThrow(/OTEL_TRACES_SAMPLER: must be one of/);
    expect(() =>
      loadApiConfig({ RRPC_SECRETS_KEY: Buffer.alloc(32, 1).toString('base64'), RRPC_API_KEYS: key, OTEL_TRACES_SAMPLER_ARG: '2' }),
    ).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
    expect(() =>
      loadApiConfig({ RRPC_SECRETS_KEY: Buffer.alloc(32, 1).toString('base64'), RRPC_API_KEYS: key, OTEL_SDK_DISABLED: 'maybe' }),
    ).toThrow(/OTEL_SDK_DISABLED/);
  });
});
