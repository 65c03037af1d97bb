export { SECRETS_KEY_BYTES, SecretBox, SecretBoxError, parseSecretsKey, secretsKeyId } from './secret-box.js';
export { generateDeviceName, generateDeviceSecret, randomString } from './generate.js';
