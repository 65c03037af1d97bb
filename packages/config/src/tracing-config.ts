import { z } from 'zod';
import { bool, optionalString } from './env-schema.js';

/** The standard OpenTelemetry variables the services read (docs/tracing.md). */
const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
const PROTOCOLS = ['http/protobuf', 'http/json'] as const;

export interface TracingConfig {
  /** OTEL_SDK_DISABLED=true: no tracing at all. */
  disabled: boolean;
  /** OTEL_EXPORTER_OTLP_ENDPOINT; unset: tracing is off (no spans are made). */
  endpoint: string | undefined;
  protocol: (typeof PROTOCOLS)[number];
  sampler: (typeof SAMPLERS)[number];
  /** OTEL_TRACES_SAMPLER_ARG: the ratio (0..1) of the traceidratio samplers. */
  samplerArg: number;
  /** OTEL_SERVICE_NAME; unset: rrpc-api, rrpc-response-ingest, rrpc-worker. */
  serviceName: string | undefined;
}

export const tracingEnv = {
  OTEL_SDK_DISABLED: bool(false),
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return undefined;
      if (!/^https?:\/\/[^\s]+$/.test(v) || !URL.canParse(v)) {
        ctx.addIssue({ code: 'custom', message: 'must be the http(s) URL of an OTLP/HTTP receiver, such as http://127.0.0.1:4318' });
        return z.NEVER;
      }
      return v;
    }),
  OTEL_EXPORTER_OTLP_PROTOCOL: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const value = v === undefined || v === '' ? 'http/protobuf' : v;
      if (!(PROTOCOLS as readonly string[]).includes(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `must be http/protobuf or http/json${value === 'grpc' ? ' (gRPC is not supported)' : ''}`,
        });
        return z.NEVER;
      }
      return value as (typeof PROTOCOLS)[number];
    }),
  OTEL_TRACES_SAMPLER: z
    .enum(SAMPLERS, { message: `must be one of ${SAMPLERS.join(', ')}` })
    .optional()
    .transform((v) => v ?? 'parentbased_always_on'),
  OTEL_TRACES_SAMPLER_ARG: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return 1;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0 || n > 1) {
        ctx.addIssue({ code: 'custom', message: 'must be a number from 0 to 1 (the sampled ratio)' });
        return z.NEVER;
      }
      return n;
    }),
  OTEL_SERVICE_NAME: optionalString(),
};

type TracingEnv = { [K in keyof typeof tracingEnv]: z.infer<(typeof tracingEnv)[K]> };

export function tracingSettings(e: TracingEnv): TracingConfig {
  return {
    disabled: e.OTEL_SDK_DISABLED,
    endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    protocol: e.OTEL_EXPORTER_OTLP_PROTOCOL,
    sampler: e.OTEL_TRACES_SAMPLER,
    samplerArg: e.OTEL_TRACES_SAMPLER_ARG,
    serviceName: e.OTEL_SERVICE_NAME,
  };
}
