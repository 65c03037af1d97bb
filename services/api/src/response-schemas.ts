import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '@rrpc/errors';

/**
 * The shapes of the API's answers, for its documentation (docs/openapi.json). The routes build their answers
 * by hand; test/openapi-responses.test.ts checks real answers against these schemas, so they cannot drift.
 */
const MESSAGE_ID = /^[1-9][0-9]{0,18}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const messageIdString = z
  .string()
  .regex(MESSAGE_ID)
  .meta({
    description: "The call's message ID: the decimal digits of a positive 64-bit integer (a string: it exceeds 2^53).",
    examples: ['1839204856102938471'],
  });

const base64 = (description: string) => z.string().regex(BASE64).meta({ description, contentEncoding: 'base64' });
const timestamp = (description: string) => z.iso.datetime().meta({ description });

export const callAnswer = z
  .object({
    rrpcCode: z.literal('SUCCESS'),
    messageId: messageIdString,
    payload: base64("The device's answer, standard base64."),
    durationMs: z.number().nonnegative().meta({ description: 'From publishing the request to receiving the answer, in milliseconds.' }),
  })
  .strict()
  .meta({ description: "The device's answer." });

const errorCodes = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

export const errorBody = z
  .object({
    rrpcCode: z.enum(['TIMEOUT', 'OFFLINE', 'HALFCONN', 'NOT_SUBSCRIBED']).optional().meta({
      description:
        'On a failed call: OFFLINE or HALFCONN (DEVICE_OFFLINE, nothing was published), NOT_SUBSCRIBED (DEVICE_NOT_SUBSCRIBED: connected but not subscribed to the request topic, nothing was published) or TIMEOUT (DEVICE_TIMEOUT).',
    }),
    messageId: messageIdString.optional().meta({ description: 'On DEVICE_TIMEOUT: the message ID of the call that was published.' }),
    error: z
      .object({
        code: z.enum(errorCodes).meta({ description: 'The error code; each code has one HTTP status.' }),
        message: z.string().meta({ description: 'What went wrong, for people.' }),
        field: z
          .string()
          .optional()
          .meta({ description: 'On INVALID_ARGUMENT: the refused field (e.g. timeoutMs, topic, deviceName, body).' }),
      })
      .strict(),
  })
  .strict()
  .meta({ description: 'Every error answer of the /v1 routes.' });

export const presence = z
  .object({
    productKey: z.string(),
    deviceName: z.string(),
    status: z.enum(['ONLINE', 'OFFLINE', 'HALFCONN', 'UNACTIVE']).meta({
      description:
        'HALFCONN: disconnected less than one keep-alive period ago (a call answers HALFCONN). UNACTIVE: registered, never connected.',
    }),
    clientId: z.string().optional().meta({ description: 'The MQTT client ID of the latest connection.' }),
    connectedAt: timestamp('When the latest connection was made.').optional(),
    disconnectedAt: timestamp('When the latest connection ended.').optional(),
    keepaliveSeconds: z.number().int().nonnegative().optional().meta({ description: "The latest connection's MQTT keep-alive." }),
    lastDisconnectReason: z.string().optional().meta({ description: "The broker's reason for the latest disconnect." }),
    enabled: z.boolean().optional().meta({ description: 'Registered devices: false when disabled (calls answer 403 DEVICE_DISABLED).' }),
    createdAt: timestamp('Registered devices: when the device was registered.').optional(),
    subscriptions: z.array(z.string()).optional().meta({
      description:
        "The topic filters the device's current session subscribed to (from the broker's session.subscribed / session.unsubscribed events; $share/<group>/ taken off). Absent for a device that never connected (UNACTIVE).",
    }),
  })
  .strict()
  .meta({
    description:
      "A device: its registry record (enabled, createdAt) and its presence, as the broker's webhooks reported it. Never its secret.",
  });

export const deviceCreated = z
  .object({
    productKey: z.string(),
    deviceName: z.string(),
    deviceSecret: z.string().meta({ description: 'The device secret: shown here and on rotation only, never again.' }),
    enabled: z.literal(true),
    createdAt: timestamp('When the device was registered.'),
  })
  .strict()
  .meta({ description: 'A registered device, with its secret (this once).' });

export const deviceSecretAnswer = z
  .object({ deviceSecret: z.string().meta({ description: 'The new secret (32 letters and digits); the old one no longer works.' }) })
  .strict()
  .meta({ description: "A device's new secret." });

export const deviceImportResult = z
  .object({
    created: z.number().int().nonnegative().meta({ description: 'Devices registered now.' }),
    existing: z.number().int().nonnegative().meta({ description: 'Devices registered already (left as they were).' }),
    failed: z
      .array(
        z
          .object({
            index: z.number().int().nonnegative().meta({ description: 'The entry in the request.' }),
            error: z.object({ code: z.enum(errorCodes), message: z.string() }).strict(),
          })
          .strict(),
      )
      .meta({ description: 'Entries that were refused (invalid, or a product the key may not manage).' }),
  })
  .strict()
  .meta({ description: 'The outcome of an import.' });

export const devicePage = z
  .object({
    devices: z.array(presence),
    nextCursor: z.string().nullable().meta({ description: 'Pass as cursor for the next page; null at the end of the product.' }),
  })
  .strict()
  .meta({ description: "One page of a product's devices, by name." });

export const callOutcome = z
  .object({
    messageId: messageIdString,
    productKey: z.string(),
    deviceName: z.string(),
    rrpcCode: z.enum(['PENDING', 'SUCCESS', 'TIMEOUT']).meta({ description: 'PENDING while the call waits for its answer.' }),
    payload: base64("The device's answer, once there is one.").optional(),
    createdAt: timestamp('When the call was made.'),
    deadline: timestamp('When the call times out.'),
    finishedAt: timestamp('When the answer arrived or the call timed out.').optional(),
  })
  .strict()
  .meta({ description: 'The stored outcome of a call (kept for a limited time: RRPC_RESULT_TTL_MS).' });

export const aliyunAnswer = z
  .object({
    RequestId: z.string(),
    Success: z.literal(true),
    RrpcCode: z.enum(['SUCCESS', 'TIMEOUT', 'OFFLINE', 'HALFCONN', 'UNKNOW']).meta({
      description:
        "The call's outcome, as Alibaba names it (OFFLINE, HALFCONN and TIMEOUT answer 200 with Success true, like Alibaba). UNKNOW: the device is connected but not subscribed to the request topic (ErrorMessage says so); nothing was published.",
    }),
    ErrorMessage: z.string().optional().meta({ description: 'With RrpcCode UNKNOW: why the call failed.' }),
    PayloadBase64Byte: base64("On SUCCESS: the device's answer in base64.").optional(),
    // A 64-bit integer: beyond JS's safe integers, so no int() check here; the document says type integer.
    MessageId: z.number().optional().meta({
      format: 'int64',
      description: 'The message ID as a JSON integer with the exact 64-bit digits (read it with a big-integer-aware parser).',
    }),
  })
  .strict()
  .meta({ description: "Alibaba Cloud IoT's RRpc answer." });

export const aliyunError = z
  .object({
    RequestId: z.string(),
    Success: z.literal(false),
    Code: z.string().meta({ description: "Alibaba's error code, e.g. InvalidParameter, InvalidAccessKeyId.NotFound, ServiceUnavailable." }),
    ErrorMessage: z.string(),
  })
  .strict()
  .meta({ description: "Alibaba Cloud IoT's error answer." });

export const liveness = z.object({ status: z.literal('ok') }).strict();

export const readiness = z
  .object({
    status: z.enum(['ready', 'not-ready', 'shutting-down']),
    checks: z.record(z.string(), z.boolean()).meta({ description: 'Each dependency: redis, replyChannel, broker.' }),
  })
  .strict();

export const aliyunDeviceAnswer = z
  .object({
    RequestId: z.string(),
    Success: z.literal(true),
    Data: z
      .object({
        ProductKey: z.string().optional(),
        DeviceName: z.string().optional(),
        DeviceSecret: z.string().optional().meta({ description: 'RegisterDevice only: the new secret (stored secrets are never shown).' }),
        Status: z.enum(['ONLINE', 'OFFLINE', 'UNACTIVE', 'DISABLE']).optional(),
        GmtCreate: z.string().optional(),
        UtcCreate: z.string().optional(),
        GmtOnline: z.string().optional(),
        UtcOnline: z.string().optional(),
      })
      .strict()
      .optional(),
    DeviceStatusList: z
      .object({
        DeviceStatus: z.array(
          z
            .object({
              DeviceName: z.string(),
              Status: z.enum(['ONLINE', 'OFFLINE', 'UNACTIVE', 'DISABLE']),
              LastOnlineTime: z.string().optional(),
              Timestamp: z.number().int().optional().meta({ description: 'When the status last changed, ms since the epoch.' }),
            })
            .strict(),
        ),
      })
      .strict()
      .optional()
      .meta({ description: 'BatchGetDeviceState: the registered devices among those asked for.' }),
  })
  .strict()
  .meta({
    description:
      "Alibaba Cloud IoT's answer to a device management action (RegisterDevice, QueryDeviceDetail, GetDeviceStatus, BatchGetDeviceState, DeleteDevice, DisableThing, EnableThing).",
  });
