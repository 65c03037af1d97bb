export {
  createDevice,
  connectDevice,
  RrpcDevice,
  RrpcHandlerError,
  type DeviceOptions,
  type RrpcAnswer,
  type RrpcContext,
  type RrpcHandler,
  type RrpcDeviceEvents,
} from './device.js';
export {
  deviceCredentials,
  isSignMethod,
  sign,
  signContent,
  SIGN_METHODS,
  type CredentialInput,
  type MqttCredentials,
  type SignMethod,
} from './credentials.js';
