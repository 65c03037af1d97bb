import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  SIGN_METHODS,
  devicePassword,
  parseDeviceClientId,
  secretEquals,
  verifyDevicePassword,
  type SignMethod,
} from './device-signature.js';

// Alibaba Cloud IoT's published example ("How to calculate MQTT signature parameters").
const PK = 'a14Xib5kdYd';
const DN = 'light1983432';
const SECRET = 'oLyaKqVxtRvjH284LdhqVgVUx1UPy6zq';
const ID = 'SN1928339';
const TS = '1539421321846';
const CONTENT = `clientId${ID}deviceName${DN}productKey${PK}timestamp${TS}`;

function verify(
  clientId: string,
  password: unknown,
  over: { productKey?: string; deviceName?: string; deviceSecret?: string } = {},
): boolean {
  const parsed = parseDeviceClientId(clientId);
  if (!parsed) return false;
  return verifyDevicePassword({ clientId: parsed, productKey: PK, deviceName: DN, deviceSecret: SECRET, password, ...over });
}

describe('Alibaba device signature', () => {
  it("verifies Alibaba's published hmacsha1 example", () => {
    expect(devicePassword(SECRET, { clientId: ID, productKey: PK, deviceName: DN, timestamp: TS }, 'hmacsha1')).toBe(
      'b2488041f64f425016b467ee1c94959ebd592ad1',
    );
    expect(verify(`${ID}|securemode=3,signmethod=hmacsha1,timestamp=${TS}|`, 'b2488041f64f425016b467ee1c94959ebd592ad1')).toBe(true);
    expect(verify(`${ID}|securemode=3,signmethod=hmacsha1,timestamp=${TS}|`, 'B2488041F64F425016B467EE1C94959EBD592AD1')).toBe(true);
  });

  const HASH: Record<SignMethod, string> = { hmacsha1: 'sha1', hmacsha256: 'sha256', hmacmd5: 'md5' };
  it.each(SIGN_METHODS)('%s: the HMAC of the sorted parameters, under securemode 2 and 3', (method) => {
    const expected = createHmac(HASH[method], SECRET).update(CONTENT).digest('hex');
    expect(devicePassword(SECRET, { clientId: ID, productKey: PK, deviceName: DN, timestamp: TS }, method)).toBe(expected);
    for (const mode of ['2', '3']) {
      expect(verify(`${ID}|securemode=${mode},signmethod=${method},timestamp=${TS}|`, expected)).toBe(true);
    }
    // Another method's digest of the same content is refused (the length and the key differ).
    for (const other of SIGN_METHODS.filter((m) => m !== method)) {
      expect(verify(`${ID}|securemode=3,signmethod=${other},timestamp=${TS}|`, expected)).toBe(false);
    }
  });

  it('signs without a timestamp when the client ID has none, and ignores unsigned extra parameters', () => {
    const noTs = createHmac('sha256', SECRET).update(`clientId${ID}deviceName${DN}productKey${PK}`).digest('hex');
    expect(verify(`${ID}|securemode=2,signmethod=hmacsha256|`, noTs)).toBe(true);
    expect(verify(`${ID}|securemode=2,signmethod=hmacsha256,ext=1,_v=sdk-c-4.0|`, noTs)).toBe(true);
    // The timestamp is signed: changing it breaks the signature.
    expect(verify(`${ID}|securemode=2,signmethod=hmacsha256,timestamp=1|`, noTs)).toBe(false);
  });

  it('refuses a wrong secret, another device, another client ID', () => {
    const good = devicePassword(SECRET, { clientId: ID, productKey: PK, deviceName: DN, timestamp: TS }, 'hmacsha1');
    const clientId = `${ID}|securemode=3,signmethod=hmacsha1,timestamp=${TS}|`;
    expect(verify(clientId, good, { deviceSecret: SECRET.replace('o', 'O') })).toBe(false);
    expect(verify(clientId, good, { deviceName: 'light1983433' })).toBe(false);
    expect(verify(clientId, good, { productKey: 'a14Xib5kdYe' })).toBe(false);
    expect(verify(`SN1928330|securemode=3,signmethod=hmacsha1,timestamp=${TS}|`, good)).toBe(false);
  });

  it.each([
    ['no bars', 'SN1928339'],
    ['an empty block', 'SN1928339||'],
    ['no closing bar', 'SN1928339|securemode=3,signmethod=hmacsha1'],
    ['an empty id', '|securemode=3,signmethod=hmacsha1|'],
    ['three bars', 'SN1|securemode=3|signmethod=hmacsha1|'],
    ['no securemode', 'SN1|signmethod=hmacsha1|'],
    ['securemode 0', 'SN1|securemode=0,signmethod=hmacsha1|'],
    ['securemode -2 (MQTT over WebSocket in Alibaba, not supported)', 'SN1|securemode=-2,signmethod=hmacsha1|'],
    ['no signmethod', 'SN1|securemode=3|'],
    ['an unknown signmethod', 'SN1|securemode=3,signmethod=hmacsha512|'],
    ['an upper-case signmethod', 'SN1|securemode=3,signmethod=HMACSHA1|'],
    ['a prototype name as signmethod', 'SN1|securemode=3,signmethod=constructor|'],
    ['a repeated parameter', 'SN1|securemode=3,signmethod=hmacsha1,signmethod=hmacmd5|'],
    ['a parameter without a value sign', 'SN1|securemode=3,signmethod=hmacsha1,ext|'],
    ['a non-numeric timestamp', 'SN1|securemode=3,signmethod=hmacsha1,timestamp=12a|'],
    ['a space in the id', 'SN 1|securemode=3,signmethod=hmacsha1|'],
    ['a NUL in the id', 'SN\u00001|securemode=3,signmethod=hmacsha1|'],
    ['an id of 65 characters', `${'a'.repeat(65)}|securemode=3,signmethod=hmacsha1|`],
    [
      'an oversized client ID',
      `SN1|securemode=3,signmethod=hmacsha1,${Array.from({ length: 12 }, (_, i) => `p${i}=${'x'.repeat(30)}`).join(',')}|`,
    ],
    ['too many parameters', `SN1|securemode=3,signmethod=hmacsha1,${Array.from({ length: 15 }, (_, i) => `p${i}=1`).join(',')}|`],
  ])('refuses a client ID with %s', (_why, clientId) => {
    expect(parseDeviceClientId(clientId)).toBeUndefined();
  });

  it('refuses non-string client IDs and malformed passwords', () => {
    for (const bad of [undefined, null, 5, {}, ['SN1|securemode=3,signmethod=hmacsha1|']]) expect(parseDeviceClientId(bad)).toBeUndefined();
    const clientId = `${ID}|securemode=3,signmethod=hmacsha1,timestamp=${TS}|`;
    const good = 'b2488041f64f425016b467ee1c94959ebd592ad1';
    for (const bad of [
      undefined,
      null,
      42,
      '',
      good.slice(0, 39),
      `${good}0`,
      `${good.slice(0, 39)}g`,
      `${good.slice(0, 38)} 1`,
      `0x${good.slice(2)}`,
      SECRET,
    ]) {
      expect(verify(clientId, bad), String(bad)).toBe(false);
    }
  });

  it('parses the block into its parts', () => {
    expect(parseDeviceClientId(`${ID}|securemode=2,signmethod=hmacmd5,timestamp=${TS},ext=1|`)).toEqual({
      id: ID,
      securemode: '2',
      signMethod: 'hmacmd5',
      timestamp: TS,
      params: { securemode: '2', signmethod: 'hmacmd5', timestamp: TS, ext: '1' },
    });
  });
});

describe('secretEquals', () => {
  it('is true only for the same string', () => {
    expect(secretEquals('platform-password-1234', 'platform-password-1234')).toBe(true);
    expect(secretEquals('platform-password-1235', 'platform-password-1234')).toBe(false);
    expect(secretEquals('platform-password-123', 'platform-password-1234')).toBe(false);
    expect(secretEquals('', 'platform-password-1234')).toBe(false);
    expect(secretEquals(undefined, 'platform-password-1234')).toBe(false);
  });
});
