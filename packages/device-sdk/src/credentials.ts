/**
 * Alibaba Cloud IoT's MQTT credentials for a device ("securemode=3", direct TCP connection):
 *
 *   clientId  `${clientId}|securemode=3,signmethod=${signMethod},timestamp=${timestamp}[,ext=1]|`
 *   username  `${deviceName}&${productKey}`
 *   password  hex HMAC keyed by the device secret over the sorted parameters, name and value run together:
 *             `clientId${clientId}deviceName${deviceName}productKey${productKey}timestamp${timestamp}`
 */
import { SIGN_METHODS, devicePassword, isSignMethod, sign, signContent, type SignMethod } from '@rrpc/crypto';
import { formatClientId, formatUsername } from '@rrpc/topics';

// The signature itself lives in @rrpc/crypto, the one implementation the broker's verifier uses too.
export { SIGN_METHODS, isSignMethod, sign, signContent, type SignMethod };

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

export function deviceCredentials(input: CredentialInput): MqttCredentials {
  const signMethod = input.signMethod ?? 'hmacsha1';
  if (!isSignMethod(signMethod)) throw new TypeError(`signMethod must be one of ${SIGN_METHODS.join(', ')}`);
  const timestamp = input.timestamp === undefined ? undefined : String(input.timestamp);
  const block: Record<string, string> = { securemode: '3', signmethod: signMethod };
  if (timestamp !== undefined) block['timestamp'] = timestamp;
  if (input.ext) block['ext'] = '1';
  return {
    clientId: formatClientId(input.clientId, block),
    username: formatUsername(input),
    password:
      input.deviceSecret === undefined
        ? undefined
        : devicePassword(
            input.deviceSecret,
            { clientId: input.clientId, productKey: input.productKey, deviceName: input.deviceName, timestamp },
            signMethod,
          ),
  };
}
