import { describe, expect, it } from 'vitest';
import { behaviourHandler, DEFAULT_ERROR_PAYLOAD, drawDelay, parseDelay, SimulatorOptionError, type HandlerCounters } from './behaviour.js';
import { parseCliOptions } from './cli-options.js';

const ctx = { messageId: '1', topic: '/sys/pk/dev-1/rrpc/request/1', kind: 'sys' as const };
const counters = (): HandlerCounters => ({ requests: 0, answers: 0, errorAnswers: 0, unanswered: 0 });
/** A random source that returns the given values in turn. */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
};

describe('delays', () => {
  it('parses fixed, uniform and exponential delays', () => {
    expect(parseDelay('25')).toEqual({ kind: 'fixed', ms: 25 });
    expect(parseDelay('uniform:10-100')).toEqual({ kind: 'uniform', minMs: 10, maxMs: 100 });
    expect(parseDelay('exp:50')).toEqual({ kind: 'exp', meanMs: 50 });
  });

  it('rejects what it cannot read, saying what to write', () => {
    expect(() => parseDelay('uniform:100-10')).toThrow(/maximum is below the minimum/);
    expect(() => parseDelay('uniform:10')).toThrow(/uniform:MIN-MAX/);
    expect(() => parseDelay('gauss:5')).toThrow(SimulatorOptionError);
    expect(() => parseDelay('-5')).toThrow(/>= 0/);
  });

  it('draws from the distribution', () => {
    expect(drawDelay({ kind: 'uniform', minMs: 10, maxMs: 20 }, () => 0.5)).toBe(15);
    expect(drawDelay({ kind: 'exp', meanMs: 100 }, () => 1 - Math.exp(-1))).toBeCloseTo(100);
    const draws = Array.from({ length: 20_000 }, () => drawDelay({ kind: 'exp', meanMs: 40 }));
    expect(draws.reduce((a, b) => a + b, 0) / draws.length).toBeGreaterThan(36);
    expect(draws.reduce((a, b) => a + b, 0) / draws.length).toBeLessThan(44);
  });
});

describe('behaviourHandler', () => {
  it('echoes, answers a fixed reply, or stays silent', async () => {
    const c = counters();
    expect(await behaviourHandler({ reply: 'echo' }, c)(Buffer.from('hi'), ctx)).toEqual(Buffer.from('hi'));
    expect(await behaviourHandler({ reply: 'fixed', fixedPayload: 'OK' }, c)(Buffer.from('hi'), ctx)).toBe('OK');
    expect(await behaviourHandler({ reply: 'silent' }, c)(Buffer.from('hi'), ctx)).toBeUndefined();
    expect(c).toEqual({ requests: 3, answers: 2, errorAnswers: 0, unanswered: 1 });
  });

  it('fails the chosen share of requests with no answer or an error payload', async () => {
    const c = counters();
    // errorRate 0.25: draws below it fail.
    const silent = behaviourHandler({ reply: 'echo', errorRate: 0.25 }, c, sequence(0.1, 0.9));
    expect(await silent(Buffer.from('a'), ctx)).toBeUndefined();
    expect(await silent(Buffer.from('b'), ctx)).toEqual(Buffer.from('b'));
    const payload = behaviourHandler({ reply: 'echo', errorRate: 0.25, errorMode: 'payload' }, c, sequence(0.2));
    expect(await payload(Buffer.from('c'), ctx)).toBe(DEFAULT_ERROR_PAYLOAD);
    expect(c).toEqual({ requests: 3, answers: 1, errorAnswers: 1, unanswered: 1 });
  });

  it('answers after the drawn delay', async () => {
    let answered = false;
    const pending = Promise.resolve(
      behaviourHandler({ reply: 'echo', delay: { kind: 'fixed', ms: 30 } }, counters())(Buffer.from('x'), ctx),
    ).then((a) => {
      answered = true;
      return a;
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(answered).toBe(false);
    expect(await pending).toEqual(Buffer.from('x'));
  });

  it('refuses impossible behaviour', () => {
    expect(() => behaviourHandler({ reply: 'fixed' }, counters())).toThrow(/needs a payload/);
    expect(() => behaviourHandler({ reply: 'echo', errorRate: 1.5 }, counters())).toThrow(/between 0 and 1/);
  });
});

describe('rrpc-sim options', () => {
  it('reads every behaviour option', () => {
    const o = parseCliOptions(
      [
        '-n',
        '500',
        '--url',
        'mqtt://h:1',
        '--delay',
        'exp:20',
        '--error-rate',
        '0.1',
        '--error-mode',
        'payload',
        '--flap',
        '30',
        '--custom-topic',
        'user/a',
        '--custom-topic',
        'user/b',
        '--webhook-url',
        'http://i:1/hooks/emqx',
      ],
      { RRPC_WEBHOOK_TOKEN: 'tok-from-env-0123456789' },
    );
    expect(o.simulation).toMatchObject({
      url: 'mqtt://h:1',
      devices: 500,
      behaviour: { reply: 'echo', delay: { kind: 'exp', meanMs: 20 }, errorRate: 0.1, errorMode: 'payload' },
      flapEverySeconds: 30,
      customTopics: ['user/a', 'user/b'],
      webhook: { url: 'http://i:1/hooks/emqx', token: 'tok-from-env-0123456789' },
    });
    expect(parseCliOptions(['--reply-payload', 'OK'], {}).simulation.behaviour).toMatchObject({ reply: 'fixed', fixedPayload: 'OK' });
    expect(parseCliOptions([], { MQTT_URL: 'mqtt://env:2' }).simulation.url).toBe('mqtt://env:2');
  });

  it('says what is wrong with an option', () => {
    expect(() => parseCliOptions(['--devices', 'many'], {})).toThrow(/--devices: "many" must be a whole number/);
    expect(() => parseCliOptions(['--protocol', '3'], {})).toThrow(/--protocol/);
    expect(() => parseCliOptions(['--frobnicate'], {})).toThrow(SimulatorOptionError);
    expect(() => parseCliOptions(['--webhook-url', 'ftp://x'], {})).toThrow(/http/);
  });
});
