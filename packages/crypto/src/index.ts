export { SECRETS_KEY_BYTES, SecretBox, SecretBoxError, parseSecretsKey, secretsKeyId } from './secret-box.js';
export { generateDeviceName, generateDeviceSecret, randomString } from './generate.js';
export {
  MAX_CLIENT_ID_LENGTH,
  SIGN_METHODS,
  devicePassword,
  deviceSignContent,
  isSignMethod,
  parseDeviceClientId,
  secretEquals,
  sign,
  signContent,
  verifyDevicePassword,
  type DeviceClientId,
  type SignMethod,
  type SignedIdentity,
} from './device-signature.js';
