import { z } from 'zod';

/**
 * Request schemas of the HTTP API. They validate requests and are the source of the API's documentation.
 * Identifiers that reach MQTT topics are checked again by @rrpc/topics.
 */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const TIMEOUT_MS = { min: 1000, max: 60_000, default: 8000 } as const;

export const timeoutMs = z.coerce
  .number({ message: 'must be a number of milliseconds' })
  .int('must be a whole number of milliseconds')
  .min(TIMEOUT_MS.min, `must be at least ${TIMEOUT_MS.min}`)
  .max(TIMEOUT_MS.max, `must be at most ${TIMEOUT_MS.max}`)
  .meta({ description: 'How long the device may take to answer, in milliseconds.' });

// Descriptions (.meta) only document the API (docs/openapi.json); they do not change validation.
const TOPIC_DESCRIPTION = 'A custom topic `/{productKey}/{deviceName}/user/...`; the system RRPC topic when absent.';

export const callBody = z
  .object({
    payload: z
      .string({ message: 'is required: the request bytes in base64' })
      .regex(BASE64, 'must be standard base64 (RFC 4648, padded)')
      .meta({ description: 'The request bytes, standard base64 (RFC 4648, padded).' }),
    timeoutMs: z
      .number({ message: 'must be a number of milliseconds' })
      .int('must be a whole number of milliseconds')
      .min(TIMEOUT_MS.min, `must be at least ${TIMEOUT_MS.min}`)
      .max(TIMEOUT_MS.max, `must be at most ${TIMEOUT_MS.max}`)
      .default(TIMEOUT_MS.default)
      .meta({ description: 'How long the device may take to answer, in milliseconds.' }),
    topic: z.string({ message: 'must be a string' }).optional().meta({ description: TOPIC_DESCRIPTION }),
  })
  .strict()
  .meta({ description: 'A synchronous call: the request bytes and how long to wait for the answer.' });

export const rawCallQuery = z.object({
  timeoutMs: timeoutMs.default(TIMEOUT_MS.default),
  topic: z.string().optional().meta({ description: TOPIC_DESCRIPTION }),
});

export const ALIYUN_TIMEOUT_MS = { min: 1000, max: 8000 } as const;

export const aliyunRrpc = z.object({
  Action: z.literal('RRpc', { message: 'must be RRpc' }),
  ProductKey: z.string({ message: 'is required' }),
  DeviceName: z.string({ message: 'is required' }),
  RequestBase64Byte: z
    .string({ message: 'is required' })
    .regex(BASE64, 'must be standard base64')
    .meta({ description: 'The request bytes in base64.' }),
  Timeout: z.coerce
    .number({ message: 'is required: milliseconds' })
    .int('must be a whole number')
    .min(ALIYUN_TIMEOUT_MS.min, `must be at least ${ALIYUN_TIMEOUT_MS.min}`)
    .max(ALIYUN_TIMEOUT_MS.max, `must be at most ${ALIYUN_TIMEOUT_MS.max}`)
    .meta({ description: 'How long the device may take to answer, in milliseconds (Alibaba allows at most 8000).' }),
  Topic: z.string().optional().meta({ description: TOPIC_DESCRIPTION }),
});

/** The first problem of a failed parse, as a field name and a message. */
export function firstIssue(error: z.ZodError): { field: string; message: string } {
  const issue = error.issues[0];
  const field = issue?.path.join('.') || 'body';
  let message = issue?.message ?? 'is invalid';
  if (issue?.code === 'unrecognized_keys') message = `unknown field(s): ${issue.keys.join(', ')}`;
  return { field: issue?.code === 'unrecognized_keys' ? 'body' : field, message };
}
