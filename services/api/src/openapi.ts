import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '@rrpc/errors';
import {
  ALIYUN_DEVICE_ACTIONS,
  ALIYUN_TIMEOUT_MS,
  REGISTRY_LIMITS,
  TIMEOUT_MS,
  aliyunRrpc,
  batchBody,
  batchResultsQuery,
  callBody,
  deviceCreateBody,
  deviceImportBody,
  deviceListQuery,
  deviceUpdateBody,
  jobBody,
  jobListQuery,
  rawCallQuery,
} from './schemas.js';
import {
  aliyunAnswer,
  aliyunDeviceAnswer,
  aliyunError,
  callAnswer,
  callOutcome,
  deviceCreated,
  deviceImportResult,
  devicePage,
  deviceSecretAnswer,
  errorBody,
  liveness,
  presence,
  readiness,
} from './response-schemas.js';

/**
 * The OpenAPI 3.1 document of the HTTP API, built from the zod schemas that validate requests (schemas.ts) and
 * describe answers (response-schemas.ts). `npm run openapi` writes it to docs/openapi.json; a test fails when
 * the committed file differs from what this builds.
 */
type Json = Record<string, unknown>;

/** A zod schema as a JSON Schema 2020-12 object (OpenAPI 3.1's dialect), without the `$schema` key. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    target: 'draft-2020-12',
    unrepresentable: 'throw',
    // A 64-bit integer (format int64) is beyond JS's safe integers, which z.number().int() enforces: the
    // schema is a plain z.number() and becomes an unbounded JSON Schema integer here.
    override: (ctx) => {
      if (ctx.jsonSchema.format === 'int64') ctx.jsonSchema.type = 'integer';
    },
  }) as Json;
  return rest;
}

/** The properties of an object schema as OpenAPI parameters `in` the query. */
function queryParameters(schema: z.ZodType): Json[] {
  const object = jsonSchema(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: 'query',
      required: object.required?.includes(name) ?? false,
      ...(description ? { description } : {}),
      schema: propertySchema,
    };
  });
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const responseRef = (name: string) => ({ $ref: `#/components/responses/${name}` });

/** Identifier rules of @rrpc/topics (Alibaba's character sets), as OpenAPI patterns. */
export const IDENTIFIER_PATTERNS = {
  productKey: '^[A-Za-z0-9_-]{1,32}$',
  deviceName: '^[A-Za-z0-9_\\-@.:]{4,32}$',
  messageId: '^[1-9][0-9]{0,18}$',
} as const;

const pathParameters = {
  productKey: {
    name: 'productKey',
    in: 'path',
    required: true,
    description: 'The product key: 1-32 letters, digits, "_" or "-".',
    schema: { type: 'string', pattern: IDENTIFIER_PATTERNS.productKey },
  },
  deviceName: {
    name: 'deviceName',
    in: 'path',
    required: true,
    description: 'The device name: 4-32 letters, digits, "_", "-", "@", "." or ":".',
    schema: { type: 'string', pattern: IDENTIFIER_PATTERNS.deviceName },
  },
  messageId: {
    name: 'messageId',
    in: 'path',
    required: true,
    description: 'A message ID, as a call answered it.',
    schema: { type: 'string', pattern: IDENTIFIER_PATTERNS.messageId },
  },
};

/** One error answer per code, with an example body. */
function errorResponse(code: ErrorCode, description: string, extra: { example?: Json; headers?: Json } = {}): Json {
  const example = extra.example ?? { error: { code, message: ERROR_CODES[code].message } };
  return {
    description: `${ERROR_CODES[code].status} ${code}: ${description}`,
    ...(extra.headers ? { headers: extra.headers } : {}),
    content: { 'application/json': { schema: ref('ErrorBody'), example } },
  };
}

const rrpcCodeHeader = {
  'X-Rrpc-Code': {
    description: 'Octet-stream form: the outcome (SUCCESS, OFFLINE, HALFCONN, NOT_SUBSCRIBED, TIMEOUT).',
    schema: { type: 'string' },
  },
};
const messageIdHeader = {
  'X-Rrpc-Message-Id': {
    description: "Octet-stream form: the call's message ID (absent when nothing was published).",
    schema: { type: 'string' },
  },
};

const errorResponses = {
  InvalidArgument: errorResponse('INVALID_ARGUMENT', 'a path, query or body field is invalid; `error.field` names it.', {
    example: { error: { code: 'INVALID_ARGUMENT', message: `timeoutMs: must be at least ${TIMEOUT_MS.min}`, field: 'timeoutMs' } },
  }),
  Unauthenticated: errorResponse('UNAUTHENTICATED', 'the bearer API key is missing or not accepted.', {
    headers: { 'WWW-Authenticate': { schema: { type: 'string', const: 'Bearer' } } },
  }),
  DeviceOffline: errorResponse(
    'DEVICE_OFFLINE',
    'the device is not connected (OFFLINE) or disconnected less than one keep-alive period ago (HALFCONN); or, with the registry on, DEVICE_NOT_FOUND: the device is not registered; or, with RRPC_TRACK_SUBSCRIPTIONS, 404 DEVICE_NOT_SUBSCRIBED (rrpcCode NOT_SUBSCRIBED): connected, but none of its subscriptions matches the request topic. Nothing was published.',
    {
      example: { rrpcCode: 'OFFLINE', error: { code: 'DEVICE_OFFLINE', message: 'The device is not connected.' } },
      headers: rrpcCodeHeader,
    },
  ),
  DeviceNotFound: errorResponse('DEVICE_NOT_FOUND', 'no such device is registered.'),
  DeviceDisabled: errorResponse('DEVICE_DISABLED', 'the device is disabled; nothing was published.'),
  DeviceExists: errorResponse('DEVICE_EXISTS', 'a device with this name is registered already (nothing changed).'),
  PermissionDenied: errorResponse('PERMISSION_DENIED', 'the API key is scoped to other products (`products=` in the keys file).'),
  PayloadTooLarge: errorResponse('PAYLOAD_TOO_LARGE', 'the request bytes exceed RRPC_MAX_PAYLOAD_BYTES (256 KiB by default).'),
  UnsupportedMediaType: errorResponse('UNSUPPORTED_MEDIA_TYPE', 'the body is neither application/json nor application/octet-stream.'),
  NotFound: errorResponse('NOT_FOUND', 'nothing is known by that name.'),
  Internal: errorResponse('INTERNAL', 'an unexpected error (logged by the pod).'),
  Unavailable: errorResponse(
    'UNAVAILABLE',
    'Redis or the MQTT broker cannot be reached, or the pod is shutting down; retry (on another pod).',
  ),
  DeviceTimeout: errorResponse('DEVICE_TIMEOUT', 'the request was published but the device did not answer within timeoutMs.', {
    example: {
      rrpcCode: 'TIMEOUT',
      messageId: '1839204856102938471',
      error: { code: 'DEVICE_TIMEOUT', message: ERROR_CODES.DEVICE_TIMEOUT.message },
    },
    headers: { ...rrpcCodeHeader, ...messageIdHeader },
  }),
  AliyunError: {
    description:
      "Any error, in Alibaba's shape (400 InvalidParameter, 401 InvalidAccessKeyId.NotFound, 403 iot.common.AuthActionPermissionDeny or iot.device.DisabledDevice, 404 iot.device.NotExistedDevice, 409 iot.device.AlreadyExistedDeviceName, 413 iot.messagebroker.PayloadTooLarge, 503 ServiceUnavailable, 500 InternalError).",
    content: {
      'application/json': {
        schema: ref('AliyunError'),
        example: {
          RequestId: '6f0f6a48-57b1-4b2e-9d1f-6c0e1e7a2c11',
          Success: false,
          Code: 'InvalidParameter',
          ErrorMessage: 'Timeout: must be at most 8000',
        },
      },
    },
  },
};

const API_DESCRIPTION = `Synchronous request/response with MQTT devices, in the conventions of Alibaba Cloud IoT's RRPC.

A call publishes the request on the device's RRPC topic and waits for the device's answer, up to \`timeoutMs\`.
The device answers on the matching response topic with the same message ID. A device that is not connected
fails the call at once (404 DEVICE_OFFLINE, nothing published); a device that does not answer in time fails it
with 504 DEVICE_TIMEOUT and the call's message ID, whose outcome can still be read later at
\`GET /v1/rrpc/{messageId}\` (a late answer is kept).

Message IDs are positive 64-bit integers, always written as strings of decimal digits in the /v1 routes.
Every error of the /v1 routes answers with the \`ErrorBody\` shape; \`error.code\` determines the HTTP status.
Authenticate with \`Authorization: Bearer <key>\`, one of the cluster's RRPC_API_KEYS.`;

export function buildOpenApi(): Json {
  const callParameters = [pathParameters.productKey, pathParameters.deviceName];
  return {
    openapi: '3.1.0',
    info: {
      title: 'RRPC HTTP API',
      version: '1.0.0',
      description: API_DESCRIPTION,
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: 'http://127.0.0.1:8080', description: 'An api pod (the local cluster prints its address)' }],
    security: [{ bearerAuth: [] }],
    tags: [
      { name: 'calls', description: 'Synchronous calls to devices and their stored outcomes' },
      { name: 'devices', description: 'The device registry (register, import, list, enable/disable, rotate, delete) and presence' },
      { name: 'jobs', description: 'Persistent calls and batches, delivered by the worker' },
      { name: 'compat', description: "Alibaba Cloud IoT's RRpc and device management actions, answered the way Alibaba answers them" },
      { name: 'operations', description: 'Liveness, readiness and metrics (no authentication)' },
    ],
    paths: {
      '/v1/devices/{productKey}/{deviceName}/rrpc': {
        post: {
          tags: ['calls'],
          operationId: 'callDevice',
          summary: 'Call a device and wait for its answer',
          description:
            'Two forms on one route, chosen by Content-Type. **application/json**: the request bytes in base64 in the body; the answer is JSON. ' +
            '**application/octet-stream**: the request bytes as the body, `timeoutMs` and `topic` in the query; the answer is the raw bytes, ' +
            'with the outcome in the X-Rrpc-Code and X-Rrpc-Message-Id headers (errors are JSON in both forms).',
          parameters: [
            ...callParameters,
            ...queryParameters(rawCallQuery).map((p) => ({
              ...p,
              description: `Octet-stream form only. ${typeof p['description'] === 'string' ? p['description'] : ''}`.trim(),
            })),
          ],
          requestBody: {
            required: true,
            description: 'JSON: a CallRequest. Octet-stream: the request bytes as they are.',
            content: {
              'application/json': { schema: ref('CallRequest'), example: { payload: 'eyJjbWQiOiJvbiJ9', timeoutMs: 5000 } },
              'application/octet-stream': {},
            },
          },
          responses: {
            '200': {
              description: "The device's answer.",
              headers: { ...rrpcCodeHeader, ...messageIdHeader },
              content: {
                'application/json': {
                  schema: ref('CallAnswer'),
                  example: { rrpcCode: 'SUCCESS', messageId: '1839204856102938471', payload: 'eyJvayI6dHJ1ZX0=', durationMs: 12.345 },
                },
                'application/octet-stream': {},
              },
            },
            '400': responseRef('InvalidArgument'),
            '401': responseRef('Unauthenticated'),
            '403': responseRef('DeviceDisabled'),
            '404': responseRef('DeviceOffline'),
            '413': responseRef('PayloadTooLarge'),
            '415': responseRef('UnsupportedMediaType'),
            '500': responseRef('Internal'),
            '503': responseRef('Unavailable'),
            '504': responseRef('DeviceTimeout'),
          },
        },
      },
      '/v1/devices': {
        post: {
          tags: ['devices'],
          operationId: 'registerDevice',
          summary: 'Register a device',
          description:
            'Without deviceName a name is generated (20 letters and digits); without deviceSecret a secret is generated (32 characters from a CSPRNG). The secret is stored encrypted (RRPC_SECRETS_KEY) and shown only in this answer and on rotation.',
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: ref('DeviceRegistration'), example: { productKey: 'a1B2c3D4e5F', deviceName: 'light-0001' } },
            },
          },
          responses: {
            '201': {
              description: 'Registered; the answer carries the secret (this once).',
              content: { 'application/json': { schema: ref('DeviceCreated') } },
            },
            '400': responseRef('InvalidArgument'),
            '401': responseRef('Unauthenticated'),
            '403': responseRef('PermissionDenied'),
            '409': responseRef('DeviceExists'),
            '415': responseRef('UnsupportedMediaType'),
            '503': responseRef('Unavailable'),
          },
        },
      },
      '/v1/devices/import': {
        post: {
          tags: ['devices'],
          operationId: 'importDevices',
          summary: `Register up to ${REGISTRY_LIMITS.maxImport} devices with their existing secrets`,
          description:
            'For moving devices from Alibaba Cloud IoT: each device keeps its name and secret, so it reconnects unchanged. Existing devices are left as they are (counted in existing); each refused entry is reported by its index. Pipelined: 10,000 devices take seconds.',
          requestBody: { required: true, content: { 'application/json': { schema: ref('DeviceImport') } } },
          responses: {
            '200': { description: 'What was registered.', content: { 'application/json': { schema: ref('DeviceImportResult') } } },
            '400': responseRef('InvalidArgument'),
            '401': responseRef('Unauthenticated'),
            '415': responseRef('UnsupportedMediaType'),
            '503': responseRef('Unavailable'),
          },
        },
      },
      '/v1/devices/{productKey}/{deviceName}': {
        get: {
          tags: ['devices'],
          operationId: 'getDevice',
          summary: 'A device: its registry record and presence',
          description:
            'A registered device that never connected is UNACTIVE. With RRPC_DEVICE_REGISTRY=off an unregistered device that connected shows its presence only, and one never seen is 404 NOT_FOUND.',
          parameters: callParameters,
          responses: {
            '200': { description: 'The device.', content: { 'application/json': { schema: ref('Device') } } },
            '400': responseRef('InvalidArgument'),
            '401': responseRef('Unauthenticated'),
            '403': responseRef('PermissionDenied'),
            '404': responseRef('DeviceNotFound'),
            '500': responseRef('Internal'),
            '503': responseRef('Unavailable'),
          },
        },
        patch: {
          tags: ['devices'],
          operationId: 'updateDevice',
          summary: 'Enable or disable a device',
          parameters: callParameters,
          requestBody: { required: true, content: { 'application/json': { schema: ref('DeviceUpdate'), example: { enabled: false } } } },
          responses: {
            '200': { description: 'The device, as GET shows it.', content: { 'application/json': { schema: ref('Device') } } },
            '400': responseRef('InvalidArgument'),
            '401': responseRef('Unauthenticated'),
            '403': responseRef('PermissionDenied'),
            '404': responseRef('DeviceNotFound'),
            '415': responseRef('UnsupportedMediaType'),
            '503': responseRef('Unavailable'),
          },
        },
        delete: {
          tags: ['devices'],
          operationId: 'deleteDevice',
          summary: 'Unregister a device',
          parameters: callParameters,
          responses: {
            '204': { description: 'Unregistered: calls answer 404 DEVICE_NOT_FOUND, and the device may no longer log in.' },
            '400': responseRef('InvalidArgument'),
            '401': responseRef('Unauthenticated'),
            '403': responseRef('PermissionDenied'),
            '404': responseRef('DeviceNotFound'),
            '503': responseRef('Unavailable'),
          },
        },
      },
      '/v1/devices/{productKey}/{deviceName}/secret': {
        post: {
          tags: ['devices'],
          operationId: 'rotateDeviceSecret',
          summary: "Replace a device's secret",
          description: 'A new secret is generated and shown in the answer; the old one stops working at once.',
          parameters: callParameters,
          responses: {
            '200': { description: 'The new secret.', content: { 'application/json': { schema: ref('DeviceSecret') } } },
            '400': responseRef('InvalidArgument'),
            '401': responseRef('Unauthenticated'),
            '403': responseRef('PermissionDenied'),
            '404': responseRef('DeviceNotFound'),
            '503': responseRef('Unavailable'),
          },
        },
      },
      '/v1/products/{productKey}/devices': {
        get: {
          tags: ['devices'],
          operationId: 'listDevices',
          summary: "A product's devices, a page at a time",
          description: `By device name, cursor-paged: each page costs the same whatever the product's size. A status filter reads a bounded window (at most max(limit, 1000) devices) per page.`,
          parameters: [pathParameters.productKey, ...queryParameters(deviceListQuery)],
          responses: {
            '200': { description: 'One page.', content: { 'application/json': { schema: ref('DevicePage') } } },
            '400': responseRef('InvalidArgument'),
            '401': responseRef('Unauthenticated'),
            '403': responseRef('PermissionDenied'),
            '503': responseRef('Unavailable'),
          },
        },
      },
      '/v1/rrpc/{messageId}': {
        get: {
          tags: ['calls'],
          operationId: 'getCallOutcome',
          summary: 'The stored outcome of a call',
          description: 'Outcomes are kept for RRPC_RESULT_TTL_MS after the call; an answer that arrives after the timeout is kept too.',
          parameters: [pathParameters.messageId],
          responses: {
            '200': { description: 'The outcome.', content: { 'application/json': { schema: ref('CallOutcome') } } },
            '400': responseRef('InvalidArgument'),
            '401': responseRef('Unauthenticated'),
            '404': {
              ...errorResponse('NOT_FOUND', 'no call is known by that ID (never made, expired, or made with another API key).'),
              description:
                "404 NOT_FOUND: no call of this API key by that ID (never made, expired, or another key's: an admin key reads every key's).",
            },
            '429': { description: "RATE_LIMITED: reads that find no outcome spend the key's call rate (Retry-After)." },
            '500': responseRef('Internal'),
            '503': responseRef('Unavailable'),
          },
        },
      },
      // Persistent calls and batches (docs/jobs-and-batches.md); delivered by services/worker.
      '/v1/devices/{productKey}/{deviceName}/rrpc/jobs': {
        post: {
          tags: ['jobs'],
          operationId: 'createJob',
          summary: 'Create a persistent call (job), delivered when the device is online',
          description: 'Answers 202 at once. Accepts an Idempotency-Key header (per API key, 24 h).',
          parameters: callParameters,
          requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(jobBody, 'input') } } },
          responses: {
            '202': { description: 'The job (state QUEUED).' },
            '400': responseRef('InvalidArgument'),
            '401': responseRef('Unauthenticated'),
            '409': { description: 'Idempotency-Key in use.' },
            '429': {
              description: "RATE_LIMITED: over the key's call rate, or over one of its caps (unfinished jobs, bytes); Retry-After.",
            },
            '503': responseRef('Unavailable'),
          },
        },
        get: {
          tags: ['jobs'],
          operationId: 'listJobs',
          summary: "A device's jobs, newest first",
          parameters: [...callParameters, ...queryParameters(jobListQuery)],
          responses: {
            '200': { description: '{"jobs": [...]}' },
            '400': responseRef('InvalidArgument'),
            '401': responseRef('Unauthenticated'),
          },
        },
      },
      '/v1/devices/{productKey}/{deviceName}/rrpc/jobs/{id}': {
        get: {
          tags: ['jobs'],
          operationId: 'getJob',
          summary: 'A job: state, attempts, timestamps, result, callback',
          parameters: [...callParameters, { name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': {
              description:
                "The job. Its `callback` is {state: PENDING | RETRYING | DELIVERED | FAILED, attempts, lastAttemptAt?, deliveredAt?}: never the receiver's status or error text.",
            },
            '404': { description: 'No such job of this API key.' },
            '401': responseRef('Unauthenticated'),
          },
        },
        delete: {
          tags: ['jobs'],
          operationId: 'cancelJob',
          summary: 'Cancel a QUEUED or SENT job',
          parameters: [...callParameters, { name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'The cancelled job.' },
            '404': { description: 'No such job of this API key.' },
            '409': { description: 'The job has finished.' },
            '401': responseRef('Unauthenticated'),
          },
        },
      },
      '/v1/rrpc/batches': {
        post: {
          tags: ['jobs'],
          operationId: 'createBatch',
          summary: 'Call up to 10,000 devices (or every online device of a product)',
          description: 'Answers 202 {"id","state","total"} at once. Accepts an Idempotency-Key header.',
          requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(batchBody, 'input') } } },
          responses: {
            '202': { description: 'The batch ID.' },
            '400': responseRef('InvalidArgument'),
            '401': responseRef('Unauthenticated'),
            '403': { description: 'A product the key may not call.' },
            '409': { description: 'Idempotency-Key in use.' },
            '429': {
              description:
                "RATE_LIMITED: over the key's call rate, or over one of its caps (devices in running batches, bytes); Retry-After.",
            },
          },
        },
      },
      '/v1/rrpc/batches/{id}': {
        get: {
          tags: ['jobs'],
          operationId: 'getBatch',
          summary: 'A batch: state RUNNING|DONE, total, counts by rrpcCode',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'The batch.' },
            '404': { description: 'No such batch of this API key.' },
            '401': responseRef('Unauthenticated'),
          },
        },
      },
      '/v1/rrpc/batches/{id}/results': {
        get: {
          tags: ['jobs'],
          operationId: 'getBatchResults',
          summary: "Each device's result, a page at a time",
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }, ...queryParameters(batchResultsQuery)],
          responses: {
            '200': { description: '{"results": [...], "nextCursor"}' },
            '404': { description: 'No such batch of this API key.' },
            '401': responseRef('Unauthenticated'),
          },
        },
      },
      '/compat/aliyun': {
        get: {
          tags: ['compat'],
          operationId: 'aliyunRRpcGet',
          summary: "Alibaba's RRpc and device actions (query parameters)",
          description: `Alibaba Cloud IoT's \`Action=RRpc\` with its parameters in the query. Timeout is ${ALIYUN_TIMEOUT_MS.min}-${ALIYUN_TIMEOUT_MS.max} ms, as at Alibaba. ${ALIYUN_DEVICES_DESCRIPTION}`,
          parameters: queryParameters(aliyunRrpc),
          responses: aliyunResponses(),
        },
        post: {
          tags: ['compat'],
          operationId: 'aliyunRRpcPost',
          summary: "Alibaba's RRpc action (form or JSON body)",
          description: `The same parameters as a form or JSON body (body fields win over query fields of the same name). ${ALIYUN_DEVICES_DESCRIPTION}`,
          requestBody: {
            required: true,
            content: {
              'application/x-www-form-urlencoded': { schema: ref('AliyunRRpcRequest') },
              'application/json': { schema: ref('AliyunRRpcRequest') },
            },
          },
          responses: aliyunResponses(),
        },
      },
      '/v1/events': {
        get: {
          tags: ['devices'],
          operationId: 'streamPresenceChanges',
          summary: "A product's presence changes, live (server-sent events)",
          description:
            'Each change is an event `presence` with data `{"productKey","deviceName","status"}` (status ONLINE or OFFLINE); a comment line every 15 s keeps the stream open. Delivery is at most once: re-read the devices after a reconnect. Used by the console (/console/).',
          parameters: [
            {
              name: 'productKey',
              in: 'query',
              required: true,
              schema: { type: 'string', pattern: IDENTIFIER_PATTERNS.productKey },
              description: 'The product whose devices to watch.',
            },
          ],
          responses: {
            '200': { description: 'The event stream.', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            '400': responseRef('InvalidArgument'),
            '401': responseRef('Unauthenticated'),
            '403': { description: 'A product the key may not see.' },
            '503': responseRef('Unavailable'),
          },
        },
      },
      '/v1/cluster/summary': {
        get: {
          tags: ['operations'],
          operationId: 'getClusterSummary',
          summary: "The cluster's pods as their metrics see them (the console's health page)",
          description:
            'Every api pod, ingest replica and worker reports every 5 s: events per second and p50/p99 over the last interval (interpolated from its duration histogram), totals by outcome since it started, calls in flight. A pod that stops reporting drops out after 15 s. Needs a key that is not limited to products.',
          responses: {
            '200': {
              description: 'The pods.',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['pods', 'grafanaUrl'],
                    properties: {
                      pods: {
                        type: 'array',
                        items: {
                          type: 'object',
                          required: ['kind', 'instanceId', 'seenAt', 'callsPerSecond', 'outcomes'],
                          properties: {
                            kind: { type: 'string', enum: ['api', 'response-ingest', 'worker'] },
                            instanceId: { type: 'string' },
                            seenAt: { type: 'string', format: 'date-time' },
                            callsPerSecond: { type: 'number' },
                            outcomes: { type: 'object', additionalProperties: { type: 'number' } },
                            p50Ms: { type: ['number', 'null'] },
                            p99Ms: { type: ['number', 'null'] },
                            inFlight: { type: 'number' },
                          },
                        },
                      },
                      grafanaUrl: { type: ['string', 'null'] },
                    },
                  },
                },
              },
            },
            '401': responseRef('Unauthenticated'),
            '403': { description: 'A key limited to products.' },
            '503': responseRef('Unavailable'),
          },
        },
      },
      '/livez': {
        get: {
          tags: ['operations'],
          operationId: 'livez',
          summary: 'Liveness: the process runs',
          security: [],
          responses: { '200': { description: 'Alive.', content: { 'application/json': { schema: ref('Liveness') } } } },
        },
      },
      '/readyz': {
        get: {
          tags: ['operations'],
          operationId: 'readyz',
          summary: 'Readiness: Redis, the reply channel and the broker are connected, and the pod is not shutting down',
          security: [],
          responses: {
            '200': { description: 'Ready.', content: { 'application/json': { schema: ref('Readiness') } } },
            '503': { description: 'Not ready, or shutting down.', content: { 'application/json': { schema: ref('Readiness') } } },
          },
        },
      },
      '/metrics': {
        get: {
          tags: ['operations'],
          operationId: 'metrics',
          summary: 'Prometheus metrics',
          security: [],
          responses: {
            '200': { description: 'The Prometheus text exposition format.', content: { 'text/plain': { schema: { type: 'string' } } } },
          },
        },
      },
    },
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: "One of the cluster's API keys (RRPC_API_KEYS)." },
      },
      schemas: {
        CallRequest: jsonSchema(callBody, 'input'),
        CallAnswer: jsonSchema(callAnswer, 'output'),
        ErrorBody: jsonSchema(errorBody, 'output'),
        Device: jsonSchema(presence, 'output'),
        DeviceRegistration: jsonSchema(deviceCreateBody, 'input'),
        DeviceCreated: jsonSchema(deviceCreated, 'output'),
        DeviceImport: jsonSchema(deviceImportBody, 'input'),
        DeviceImportResult: jsonSchema(deviceImportResult, 'output'),
        DeviceUpdate: jsonSchema(deviceUpdateBody, 'input'),
        DeviceSecret: jsonSchema(deviceSecretAnswer, 'output'),
        DevicePage: jsonSchema(devicePage, 'output'),
        AliyunDeviceAnswer: jsonSchema(aliyunDeviceAnswer, 'output'),
        CallOutcome: jsonSchema(callOutcome, 'output'),
        AliyunRRpcRequest: jsonSchema(aliyunRrpc, 'input'),
        AliyunRRpcAnswer: jsonSchema(aliyunAnswer, 'output'),
        AliyunError: jsonSchema(aliyunError, 'output'),
        Liveness: jsonSchema(liveness, 'output'),
        Readiness: jsonSchema(readiness, 'output'),
      },
      responses: errorResponses,
    },
  };
}

const ALIYUN_DEVICES_DESCRIPTION = `Device actions, with Alibaba's parameters: ${ALIYUN_DEVICE_ACTIONS.join(', ')} (ProductKey and DeviceName; BatchGetDeviceState takes DeviceName.1, DeviceName.2, ... up to 50; RegisterDevice's DeviceName is optional). IotId is not supported, and QueryDeviceDetail never shows the stored DeviceSecret.`;

function aliyunResponses(): Json {
  return {
    '200': {
      description: 'The outcome of the call (also OFFLINE, HALFCONN and TIMEOUT, as Alibaba answers them), or of a device action.',
      content: {
        'application/json': {
          schema: { oneOf: [ref('AliyunRRpcAnswer'), ref('AliyunDeviceAnswer')] },
          example: { RequestId: '6f0f6a48-57b1-4b2e-9d1f-6c0e1e7a2c11', Success: true, RrpcCode: 'SUCCESS', PayloadBase64Byte: 'b2s=' },
        },
      },
    },
    '400': responseRef('AliyunError'),
    '401': responseRef('AliyunError'),
    '403': responseRef('AliyunError'),
    '404': responseRef('AliyunError'),
    '409': responseRef('AliyunError'),
    '413': responseRef('AliyunError'),
    '500': responseRef('AliyunError'),
    '503': responseRef('AliyunError'),
  };
}

/** The committed file's exact text: two-space JSON and a final newline. */
export function formatOpenApi(document: Json): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
