import { describe, expect, it } from 'vitest';
import { decodeTraceHeaders, encodeTraceHeaders, parseTraceparent, parseTracestate, traceHeadersFrom } from './trace-context.js';

const TID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SID = '00f067aa0ba902b7';

describe('traceparent', () => {
  it('takes a valid one', () => {
    expect(parseTraceparent(`00-${TID}-${SID}-01`)).toEqual({ traceId: TID, spanId: SID, flags: 1 });
    expect(parseTraceparent(`00-${TID}-${SID}-00`)?.flags).toBe(0);
  });

  it('takes a future version by its first four fields', () => {
    expect(parseTraceparent(`01-${TID}-${SID}-01-whatever`)).toEqual({ traceId: TID, spanId: SID, flags: 1 });
  });

  it.each([
    ['empty', ''],
    ['garbage', 'not a traceparent at all, not even close to one......'],
    ['upper-case hex', `00-${TID.toUpperCase()}-${SID}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SID}-01`],
    ['all-zero span id', `00-${TID}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TID}-${SID}-01`],
    ['version 00 with more fields', `00-${TID}-${SID}-01-extra`],
    ['short trace id', `00-${TID.slice(1)}-${SID}-01`],
    ['a number', 42],
    ['two headers joined', `00-${TID}-${SID}-01, 00-${TID}-${SID}-01`],
  ])('refuses %s', (_name, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
    expect(traceHeadersFrom(value, 'a=b')).toBeUndefined();
  });
});

describe('tracestate', () => {
  it('keeps valid list members, dropping empty ones and spaces around them', () => {
    expect(parseTracestate('rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,,')).toBe('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    expect(parseTracestate('tenant@sys=1')).toBe('tenant@sys=1');
  });

  it.each([
    ['no value separator', 'rojo'],
    ['upper-case key', 'Rojo=1'],
    ['a comma-free but = in value', 'a=b=c'],
    ['too long', `a=${'x'.repeat(600)}`],
    ['too many members', Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')],
    ['control characters', 'a=\u0001'],
  ])('refuses %s', (_name, value) => {
    expect(parseTracestate(value)).toBeUndefined();
  });

  it('drops a bad tracestate but keeps the traceparent', () => {
    expect(traceHeadersFrom(`00-${TID}-${SID}-01`, 'Bad=1')).toEqual({ traceparent: `00-${TID}-${SID}-01` });
    expect(traceHeadersFrom([`00-${TID}-${SID}-01`], ['a=1', 'b=2'])).toEqual({
      traceparent: `00-${TID}-${SID}-01`,
      tracestate: 'a=1,b=2',
    });
  });
});

describe('stored form', () => {
  it('round-trips with and without a tracestate', () => {
    const both = { traceparent: `00-${TID}-${SID}-01`, tracestate: 'a=1' };
    expect(decodeTraceHeaders(encodeTraceHeaders(both))).toEqual(both);
    expect(decodeTraceHeaders(encodeTraceHeaders({ traceparent: both.traceparent }))).toEqual({ traceparent: both.traceparent });
    expect(decodeTraceHeaders(undefined)).toBeUndefined();
    expect(decodeTraceHeaders('junk')).toBeUndefined();
  });
});
