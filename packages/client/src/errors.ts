/**
 * The errors an RRPC client call can throw. Every one is an RrpcClientError; catch the subclasses for the
 * cases a backend usually handles differently (device offline, device timeout, bad argument, retry later).
 */

/** The RRPC outcome codes an error can carry (Alibaba's names). */
export type ErrorRrpcCode = 'TIMEOUT' | 'OFFLINE' | 'HALFCONN' | 'UNKNOW' | 'NOT_SUBSCRIBED';

export interface RrpcClientErrorOptions {
  /** HTTP status of the answer; undefined when no HTTP answer arrived. */
  status?: number | undefined;
  rrpcCode?: ErrorRrpcCode | undefined;
  messageId?: string | undefined;
  field?: string | undefined;
  cause?: unknown;
}

/** Base class: `code` is the API's error code (e.g. DEVICE_OFFLINE) or NETWORK when no answer arrived. */
export class RrpcClientError extends Error {
  readonly code: string;
  readonly status: number | undefined;
  readonly rrpcCode: ErrorRrpcCode | undefined;
  readonly messageId: string | undefined;
  readonly field: string | undefined;

  constructor(code: string, message: string, options: RrpcClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RrpcClientError';
    this.code = code;
    this.status = options.status;
    this.rrpcCode = options.rrpcCode;
    this.messageId = options.messageId;
    this.field = options.field;
  }
}

/** 404 DEVICE_OFFLINE: the device is not connected (OFFLINE) or dropped within one keep-alive (HALFCONN). Nothing was published. */
export class DeviceOfflineError extends RrpcClientError {
  declare readonly rrpcCode: 'OFFLINE' | 'HALFCONN';
  constructor(message: string, rrpcCode: 'OFFLINE' | 'HALFCONN', status = 404) {
    super('DEVICE_OFFLINE', message, { status, rrpcCode });
    this.name = 'DeviceOfflineError';
  }
}

/** 404 DEVICE_NOT_FOUND: no such device is registered (registry on). Nothing was published. */
export class DeviceNotFoundError extends RrpcClientError {
  constructor(message: string, status = 404) {
    super('DEVICE_NOT_FOUND', message, { status });
    this.name = 'DeviceNotFoundError';
  }
}

/** 403 DEVICE_DISABLED: the device is disabled. Nothing was published. */
export class DeviceDisabledError extends RrpcClientError {
  constructor(message: string, status = 403) {
    super('DEVICE_DISABLED', message, { status });
    this.name = 'DeviceDisabledError';
  }
}

/** 504 DEVICE_TIMEOUT: the request was published but the device did not answer in time. `messageId` names the call. */
export class DeviceTimeoutError extends RrpcClientError {
  declare readonly messageId: string;
  constructor(message: string, messageId: string, status = 504) {
    super('DEVICE_TIMEOUT', message, { status, rrpcCode: 'TIMEOUT', messageId });
    this.name = 'DeviceTimeoutError';
  }
}

/** 400 INVALID_ARGUMENT: `field` names the argument that was refused (e.g. timeoutMs, topic, deviceName). */
export class InvalidArgumentError extends RrpcClientError {
  declare readonly field: string;
  /** `status` is undefined when the client refused the argument before sending anything. */
  constructor(message: string, field: string, status?: number) {
    super('INVALID_ARGUMENT', message, { status, field });
    this.name = 'InvalidArgumentError';
  }
}

/** 401 UNAUTHENTICATED: the API key is missing or not accepted. */
export class UnauthenticatedError extends RrpcClientError {
  constructor(message: string, status = 401) {
    super('UNAUTHENTICATED', message, { status });
    this.name = 'UnauthenticatedError';
  }
}

/** 413 PAYLOAD_TOO_LARGE: the payload exceeds the cluster's limit (RRPC_MAX_PAYLOAD_BYTES). */
export class PayloadTooLargeError extends RrpcClientError {
  constructor(message: string, status = 413) {
    super('PAYLOAD_TOO_LARGE', message, { status });
    this.name = 'PayloadTooLargeError';
  }
}

/**
 * 503 UNAVAILABLE (or a gateway error in front of the API): Redis, the broker or the pod is unavailable, or the
 * pod is at its in-flight limit; retry later (`retryAfter` seconds, when the server said).
 */
export class UnavailableError extends RrpcClientError {
  readonly retryAfter: number | undefined;
  constructor(message: string, status: number, retryAfter?: number) {
    super('UNAVAILABLE', message, { status });
    this.name = 'UnavailableError';
    this.retryAfter = retryAfter;
  }
}

/** 429 RATE_LIMITED: `retryAfter` is the server's Retry-After in seconds, when it sent one. */
export class RateLimitedError extends RrpcClientError {
  readonly retryAfter: number | undefined;
  constructor(message: string, retryAfter: number | undefined, status = 429) {
    super('RATE_LIMITED', message, { status });
    this.name = 'RateLimitedError';
    this.retryAfter = retryAfter;
  }
}

/**
 * No HTTP answer: the API could not be reached, the connection broke, or no answer came within the client's
 * deadline (`timedOut`). Whether a call reached the device is unknown.
 */
export class NetworkError extends RrpcClientError {
  readonly timedOut: boolean;
  constructor(message: string, options: { cause?: unknown; timedOut?: boolean } = {}) {
    super('NETWORK', message, { cause: options.cause });
    this.name = 'NetworkError';
    this.timedOut = options.timedOut ?? false;
  }
}

/** The JSON error body the API answers with (see docs/openapi.json, ErrorBody). */
interface ErrorBody {
  rrpcCode?: unknown;
  messageId?: unknown;
  error?: { code?: unknown; message?: unknown; field?: unknown };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Retry-After is either delta-seconds or an HTTP date. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** Turns a non-2xx answer into the matching error class. */
export async function errorFromResponse(res: Response): Promise<RrpcClientError> {
  const text = await res.text().catch(() => '');
  let body: ErrorBody = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null) body = parsed;
  } catch {
    // not JSON: a proxy or something other than the RRPC API answered
  }
  const code = str(body.error?.code);
  const message = str(body.error?.message) ?? `HTTP ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`;
  const status = res.status;
  const rrpcCode = str(body.rrpcCode);
  const messageId = str(body.messageId) ?? res.headers.get('x-rrpc-message-id') ?? undefined;

  if (code === 'DEVICE_OFFLINE') return new DeviceOfflineError(message, rrpcCode === 'HALFCONN' ? 'HALFCONN' : 'OFFLINE', status);
  if (code === 'DEVICE_NOT_FOUND') return new DeviceNotFoundError(message, status);
  if (code === 'DEVICE_DISABLED') return new DeviceDisabledError(message, status);
  if (code === 'DEVICE_TIMEOUT' && messageId !== undefined) return new DeviceTimeoutError(message, messageId, status);
  if (code === 'INVALID_ARGUMENT' || (code === undefined && status === 400))
    return new InvalidArgumentError(message, str(body.error?.field) ?? 'body', status);
  if (code === 'UNAUTHENTICATED' || (code === undefined && status === 401)) return new UnauthenticatedError(message, status);
  if (code === 'PAYLOAD_TOO_LARGE' || (code === undefined && status === 413)) return new PayloadTooLargeError(message, status);
  if (code === 'RATE_LIMITED' || (code === undefined && status === 429))
    return new RateLimitedError(message, parseRetryAfter(res.headers.get('retry-after')), status);
  if (code === 'UNAVAILABLE' || (code === undefined && (status === 502 || status === 503 || status === 504)))
    return new UnavailableError(message, status, parseRetryAfter(res.headers.get('retry-after')));
  return new RrpcClientError(code ?? `HTTP_${status}`, message, {
    status,
    rrpcCode:
      rrpcCode === 'TIMEOUT' || rrpcCode === 'OFFLINE' || rrpcCode === 'HALFCONN' || rrpcCode === 'UNKNOW' || rrpcCode === 'NOT_SUBSCRIBED'
        ? rrpcCode
        : undefined,
    messageId,
    field: str(body.error?.field),
  });
}
