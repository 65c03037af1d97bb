/**
 * Alibaba Cloud IoT's MQTT credentials for a device ("securemode=3", direct TCP connection):
 *
 *   clientId  `${clientId}|securemode=3,signmethod=${signMethod},timestamp=${timestamp}[,ext=1]|`
 *   username  `${deviceName}&${productKey}`
 *   password  hex HMAC keyed by the device secret over the sorted parameters, name and value run together:
 *             `clientId${clientId}deviceName${deviceName}productKey${productKey}timestamp${timestamp}`
 */
import { createHmac } from 'node:crypto';
import { formatClientId, formatUsername } from '@rrpc/topics';

export const SIGN_METHODS = ['hmacsha1', 'hmacsha256', 'hmacmd5'] as const;
export type SignMethod = (typeof SIGN_METHODS)[number];

const HASH: Record<SignMethod, string> = { hmacsha1: 'sha1', hmacsha256: 'sha256', hmacmd5: 'md5' };

export interface CredentialInput {
  productKey: string;
  deviceName: string;
  /** Without a secret the password is left out (brokers that do not check devices). */
  deviceSecret?: string | undefined;
  /** The device's own client ID, before the `|...|` block. */
  clientId: string;
  signMethod?: SignMethod | undefined;
  /** Milliseconds since the epoch; signed and sent in the client ID. */
  timestamp?: number | undefined;
  /** `ext=1`: the device takes RRPC calls on custom topics. */
  ext?: boolean | undefined;
}

export interface MqttCredentials {
  clientId: string;
  username: string;
  password: string | undefined;
}

export function isSignMethod(value: unknown): value is SignMethod {
  return typeof value === 'string' && (SIGN_METHODS as readonly string[]).includes(value);
}

/** The string Alibaba signs: the parameters sorted by name, each name followed by its value. */
export function signContent(params: Record<string, string>): string {
  return Object.keys(params)
    .sort()
    .map((name) => `${name}${params[name]}`)
    .join('');
}

export function sign(deviceSecret: string, content: string, signMethod: SignMethod): string {
  return createHmac(HASH[signMethod], deviceSecret).update(content, 'utf8').digest('hex');
}

export function deviceCredentials(input: CredentialInput): MqttCredentials {
  const signMethod = input.signMethod ?? 'hmacsha1';
  if (!isSignMethod(signMethod)) throw new TypeError(`signMethod must be one of ${SIGN_METHODS.join(', ')}`);
  const params: Record<string, string> = { clientId: input.clientId, deviceName: input.deviceName, productKey: input.productKey };
  const block: Record<string, string> = { securemode: '3', signmethod: signMethod };
  if (input.timestamp !== undefined) {
    params['timestamp'] = String(input.timestamp);
    block['timestamp'] = String(input.timestamp);
  }
  if (input.ext) block['ext'] = '1';
  return {
    clientId: formatClientId(input.clientId, block),
    username: formatUsername(input),
    password: input.deviceSecret === undefined ? undefined : sign(input.deviceSecret, signContent(params), signMethod),
  };
}
