import { describe, expect, it } from 'vitest';
import {
  checkCustomTopic,
  formatClientId,
  isDeviceName,
  isMessageId,
  isProductKey,
  parseClientId,
  parseRequestTopic,
  parseResponseTopic,
  parseUsername,
  requestTopic,
  sharedFilter,
} from './index.js';

const dev = { productKey: 'a1B2c3', deviceName: 'lamp-01' };

describe('identifiers', () => {
  it('admit Alibaba identifiers and nothing that could shape a topic', () => {
    expect(isProductKey('a14Xib5kdYd')).toBe(true);
    expect(isDeviceName('light1983432')).toBe(true);
    expect(isDeviceName('dev@site.1:a_b-c')).toBe(true);
    for (const bad of ['', 'a/b', 'a+b', 'a#b', 'a\u0000b', 'a b', 'x'.repeat(33), 'a&b']) expect(isProductKey(bad)).toBe(false);
    for (const bad of ['abc', 'ab/cd', 'ab+cd', 'ab#cd', 'ab\u0000cd', 'ab cd', 'x'.repeat(33), 'ab&cd', 'abc\n'])
      expect(isDeviceName(bad)).toBe(false);
  });

  it('accept message IDs up to 2^63-1 only, as strings', () => {
    expect(isMessageId('9223372036854775807')).toBe(true);
    expect(isMessageId('9223372036854775808')).toBe(false);
    expect(isMessageId('0')).toBe(false);
    expect(isMessageId('01')).toBe(false);
    expect(isMessageId('12a')).toBe(false);
    expect(isMessageId(123)).toBe(false);
  });

  it('read the device from the MQTT username and the Alibaba client ID', () => {
    expect(parseUsername('light1983432&a14Xib5kdYd')).toEqual({ productKey: 'a14Xib5kdYd', deviceName: 'light1983432' });
    for (const bad of ['light1983432', 'a&b&c', '&pk', 'dev1&', 'ab/c&pk', undefined, 5]) expect(parseUsername(bad)).toBeUndefined();
    const parts = parseClientId('SN1928339|securemode=3,signmethod=hmacsha1,timestamp=1539421321846,ext=1|');
    expect(parts).toEqual({
      id: 'SN1928339',
      params: { securemode: '3', signmethod: 'hmacsha1', timestamp: '1539421321846', ext: '1' },
      ext: true,
    });
    expect(parseClientId('plain-client')).toEqual({ id: 'plain-client', params: {}, ext: false });
    expect(formatClientId('SN1', { securemode: '3', signmethod: 'hmacsha1' })).toBe('SN1|securemode=3,signmethod=hmacsha1|');
  });
});

describe('topics', () => {
  it('build request topics and parse response topics (system and custom)', () => {
    expect(requestTopic(dev, '123')).toBe('/sys/a1B2c3/lamp-01/rrpc/request/123');
    expect(requestTopic(dev, '123', '/a1B2c3/lamp-01/user/set')).toBe('/ext/rrpc/123/a1B2c3/lamp-01/user/set');
    expect(parseResponseTopic('/sys/a1B2c3/lamp-01/rrpc/response/123')).toEqual({ kind: 'sys', ...dev, messageId: '123' });
    expect(parseResponseTopic('/ext/rrpc/123/a1B2c3/lamp-01/user/set/x')).toEqual({ kind: 'ext', ...dev, messageId: '123' });
  });

  it('refuse anything else as a response', () => {
    for (const bad of [
      '/sys/a1B2c3/lamp-01/rrpc/request/123',
      '/sys/a1B2c3/lamp-01/rrpc/response/abc',
      '/sys/a1B2c3/lamp-01/rrpc/response/123/x',
      'sys/a1B2c3/lamp-01/rrpc/response/123',
      '/ext/rrpc/123/a1B2c3/lamp-01/thing/set',
      '/ext/rrpc/123/a1B2c3/lamp-01/user',
      '/ext/rrpc/x/a1B2c3/lamp-01/user/set',
      '/ext/rrpc/123/a1B2c3/lamp-01/user/../set',
      '/other',
    ]) {
      expect(parseResponseTopic(bad)).toBeUndefined();
    }
  });

  it('check custom topics against their device', () => {
    expect(checkCustomTopic('/a1B2c3/lamp-01/user/set', dev)).toEqual({ ok: true });
    expect(checkCustomTopic('/a1B2c3/lamp-01/user/a/b/c', dev)).toEqual({ ok: true });
    for (const bad of [
      '/a1B2c3/lamp-02/user/set',
      '/a1B2c3/lamp-01/user/',
      '/a1B2c3/lamp-01/user/#',
      '/a1B2c3/lamp-01/user/+/x',
      'a1B2c3/lamp-01/user/set',
      '/a1B2c3/lamp-01/user/s\u0000t',
      '/a1B2c3/lamp-01/user/' + 'a/'.repeat(9) + 'a',
    ]) {
      expect(checkCustomTopic(bad, dev).ok).toBe(false);
    }
  });

  it('give the device the topic to answer on', () => {
    expect(parseRequestTopic('/sys/a1B2c3/lamp-01/rrpc/request/77')).toEqual({
      messageId: '77',
      kind: 'sys',
      responseTopic: '/sys/a1B2c3/lamp-01/rrpc/response/77',
    });
    expect(parseRequestTopic('/ext/rrpc/77/a1B2c3/lamp-01/user/set')).toEqual({
      messageId: '77',
      kind: 'ext',
      responseTopic: '/ext/rrpc/77/a1B2c3/lamp-01/user/set',
    });
    expect(sharedFilter('rrpc', '/sys/+/+/rrpc/response/+')).toBe('$share/rrpc//sys/+/+/rrpc/response/+');
  });
});
