import { RrpcError, invalidArgument } from '@rrpc/errors';
import type { CallOutcome, CallRequest } from '@rrpc/caller';
import type { Principal } from './api-keys.js';
import { callBody, firstIssue, jsonBodyLimit, rawCallQuery } from './schemas.js';
import { callRequest, deviceFrom } from './call-input.js';
import type { CallRunner } from './call-runner.js';

export interface CallEndpointOptions {
  run: CallRunner;
  maxPayloadBytes: number;
}

export interface ParsedCall {
  request: CallRequest;
  connectTimeoutMs: number;
  /** application/octet-stream: raw bytes in and out. */
  raw: boolean;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

export type CallBody = { kind: 'json'; value: unknown } | { kind: 'raw'; bytes: Buffer; query: Record<string, unknown> };

/** Why a NOT_SUBSCRIBED call ended (also the message /compat/aliyun gives with RrpcCode UNKNOW). */
export const NOT_SUBSCRIBED_MESSAGE = 'The device is connected but not subscribed to the request topic; nothing was sent.';

export function outcomeError(outcome: Exclude<CallOutcome, { rrpcCode: 'SUCCESS' }>): RrpcError {
  if (outcome.rrpcCode === 'TIMEOUT') {
    return new RrpcError('DEVICE_TIMEOUT', { rrpcCode: 'TIMEOUT', messageId: outcome.messageId });
  }
  if (outcome.rrpcCode === 'NOT_SUBSCRIBED') {
    return new RrpcError('DEVICE_NOT_SUBSCRIBED', { rrpcCode: 'NOT_SUBSCRIBED', message: NOT_SUBSCRIBED_MESSAGE });
  }
  return new RrpcError('DEVICE_OFFLINE', {
    rrpcCode: outcome.rrpcCode,
    message:
      outcome.rrpcCode === 'HALFCONN' ? 'The device disconnected less than one keep-alive period ago.' : 'The device is not connected.',
  });
}

/**
 * `POST /v1/devices/{pk}/{dn}/rrpc`, independent of the HTTP framework: from the request's parts to a call,
 * and from the call's outcome to the HTTP answer. Used by the call route (fast-call-route.ts).
 */
export class CallEndpoint {
  /** Largest JSON body (schemas.ts: jsonBodyLimit). */
  readonly jsonLimit: number;

  constructor(private readonly options: CallEndpointOptions) {
    this.jsonLimit = jsonBodyLimit(options.maxPayloadBytes);
  }

  get rawLimit(): number {
    return this.options.maxPayloadBytes;
  }

  parse(productKey: unknown, deviceName: unknown, body: CallBody): ParsedCall {
    const device = deviceFrom(productKey, deviceName);
    if (body.kind === 'raw') {
      const query = rawCallQuery.safeParse(body.query);
      if (!query.success) {
        const { field, message } = firstIssue(query.error);
        throw invalidArgument(field, message);
      }
      const request = callRequest({
        device,
        payload: body.bytes,
        timeoutMs: query.data.timeoutMs,
        topic: query.data.topic,
        maxPayloadBytes: this.options.maxPayloadBytes,
      });
      return { request, connectTimeoutMs: query.data.connectTimeoutMs, raw: true };
    }
    const parsed = callBody.safeParse(body.value);
    if (!parsed.success) {
      const { field, message } = firstIssue(parsed.error);
      throw invalidArgument(field, message);
    }
    const request = callRequest({
      device,
      payload: Buffer.from(parsed.data.payload, 'base64'),
      timeoutMs: parsed.data.timeoutMs,
      topic: parsed.data.topic,
      maxPayloadBytes: this.options.maxPayloadBytes,
    });
    return { request, connectTimeoutMs: parsed.data.connectTimeoutMs, raw: false };
  }

  /** Makes the call (with connectTimeoutMs, the runner waits for an offline device: connect-wait.ts). */
  run(call: ParsedCall, principal: Principal | undefined): Promise<CallOutcome> {
    return this.options.run(
      call.connectTimeoutMs > 0 ? { ...call.request, connectTimeoutMs: call.connectTimeoutMs } : call.request,
      principal,
    );
  }

  /** The HTTP answer for an outcome (an RrpcError for everything but SUCCESS). */
  answer(outcome: CallOutcome, raw: boolean): HttpAnswer {
    if (raw) {
      const headers: Record<string, string> = { 'x-rrpc-code': outcome.rrpcCode };
      if ('messageId' in outcome) headers['x-rrpc-message-id'] = outcome.messageId;
      if (outcome.rrpcCode !== 'SUCCESS') return errorAnswer(outcomeError(outcome), headers);
      return { status: 200, headers: { ...headers, 'content-type': 'application/octet-stream' }, body: outcome.payload };
    }
    if (outcome.rrpcCode !== 'SUCCESS') return errorAnswer(outcomeError(outcome));
    // Built by hand: the fields are known, and JSON.stringify of an object costs more on the hot path.
    const body = `{"rrpcCode":"SUCCESS","messageId":"${outcome.messageId}","payload":"${outcome.payload.toString('base64')}","durationMs":${Math.round(outcome.durationMs * 1000) / 1000}}`;
    return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body };
  }
}

/** The JSON error answer of an RrpcError (its own headers, such as Retry-After, included). */
export function errorAnswer(error: RrpcError, extraHeaders: Record<string, string> = {}): HttpAnswer {
  return {
    status: error.status,
    headers: { ...extraHeaders, ...(error.headers ?? {}), 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(error.toBody()),
  };
}
