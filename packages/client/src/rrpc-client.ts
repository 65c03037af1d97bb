/**
 * RrpcClient: the RRPC HTTP API for a Node backend. It speaks the JSON form of the call route, because only the
 * JSON answer carries every field of the outcome (rrpcCode, messageId, durationMs); payloads travel as base64.
 */
import { InvalidArgumentError, NetworkError, RrpcClientError, errorFromResponse } from './errors.js';

export interface RrpcClientOptions {
  /** Where the API listens, e.g. http://127.0.0.1:8080 (a path prefix is kept). */
  baseUrl: string;
  /** An API key (one of the cluster's RRPC_API_KEYS), sent as `Authorization: Bearer <key>`. */
  apiKey?: string | undefined;
  /** A fetch implementation; Node's global fetch by default. */
  fetch?: typeof fetch;
  /** The default device timeout for calls, in milliseconds (1000-60000); the API's default (8000) when unset. */
  timeoutMs?: number | undefined;
  /** How much longer than the device timeout the client waits for the HTTP answer (default 5000 ms). */
  httpGraceMs?: number | undefined;
  /** Deadline of the other requests (presence, outcome), in milliseconds (default 10000). */
  requestTimeoutMs?: number | undefined;
}

export type Payload = Buffer | Uint8Array | string;

export interface CallOptions {
  productKey: string;
  deviceName: string;
  /** The request bytes; a string is sent as its UTF-8 bytes. */
  payload: Payload;
  /** How long the device may take to answer, in milliseconds (1000-60000). */
  timeoutMs?: number | undefined;
  /** A custom topic (`/${productKey}/${deviceName}/user/...`); the system RRPC topic when unset. */
  topic?: string | undefined;
  /** Abandons the HTTP request (the call itself may still reach the device). */
  signal?: AbortSignal | undefined;
  /** W3C trace context of the caller's span: the call (and the device, on MQTT 5) continues this trace. */
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

export interface CallResult {
  /** The call's 64-bit message ID, as decimal digits (kept as a string: it exceeds 2^53). */
  messageId: string;
  /** The device's answer. */
  payload: Buffer;
  /** Time from publish to answer inside the cluster, in milliseconds. */
  durationMs: number;
}

/** UNACTIVE: registered, never connected (Alibaba's word). */
export type PresenceStatus = 'ONLINE' | 'OFFLINE' | 'HALFCONN' | 'UNACTIVE';

export interface Presence {
  productKey: string;
  deviceName: string;
  status: PresenceStatus;
  clientId?: string | undefined;
  connectedAt?: Date | undefined;
  disconnectedAt?: Date | undefined;
  keepaliveSeconds?: number | undefined;
  lastDisconnectReason?: string | undefined;
  /** Registered devices (registry on): false when disabled. */
  enabled?: boolean | undefined;
  /** Registered devices: when the device was registered. */
  createdAt?: Date | undefined;
}

export interface NewDevice {
  productKey: string;
  /** Generated (20 letters and digits) when unset. */
  deviceName?: string | undefined;
  /** Generated (32 characters) when unset; else 16-128 visible ASCII characters. */
  deviceSecret?: string | undefined;
}

export interface RegisteredDevice {
  productKey: string;
  deviceName: string;
  /** The secret: shown on registration and rotation only. */
  deviceSecret: string;
  enabled: boolean;
  createdAt: Date;
}

export interface ImportResult {
  created: number;
  existing: number;
  failed: Array<{ index: number; error: { code: string; message: string } }>;
}

export interface DevicePage {
  devices: Presence[];
  /** Pass as `cursor` for the next page; null at the end. */
  nextCursor: string | null;
}

export type OutcomeCode = 'PENDING' | 'SUCCESS' | 'TIMEOUT';

export interface Outcome {
  messageId: string;
  productKey: string;
  deviceName: string;
  /** PENDING while the call waits for its answer; then how it ended. */
  rrpcCode: OutcomeCode;
  /** The device's answer, once there is one. */
  payload?: Buffer | undefined;
  createdAt: Date;
  deadline: Date;
  finishedAt?: Date | undefined;
}

const DEFAULT_CALL_TIMEOUT_MS = 8000;

export class RrpcClient {
  private readonly baseUrl: string;
  private readonly apiKey: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number | undefined;
  private readonly httpGraceMs: number;
  private readonly requestTimeoutMs: number;

  constructor(options: RrpcClientOptions) {
    let url: URL | undefined;
    try {
      url = new URL(options.baseUrl);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new InvalidArgumentError(`baseUrl: must be an http:// or https:// URL, not ${JSON.stringify(options.baseUrl)}`, 'baseUrl');
    }
    this.baseUrl = url.href.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.timeoutMs = options.timeoutMs;
    this.httpGraceMs = options.httpGraceMs ?? 5000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  /** Sends `payload` to the device and resolves with its answer, or throws one of the RrpcClientError classes. */
  async call(options: CallOptions): Promise<CallResult> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const body: Record<string, unknown> = { payload: toBuffer(options.payload).toString('base64') };
    if (timeoutMs !== undefined) body['timeoutMs'] = timeoutMs;
    if (options.topic !== undefined) body['topic'] = options.topic;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.traceparent !== undefined) headers['traceparent'] = options.traceparent;
    if (options.tracestate !== undefined) headers['tracestate'] = options.tracestate;
    const res = await this.request(`${devicePath(options.productKey, options.deviceName)}/rrpc`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      deadlineMs: (typeof timeoutMs === 'number' && Number.isFinite(timeoutMs) ? timeoutMs : DEFAULT_CALL_TIMEOUT_MS) + this.httpGraceMs,
      signal: options.signal,
    });
    const answer = await readJson(res);
    if (typeof answer['messageId'] !== 'string' || typeof answer['payload'] !== 'string') {
      throw new RrpcClientError('INTERNAL', 'The API answered 200 without a messageId and payload.', { status: res.status });
    }
    return {
      messageId: answer['messageId'],
      payload: Buffer.from(answer['payload'], 'base64'),
      durationMs: typeof answer['durationMs'] === 'number' ? answer['durationMs'] : Number.NaN,
    };
  }

  /** The device (registry record and presence), or null when it is not registered (registry off: never seen). */
  async device(productKey: string, deviceName: string, options: { signal?: AbortSignal } = {}): Promise<Presence | null> {
    const res = await this.request(devicePath(productKey, deviceName), { method: 'GET', notFoundIsNull: true, signal: options.signal });
    if (res === null) return null;
    return presenceFrom(await readJson(res));
  }

  /** Registers a device; the answer carries its secret (this once). 409 DEVICE_EXISTS when it is registered already. */
  async registerDevice(device: NewDevice, options: { signal?: AbortSignal } = {}): Promise<RegisteredDevice> {
    const res = await this.request('/v1/devices', { method: 'POST', ...jsonBody(device), signal: options.signal });
    const v = await readJson(res);
    return {
      productKey: String(v['productKey']),
      deviceName: String(v['deviceName']),
      deviceSecret: String(v['deviceSecret']),
      enabled: v['enabled'] === true,
      createdAt: new Date(String(v['createdAt'])),
    };
  }

  /** Registers up to 10,000 devices with their existing secrets; existing devices are left as they are. */
  async importDevices(
    devices: ReadonlyArray<{ productKey: string; deviceName: string; deviceSecret: string }>,
    options: { signal?: AbortSignal } = {},
  ): Promise<ImportResult> {
    const res = await this.request('/v1/devices/import', {
      method: 'POST',
      ...jsonBody({ devices }),
      deadlineMs: Math.max(this.requestTimeoutMs, 60_000),
      signal: options.signal,
    });
    const v = await readJson(res);
    return {
      created: Number(v['created']),
      existing: Number(v['existing']),
      failed: Array.isArray(v['failed']) ? (v['failed'] as ImportResult['failed']) : [],
    };
  }

  /** One page of a product's devices, by name. */
  async listDevices(
    productKey: string,
    query: {
      status?: 'ONLINE' | 'OFFLINE' | 'HALFCONN' | 'UNACTIVE' | undefined;
      limit?: number | undefined;
      cursor?: string | undefined;
    } = {},
    options: { signal?: AbortSignal } = {},
  ): Promise<DevicePage> {
    if (typeof productKey !== 'string' || productKey === '')
      throw new InvalidArgumentError('productKey: must be a non-empty string', 'productKey');
    const params = new URLSearchParams();
    if (query.status !== undefined) params.set('status', query.status);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    if (query.cursor !== undefined) params.set('cursor', query.cursor);
    const q = params.size > 0 ? `?${params.toString()}` : '';
    const res = await this.request(`/v1/products/${encodeURIComponent(productKey)}/devices${q}`, { method: 'GET', signal: options.signal });
    const v = await readJson(res);
    const list = Array.isArray(v['devices']) ? (v['devices'] as Array<Record<string, unknown>>) : [];
    return { devices: list.map(presenceFrom), nextCursor: typeof v['nextCursor'] === 'string' ? v['nextCursor'] : null };
  }

  /** Enables or disables a device (a disabled device's calls answer 403 DEVICE_DISABLED); the device as it is now. */
  async setDeviceEnabled(
    productKey: string,
    deviceName: string,
    enabled: boolean,
    options: { signal?: AbortSignal } = {},
  ): Promise<Presence> {
    const res = await this.request(devicePath(productKey, deviceName), {
      method: 'PATCH',
      ...jsonBody({ enabled }),
      signal: options.signal,
    });
    return presenceFrom(await readJson(res));
  }

  /** Replaces a device's secret with a new one (returned); the old one stops working at once. */
  async rotateDeviceSecret(productKey: string, deviceName: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const res = await this.request(`${devicePath(productKey, deviceName)}/secret`, { method: 'POST', signal: options.signal });
    return String((await readJson(res))['deviceSecret']);
  }

  /** Unregisters a device. */
  async deleteDevice(productKey: string, deviceName: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const res = await this.request(devicePath(productKey, deviceName), { method: 'DELETE', signal: options.signal });
    await res.arrayBuffer();
  }

  /** The stored outcome of a call by message ID, or null when it is unknown (never made, or expired). */
  async outcome(messageId: string, options: { signal?: AbortSignal } = {}): Promise<Outcome | null> {
    if (typeof messageId !== 'string' || messageId === '')
      throw new InvalidArgumentError('messageId: must be a non-empty string', 'messageId');
    const res = await this.request(`/v1/rrpc/${encodeURIComponent(messageId)}`, {
      method: 'GET',
      notFoundIsNull: true,
      signal: options.signal,
    });
    if (res === null) return null;
    const v = await readJson(res);
    return {
      messageId: String(v['messageId']),
      productKey: String(v['productKey']),
      deviceName: String(v['deviceName']),
      rrpcCode: v['rrpcCode'] as OutcomeCode,
      payload: typeof v['payload'] === 'string' ? Buffer.from(v['payload'], 'base64') : undefined,
      createdAt: new Date(String(v['createdAt'])),
      deadline: new Date(String(v['deadline'])),
      finishedAt: optionalDate(v['finishedAt']),
    };
  }

  private request(path: string, init: RequestOptions & { notFoundIsNull: true }): Promise<Response | null>;
  private request(path: string, init: RequestOptions): Promise<Response>;
  private async request(path: string, init: RequestOptions & { notFoundIsNull?: boolean }): Promise<Response | null> {
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
    if (this.apiKey !== undefined) headers['authorization'] = `Bearer ${this.apiKey}`;
    const deadlineMs = init.deadlineMs ?? this.requestTimeoutMs;
    const deadline = AbortSignal.timeout(deadlineMs);
    const signal = init.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    let res: Response;
    try {
      res = await this.fetchImpl(this.baseUrl + path, { method: init.method, headers, body: init.body, signal });
    } catch (cause) {
      if (init.signal?.aborted) throw init.signal.reason ?? cause;
      if (deadline.aborted) {
        throw new NetworkError(`No answer from the RRPC API at ${this.baseUrl} within ${deadlineMs} ms.`, { cause, timedOut: true });
      }
      throw new NetworkError(`Cannot reach the RRPC API at ${this.baseUrl}: ${describe(cause)}`, { cause });
    }
    if (res.ok) return res;
    const error = await errorFromResponse(res);
    if (init.notFoundIsNull && res.status === 404 && (error.code === 'NOT_FOUND' || error.code === 'DEVICE_NOT_FOUND')) return null;
    throw error;
  }
}

interface RequestOptions {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  deadlineMs?: number;
  signal?: AbortSignal | undefined;
}

function devicePath(productKey: string, deviceName: string): string {
  for (const [field, value] of [
    ['productKey', productKey],
    ['deviceName', deviceName],
  ] as const) {
    if (typeof value !== 'string' || value === '') throw new InvalidArgumentError(`${field}: must be a non-empty string`, field);
  }
  return `/v1/devices/${encodeURIComponent(productKey)}/${encodeURIComponent(deviceName)}`;
}

function jsonBody(value: unknown): { headers: Record<string, string>; body: string } {
  return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}

function presenceFrom(v: Record<string, unknown>): Presence {
  return {
    productKey: String(v['productKey']),
    deviceName: String(v['deviceName']),
    status: v['status'] as PresenceStatus,
    clientId: optionalString(v['clientId']),
    connectedAt: optionalDate(v['connectedAt']),
    disconnectedAt: optionalDate(v['disconnectedAt']),
    keepaliveSeconds: typeof v['keepaliveSeconds'] === 'number' ? v['keepaliveSeconds'] : undefined,
    lastDisconnectReason: optionalString(v['lastDisconnectReason']),
    enabled: typeof v['enabled'] === 'boolean' ? v['enabled'] : undefined,
    createdAt: optionalDate(v['createdAt']),
  };
}

function toBuffer(payload: Payload): Buffer {
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (Buffer.isBuffer(payload)) return payload;
  if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  throw new InvalidArgumentError('payload: must be a Buffer, a Uint8Array or a string', 'payload');
}

async function readJson(res: Response): Promise<Record<string, unknown>> {
  let value: unknown;
  try {
    value = await res.json();
  } catch (cause) {
    throw new RrpcClientError('INTERNAL', `The API answered ${res.status} with a body that is not JSON.`, { status: res.status, cause });
  }
  if (typeof value !== 'object' || value === null)
    throw new RrpcClientError('INTERNAL', `The API answered ${res.status} with unexpected JSON.`, { status: res.status });
  return value as Record<string, unknown>;
}

const optionalString = (v: unknown) => (typeof v === 'string' ? v : undefined);
const optionalDate = (v: unknown) => (typeof v === 'string' ? new Date(v) : undefined);

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause;
    if (cause instanceof Error && cause.message) return `${error.message} (${cause.message})`;
    if (cause instanceof AggregateError)
      return `${error.message} (${cause.errors.map((e: unknown) => String((e as Error).message ?? e)).join('; ')})`;
    return error.message;
  }
  return String(error);
}
