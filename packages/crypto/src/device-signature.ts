/**
 * Alibaba Cloud IoT's MQTT device signature, the one implementation both sides use: the device SDK signs
 * with it, response-ingest's POST /authn/emqx verifies with it.
 *
 *   client ID  `${id}|securemode=2|3,signmethod=hmacmd5|hmacsha1|hmacsha256[,timestamp=<ms>][,...]|`
 *   username   `${deviceName}&${productKey}`
 *   password   hex HMAC, keyed by the device secret, of the signed parameters sorted by name, each name
 *              followed by its value: `clientId${id}deviceName${dn}productKey${pk}[timestamp${ts}]`
 *
 * Only clientId, deviceName, productKey and timestamp are signed; other client-ID parameters (ext, _v, ...)
 * are carried but not signed, as Alibaba does.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGN_METHODS = ['hmacsha1', 'hmacsha256', 'hmacmd5'] as const;
export type SignMethod = (typeof SIGN_METHODS)[number];

const HASH: Record<SignMethod, { algorithm: string; hexLength: number }> = {
  hmacsha1: { algorithm: 'sha1', hexLength: 40 },
  hmacsha256: { algorithm: 'sha256', hexLength: 64 },
  hmacmd5: { algorithm: 'md5', hexLength: 32 },
};

/** Longest MQTT client ID accepted (Alibaba: 64 characters before the bars, plus the parameters). */
export const MAX_CLIENT_ID_LENGTH = 256;
/** The device's own id before the `|`: 1 to 64 characters, no bars, commas, equals signs, spaces or controls. */
const DEVICE_CLIENT_ID = /^[\x21-\x7e]{1,64}$/;
const PARAM_NAME = /^[A-Za-z0-9_]{1,32}$/;
const PARAM_VALUE = /^[\x21-\x7e]{0,64}$/;
const TIMESTAMP = /^[0-9]{1,20}$/;
const MAX_PARAMS = 16;

export function isSignMethod(value: unknown): value is SignMethod {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(HASH, value);
}

/** The string Alibaba signs: the parameters sorted by name, each name followed by its value. */
export function signContent(params: Record<string, string>): string {
  return Object.keys(params)
    .sort()
    .map((name) => `${name}${params[name]}`)
    .join('');
}

/** Hex HMAC of `content` keyed by the device secret. */
export function sign(deviceSecret: string, content: string, signMethod: SignMethod): string {
  return createHmac(HASH[signMethod].algorithm, deviceSecret).update(content, 'utf8').digest('hex');
}

export interface DeviceClientId {
  /** The device's own client ID, before the `|...|` block. */
  id: string;
  securemode: '2' | '3';
  signMethod: SignMethod;
  /** Signed when present. */
  timestamp: string | undefined;
  /** Every parameter of the block, as given. */
  params: Record<string, string>;
}

/**
 * Parses an Alibaba device client ID strictly; undefined when it is not one (no `|...|` block, a missing or
 * unknown securemode or signmethod, a non-numeric timestamp, repeated or oversized parameters).
 */
export function parseDeviceClientId(clientId: unknown): DeviceClientId | undefined {
  if (typeof clientId !== 'string' || clientId.length > MAX_CLIENT_ID_LENGTH) return undefined;
  const bar = clientId.indexOf('|');
  if (bar < 1 || !clientId.endsWith('|') || bar === clientId.length - 1) return undefined;
  const id = clientId.slice(0, bar);
  if (!DEVICE_CLIENT_ID.test(id) || /[|,=]/.test(id)) return undefined;
  const body = clientId.slice(bar + 1, -1);
  if (body.includes('|')) return undefined;
  const pairs = body.split(',');
  if (pairs.length > MAX_PARAMS) return undefined;
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) return undefined;
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (!PARAM_NAME.test(name) || !PARAM_VALUE.test(value) || value.includes('=') || name in params) return undefined;
    params[name] = value;
  }
  const securemode = params['securemode'];
  const signMethod = params['signmethod'];
  const timestamp = params['timestamp'];
  if (securemode !== '2' && securemode !== '3') return undefined;
  if (!isSignMethod(signMethod)) return undefined;
  if (timestamp !== undefined && !TIMESTAMP.test(timestamp)) return undefined;
  return { id, securemode, signMethod, timestamp, params: { ...params } };
}

export interface SignedIdentity {
  /** The device's own client ID (before the bars). */
  clientId: string;
  productKey: string;
  deviceName: string;
  timestamp?: string | undefined;
}

/** The content a device signs for this identity: `clientId…deviceName…productKey…[timestamp…]`. */
export function deviceSignContent(identity: SignedIdentity): string {
  const params: Record<string, string> = { clientId: identity.clientId, deviceName: identity.deviceName, productKey: identity.productKey };
  if (identity.timestamp !== undefined) params['timestamp'] = identity.timestamp;
  return signContent(params);
}

/** The password a device with this secret presents. */
export function devicePassword(deviceSecret: string, identity: SignedIdentity, signMethod: SignMethod): string {
  return sign(deviceSecret, deviceSignContent(identity), signMethod);
}

/**
 * True when `password` is the device's signature for `clientId` (parsed) under `deviceSecret`. The password
 * must be hex of exactly the method's digest length (either case); the comparison is constant-time.
 */
export function verifyDevicePassword(input: {
  clientId: DeviceClientId;
  productKey: string;
  deviceName: string;
  deviceSecret: string;
  password: unknown;
}): boolean {
  const { clientId, password } = input;
  const hash = HASH[clientId.signMethod];
  if (typeof password !== 'string' || password.length !== hash.hexLength || !/^[0-9a-fA-F]+$/.test(password)) return false;
  const expected = Buffer.from(
    devicePassword(
      input.deviceSecret,
      { clientId: clientId.id, productKey: input.productKey, deviceName: input.deviceName, timestamp: clientId.timestamp },
      clientId.signMethod,
    ),
    'hex',
  );
  const given = Buffer.from(password, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Constant-time equality of two secrets: both are hashed first, so neither content nor length leaks through timing. */
export function secretEquals(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = createHmac('sha256', 'rrpc-secret-equals').update(given, 'utf8').digest();
  const b = createHmac('sha256', 'rrpc-secret-equals').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}
