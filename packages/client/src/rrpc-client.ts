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

export type PresenceStatus = 'ONLINE' | 'OFFLINE' | 'HALFCONN';

export interface Presence {
  productKey: string;
  deviceName: string;
  status: PresenceStatus;
  clientId?: string | undefined;
  connectedAt?: Date | undefined;
  disconnectedAt?: Date | undefined;
  keepaliveSeconds?: number | undefined;
  lastDisconnectReason?: string | undefined;
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

  /** The device's presence, or null when the cluster has never seen it connect. */
  async device(productKey: string, deviceName: string, options: { signal?: AbortSignal } = {}): Promise<Presence | null> {
    const res = await this.request(devicePath(productKey, deviceName), { method: 'GET', notFoundIsNull: true, signal: options.signal });
    if (res === null) return null;
    const v = await readJson(res);
    return {
      productKey: String(v['productKey']),
      deviceName: String(v['deviceName']),
      status: v['status'] as PresenceStatus,
      clientId: optionalString(v['clientId']),
      connectedAt: optionalDate(v['connectedAt']),
      disconnectedAt: optionalDate(v['disconnectedAt']),
      keepaliveSeconds: typeof v['keepaliveSeconds'] === 'number' ? v['keepaliveSeconds'] : undefined,
      lastDisconnectReason: optionalString(v['lastDisconnectReason']),
    };
  }

  /** The stored outcome of a call by message ID, or null when it is unknown (never made, or expired). */
  async outcome(messageId: string, options: { signal?: AbortSignal } = {}): Promise<Outcome | null> {
    if (typeof messageId !== 'string' || messageId === '') throw new InvalidArgumentError('messageId: must be a non-empty string', 'messageId');
    const res = await this.request(`/v1/rrpc/${encodeURIComponent(messageId)}`, { method: 'GET', notFoundIsNull: true, signal: options.signal });
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
    if (init.notFoundIsNull && res.status === 404 && error.code === 'NOT_FOUND') return null;
    throw error;
  }
}

interface RequestOptions {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  deadlineMs?: number;
  signal?: AbortSignal | undefined;
}

function devicePath(productKey: string, deviceName: string): string {
  for (const [field, value] of [['productKey', productKey], ['deviceName', deviceName]] as const) {
    if (typeof value !== 'string' || value === '') throw new InvalidArgumentError(`${field}: must be a non-empty string`, field);
  }
  return `/v1/devices/${encodeURIComponent(productKey)}/${encodeURIComponent(deviceName)}`;
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
  if (typeof value !== 'object' || value === null) throw new RrpcClientError('INTERNAL', `The API answered ${res.status} with unexpected JSON.`, { status: res.status });
  return value as Record<string, unknown>;
}

const optionalString = (v: unknown) => (typeof v === 'string' ? v : undefined);
const optionalDate = (v: unknown) => (typeof v === 'string' ? new Date(v) : undefined);

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause;
    if (cause instanceof Error && cause.message) return `${error.message} (${cause.message})`;
    if (cause instanceof AggregateError) return `${error.message} (${cause.errors.map((e: unknown) => String((e as Error).message ?? e)).join('; ')})`;
    return error.message;
  }
  return String(error);
}
