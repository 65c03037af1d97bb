import { describe, expect, it } from 'vitest';
import { parseClientId } from '@rrpc/topics';
import { deviceCredentials, sign, signContent } from './credentials.js';

// Alibaba Cloud IoT's published example ("How to calculate MQTT signature parameters").
const ALIBABA = {
  productKey: 'a14Xib5kdYd',
  deviceName: 'light1983432',
  deviceSecret: 'oLyaKqVxtRvjH284LdhqVgVUx1UPy6zq',
  clientId: 'SN1928339',
  timestamp: 1539421321846,
};

describe('deviceCredentials', () => {
  it("reproduces Alibaba's published hmacsha1 password", () => {
    const c = deviceCredentials({ ...ALIBABA, signMethod: 'hmacsha1' });
    expect(c.password).toBe('b2488041f64f425016b467ee1c94959ebd592ad1');
    expect(c.username).toBe('light1983432&a14Xib5kdYd');
    expect(c.clientId).toBe('SN1928339|securemode=3,signmethod=hmacsha1,timestamp=1539421321846|');
  });

  it('signs the parameters sorted by name, names and values run together', () => {
    expect(signContent({ timestamp: '1539421321846', productKey: 'a14Xib5kdYd', clientId: 'SN1928339', deviceName: 'light1983432' })).toBe(
      'clientIdSN1928339deviceNamelight1983432productKeya14Xib5kdYdtimestamp1539421321846',
    );
  });

  it('uses the chosen HMAC for hmacsha256 and hmacmd5', () => {
    const content = 'clientIdSN1928339deviceNamelight1983432productKeya14Xib5kdYdtimestamp1539421321846';
    const sha256 = deviceCredentials({ ...ALIBABA, signMethod: 'hmacsha256' });
    const md5 = deviceCredentials({ ...ALIBABA, signMethod: 'hmacmd5' });
    expect(sha256.password).toBe(sign(ALIBABA.deviceSecret, content, 'hmacsha256'));
    expect(sha256.password).toMatch(/^[0-9a-f]{64}$/);
    expect(md5.password).toMatch(/^[0-9a-f]{32}$/);
    expect(sha256.clientId).toContain('signmethod=hmacsha256');
    expect(md5.clientId).toContain('signmethod=hmacmd5');
  });

  it('puts ext=1 inside the bars and leaves the password out without a secret', () => {
    const c = deviceCredentials({ productKey: 'pk1', deviceName: 'dev-0001', clientId: 'dev-0001', timestamp: 5, ext: true });
    expect(c.password).toBeUndefined();
    expect(parseClientId(c.clientId)).toEqual({
      id: 'dev-0001',
      params: { securemode: '3', signmethod: 'hmacsha1', timestamp: '5', ext: '1' },
      ext: true,
    });
  });

  it('rejects an unknown sign method', () => {
    expect(() => deviceCredentials({ ...ALIBABA, signMethod: 'hmacsha512' as never })).toThrow(/signMethod/);
  });
});
