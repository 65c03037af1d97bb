import { z } from 'zod';

/**
 * Request schemas of the HTTP API. They validate requests and are the source of the API's documentation.
 * Identifiers that reach MQTT topics are checked again by @rrpc/topics.
 */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const TIMEOUT_MS = { min: 1000, max: 60_000, default: 8000 } as const;
export const CONNECT_TIMEOUT_MAX_MS = 60_000;

/** Largest JSON body that carries a payload of `maxPayloadBytes`: base64 (4/3 of the bytes), a little envelope, and `extraBytes` for other fields. */
export function jsonBodyLimit(maxPayloadBytes: number, extraBytes = 0): number {
  return Math.ceil((maxPayloadBytes * 4) / 3) + 8192 + extraBytes;
}

/** A call's timeoutMs: in a JSON body (a number) or a query string (coerced from text). */
function callTimeoutMs<T extends z.ZodNumber | z.ZodCoercedNumber>(number: T) {
  return number
    .int('must be a whole number of milliseconds')
    .min(TIMEOUT_MS.min, `must be at least ${TIMEOUT_MS.min}`)
    .max(TIMEOUT_MS.max, `must be at most ${TIMEOUT_MS.max}`)
    .default(TIMEOUT_MS.default)
    .meta({ description: 'How long the device may take to answer, in milliseconds.' });
}
const millisecondsMessage = { message: 'must be a number of milliseconds' };

// Descriptions (.meta) only document the API (docs/openapi.json); they do not change validation.
const TOPIC_DESCRIPTION = 'A custom topic `/{productKey}/{deviceName}/user/...`; the system RRPC topic when absent.';

export const callBody = z
  .object({
    payload: z
      .string({ message: 'is required: the request bytes in base64' })
      .regex(BASE64, 'must be standard base64 (RFC 4648, padded)')
      .meta({ description: 'The request bytes, standard base64 (RFC 4648, padded).' }),
    timeoutMs: callTimeoutMs(z.number(millisecondsMessage)),
    topic: z.string({ message: 'must be a string' }).optional().meta({ description: TOPIC_DESCRIPTION }),
    connectTimeoutMs: z
      .number({ message: 'must be a number of milliseconds' })
      .int('must be a whole number of milliseconds')
      .min(0, 'must be at least 0')
      .max(CONNECT_TIMEOUT_MAX_MS, `must be at most ${CONNECT_TIMEOUT_MAX_MS}`)
      .default(0)
      .meta({ description: 'How long to wait for an offline device to connect before answering OFFLINE, in milliseconds.' }),
  })
  .strict()
  .meta({ description: 'A synchronous call: the request bytes and how long to wait for the answer.' });

export const rawCallQuery = z.object({
  timeoutMs: callTimeoutMs(z.coerce.number(millisecondsMessage)),
  connectTimeoutMs: z.coerce
    .number({ message: 'must be a number of milliseconds' })
    .int('must be a whole number of milliseconds')
    .min(0, 'must be at least 0')
    .max(CONNECT_TIMEOUT_MAX_MS, `must be at most ${CONNECT_TIMEOUT_MAX_MS}`)
    .default(0),
  topic: z.string().optional().meta({ description: TOPIC_DESCRIPTION }),
});

export const ALIYUN_TIMEOUT_MS = { min: 1000, max: 8000 } as const;

export const aliyunRrpc = z.object({
  Action: z.literal('RRpc', {
    message:
      'must be RRpc, RegisterDevice, QueryDeviceDetail, GetDeviceStatus, BatchGetDeviceState, DeleteDevice, DisableThing or EnableThing',
  }),
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

// Persistent calls (jobs) and batches (services/worker delivers them).
export const JOB_LIMITS = {
  maxTtlMs: 30 * 86_400_000,
  defaultTtlMs: 86_400_000,
  maxAttempts: 100,
  maxBatchDevices: 10_000,
  maxConcurrency: 1000,
} as const;

const base64Payload = z
  .string({ message: 'is required: the request bytes in base64' })
  .regex(BASE64, 'must be standard base64 (RFC 4648, padded)');
const callTimeout = callTimeoutMs(z.number(millisecondsMessage));
const ttlMs = z
  .number({ message: 'must be a number of milliseconds' })
  .int('must be a whole number')
  .min(1000, 'must be at least 1000')
  .max(JOB_LIMITS.maxTtlMs, `must be at most ${JOB_LIMITS.maxTtlMs}`);

export const jobBody = z
  .object({
    payload: base64Payload,
    timeoutMs: callTimeout,
    topic: z.string({ message: 'must be a string' }).optional(),
    expiresAt: z.iso
      .datetime({ message: 'must be an ISO 8601 date-time (UTC, "Z")' })
      .optional()
      .meta({ description: 'When to give up (EXPIRED); or use ttlMs.' }),
    ttlMs: ttlMs.optional().meta({ description: `How long the job may wait for its device (default ${JOB_LIMITS.defaultTtlMs}).` }),
    maxAttempts: z
      .number({ message: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(JOB_LIMITS.maxAttempts, `must be at most ${JOB_LIMITS.maxAttempts}`)
      .default(1)
      .meta({ description: 'Attempts before the job ends as TIMEOUT (a device timeout uses one; an offline device does not).' }),
    callbackUrl: z
      .url({ protocol: /^https?$/, message: 'must be an https URL' })
      .max(2048, 'must be at most 2048 characters')
      .optional()
      .meta({
        description:
          'Where the finished job is POSTed, signed (X-Rrpc-Signature): https to a public address (plain http and internal hosts only as RRPC_CALLBACK_ALLOWED_HOSTS allows); no redirects are followed.',
      }),
  })
  .strict()
  .meta({ description: 'A persistent call: delivered when the device is online, retried on device timeouts until maxAttempts or expiry.' });

export const jobListQuery = z.object({
  state: z
    .enum(['QUEUED', 'SENT', 'SUCCEEDED', 'TIMEOUT', 'EXPIRED', 'FAILED', 'CANCELLED'], { message: 'must be a job state' })
    .optional(),
  limit: z.coerce.number({ message: 'must be a number' }).int().min(1, 'must be at least 1').max(1000, 'must be at most 1000').default(100),
});

export const batchBody = z
  .object({
    devices: z
      .array(z.object({ productKey: z.string({ message: 'is required' }), deviceName: z.string({ message: 'is required' }) }).strict(), {
        message: 'must be a list of {productKey, deviceName}',
      })
      .min(1, 'must name at least one device')
      .max(JOB_LIMITS.maxBatchDevices, `must name at most ${JOB_LIMITS.maxBatchDevices} devices`)
      .optional(),
    productKey: z
      .string({ message: 'must be a string' })
      .optional()
      .meta({ description: 'Every device of this product that is online now (instead of devices).' }),
    payload: base64Payload,
    timeoutMs: callTimeout,
    topic: z.string({ message: 'must be a string' }).optional(),
    concurrency: z
      .number({ message: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(JOB_LIMITS.maxConcurrency, `must be at most ${JOB_LIMITS.maxConcurrency}`)
      .default(100)
      .meta({ description: 'Calls in flight at most.' }),
    persistent: z
      .boolean({ message: 'must be true or false' })
      .default(false)
      .meta({ description: 'Wait for offline devices (until ttlMs) instead of reporting them OFFLINE.' }),
    ttlMs: ttlMs.optional(),
  })
  .strict()
  .meta({ description: 'One request to many devices.' });

export const batchResultsQuery = z.object({
  cursor: z.coerce.number({ message: 'must be a number' }).int().min(0, 'must be at least 0').default(0),
  limit: z.coerce.number({ message: 'must be a number' }).int().min(1, 'must be at least 1').max(1000, 'must be at most 1000').default(100),
});

// The device registry (routes/devices.ts).
export const REGISTRY_LIMITS = { maxImport: 10_000, defaultPage: 100, maxPage: 1000 } as const;

/** A device secret given by the caller (e.g. an Alibaba device's, burnt into its firmware): 16-128 visible ASCII. */
export const deviceSecret = z
  .string({ message: 'must be a string' })
  .regex(/^[\x21-\x7e]{16,128}$/, 'must be 16-128 visible ASCII characters (no spaces)')
  .meta({ description: 'The device secret: 16-128 visible ASCII characters. Generated (32 letters and digits) when absent.' });

export const deviceCreateBody = z
  .object({
    productKey: z.string({ message: 'is required' }),
    deviceName: z
      .string({ message: 'must be a string' })
      .optional()
      .meta({ description: 'Generated (20 letters and digits) when absent.' }),
    deviceSecret: deviceSecret.optional(),
  })
  .strict()
  .meta({ description: 'A device to register.' });

export const deviceImportItem = z
  .object({
    productKey: z.string({ message: 'is required' }),
    deviceName: z.string({ message: 'is required' }),
    deviceSecret: deviceSecret.meta({ description: 'The device secret it has now: 16-128 visible ASCII characters.' }),
  })
  .strict();

export const deviceImportBody = z
  .object({
    devices: z
      .array(z.unknown(), { message: 'must be a list of {productKey, deviceName, deviceSecret}' })
      .min(1, 'must name at least one device')
      .max(REGISTRY_LIMITS.maxImport, `must name at most ${REGISTRY_LIMITS.maxImport} devices`)
      .meta({
        description: `Up to ${REGISTRY_LIMITS.maxImport} devices, each {productKey, deviceName, deviceSecret}; a bad entry fails alone.`,
      }),
  })
  .strict()
  .meta({ description: 'Devices to register with their existing secrets (e.g. exported from Alibaba Cloud IoT).' });

export const deviceUpdateBody = z
  .object({
    enabled: z
      .boolean({ message: 'is required: true or false' })
      .meta({ description: 'false: calls answer 403 DEVICE_DISABLED and the device may not log in.' }),
  })
  .strict()
  .meta({ description: 'Enables or disables a device.' });

export const deviceListQuery = z.object({
  status: z
    .enum(['ONLINE', 'OFFLINE', 'HALFCONN', 'UNACTIVE'], { message: 'must be ONLINE, OFFLINE, HALFCONN or UNACTIVE' })
    .optional()
    .meta({
      description:
        'Only devices in this state (OFFLINE includes HALFCONN). A filtered page looks at a bounded window of devices: it may hold fewer than limit (even none) while nextCursor is not null.',
    }),
  limit: z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(REGISTRY_LIMITS.maxPage, `must be at most ${REGISTRY_LIMITS.maxPage}`)
    .default(REGISTRY_LIMITS.defaultPage),
  cursor: z.string({ message: 'must be a string' }).optional().meta({ description: 'The nextCursor of the previous page.' }),
});

/** Alibaba's device management actions on /compat/aliyun (routes/compat-aliyun-devices.ts). */
export const ALIYUN_DEVICE_ACTIONS = [
  'RegisterDevice',
  'QueryDeviceDetail',
  'GetDeviceStatus',
  'BatchGetDeviceState',
  'DeleteDevice',
  'DisableThing',
  'EnableThing',
] as const;
export const ALIYUN_BATCH_STATE_MAX = 50;

export const aliyunDevice = z.object({
  ProductKey: z.string({ message: 'is required' }),
  DeviceName: z.string({ message: 'is required' }),
});

export const aliyunRegisterDevice = z.object({
  ProductKey: z.string({ message: 'is required' }),
  DeviceName: z.string({ message: 'must be a string' }).optional().meta({ description: 'Generated (20 letters and digits) when absent.' }),
});

export const aliyunBatchGetDeviceState = z.object({
  ProductKey: z.string({ message: 'is required' }),
  DeviceName: z
    .array(z.string({ message: 'must be a device name' }), { message: 'is required: DeviceName.1, DeviceName.2, ...' })
    .min(1, 'is required: DeviceName.1, DeviceName.2, ...')
    .max(ALIYUN_BATCH_STATE_MAX, `names at most ${ALIYUN_BATCH_STATE_MAX} devices`),
});
