/**
 * The one registry of API error codes. Every HTTP error the cluster answers with is one of these;
 * services never invent a status or a code of their own.
 */
export const ERROR_CODES = {
  INVALID_ARGUMENT: { status: 400, message: 'The request has an invalid argument.' },
  UNAUTHENTICATED: { status: 401, message: 'A valid "Authorization: Bearer <key>" header is required.' },
  PERMISSION_DENIED: { status: 403, message: 'This key may not do that.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  DEVICE_OFFLINE: { status: 404, message: 'The device is not connected.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed.' },
  CONFLICT: { status: 409, message: 'Conflict.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The payload is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Use Content-Type application/json or application/octet-stream.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
  UNAVAILABLE: { status: 503, message: 'A backing service (Redis or the MQTT broker) is unavailable; retry later.' },
  DEVICE_TIMEOUT: { status: 504, message: 'The device did not answer in time.' },
  DEVICE_NOT_FOUND: { status: 404, message: 'No such device is registered.' },
  DEVICE_DISABLED: { status: 403, message: 'The device is disabled.' },
  DEVICE_EXISTS: { status: 409, message: 'A device with this name is registered already.' },
  DEVICE_NOT_SUBSCRIBED: { status: 404, message: 'The device is connected but not subscribed to the request topic.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
