/**
 * How a simulated device answers: echo, a fixed reply or silence; after a delay drawn from a
 * distribution; with a share of failed requests that get no answer or an error payload.
 */
import type { RrpcAnswer, RrpcHandler } from '@rrpc/device-sdk';

/** A delay in ms: fixed `50`, `uniform:10-100`, or `exp:50` (exponential with that mean). */
export type Delay = { kind: 'fixed'; ms: number } | { kind: 'uniform'; minMs: number; maxMs: number } | { kind: 'exp'; meanMs: number };

export type ReplyMode = 'echo' | 'fixed' | 'silent';
export type ErrorMode = 'silent' | 'payload';

export interface Behaviour {
  reply: ReplyMode;
  /** The answer for reply 'fixed'. */
  fixedPayload?: string | Buffer;
  delay?: Delay;
  /** Share of requests (0..1) that fail: no answer, or `errorPayload`. */
  errorRate?: number;
  errorMode?: ErrorMode;
  errorPayload?: string | Buffer;
}

export const DEFAULT_ERROR_PAYLOAD = '{"error":"simulated device error"}';

/** A problem with the options given to the simulator; the message says what to write instead. */
export class SimulatorOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulatorOptionError';
  }
}

function nonNegative(text: string, what: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new SimulatorOptionError(`${what}: "${text}" is not a number of milliseconds >= 0`);
  return n;
}

export function parseDelay(text: string): Delay {
  const [kind, rest] = text.includes(':') ? (text.split(':', 2) as [string, string]) : ['fixed', text];
  switch (kind) {
    case 'fixed':
      return { kind: 'fixed', ms: nonNegative(rest, 'delay') };
    case 'uniform': {
      const m = /^\s*([^-\s]+)\s*-\s*([^-\s]+)\s*$/.exec(rest);
      if (!m) throw new SimulatorOptionError(`delay: write uniform:MIN-MAX (ms), e.g. uniform:10-100, not "${text}"`);
      const minMs = nonNegative(m[1] ?? '', 'delay minimum');
      const maxMs = nonNegative(m[2] ?? '', 'delay maximum');
      if (maxMs < minMs) throw new SimulatorOptionError(`delay: ${text}: the maximum is below the minimum`);
      return { kind: 'uniform', minMs, maxMs };
    }
    case 'exp':
      return { kind: 'exp', meanMs: nonNegative(rest, 'delay mean') };
    default:
      throw new SimulatorOptionError(`delay: "${text}": write MS, uniform:MIN-MAX or exp:MEAN`);
  }
}

export function formatDelay(delay: Delay): string {
  if (delay.kind === 'fixed') return `${delay.ms} ms`;
  if (delay.kind === 'uniform') return `uniform ${delay.minMs}-${delay.maxMs} ms`;
  return `exponential, mean ${delay.meanMs} ms`;
}

/** Draws one delay in ms; `random` returns [0, 1). */
export function drawDelay(delay: Delay, random: () => number = Math.random): number {
  switch (delay.kind) {
    case 'fixed':
      return delay.ms;
    case 'uniform':
      return delay.minMs + random() * (delay.maxMs - delay.minMs);
    case 'exp':
      return -delay.meanMs * Math.log(1 - random());
  }
}

export function checkBehaviour(b: Behaviour): void {
  if (!['echo', 'fixed', 'silent'].includes(b.reply)) throw new SimulatorOptionError(`reply: "${b.reply}": choose echo, fixed or silent`);
  if (b.reply === 'fixed' && b.fixedPayload === undefined) throw new SimulatorOptionError('reply fixed needs a payload (--reply-payload)');
  const rate = b.errorRate ?? 0;
  if (!Number.isFinite(rate) || rate < 0 || rate > 1) throw new SimulatorOptionError(`error rate: ${rate} is not between 0 and 1`);
  if (b.errorMode !== undefined && !['silent', 'payload'].includes(b.errorMode)) {
    throw new SimulatorOptionError(`error mode: "${b.errorMode}": choose silent or payload`);
  }
}

export interface HandlerCounters {
  requests: number;
  answers: number;
  errorAnswers: number;
  unanswered: number;
  /** Requests that carried a W3C traceparent (MQTT 5); the device SDK sends it back on the answer. */
  traced?: number;
}

/** Builds the RRPC handler of a device with this behaviour; counts what it does into `counters`. */
export function behaviourHandler(b: Behaviour, counters: HandlerCounters, random: () => number = Math.random): RrpcHandler {
  checkBehaviour(b);
  const errorRate = b.errorRate ?? 0;
  const errorPayload = b.errorPayload ?? DEFAULT_ERROR_PAYLOAD;
  const answer = (payload: Buffer): RrpcAnswer => {
    if (errorRate > 0 && random() < errorRate) {
      if ((b.errorMode ?? 'silent') === 'silent') {
        counters.unanswered++;
        return undefined;
      }
      counters.errorAnswers++;
      return errorPayload;
    }
    if (b.reply === 'silent') {
      counters.unanswered++;
      return undefined;
    }
    counters.answers++;
    return b.reply === 'echo' ? payload : b.fixedPayload;
  };
  return (payload, ctx) => {
    counters.requests++;
    if (ctx.traceparent !== undefined) counters.traced = (counters.traced ?? 0) + 1;
    const ms = b.delay === undefined ? 0 : drawDelay(b.delay, random);
    if (ms <= 0) return answer(payload);
    return new Promise<RrpcAnswer>((resolve) => setTimeout(() => resolve(answer(payload)), ms));
  };
}
