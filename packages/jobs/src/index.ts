export {
  QUEUES,
  WorkQueues,
  createQueueRedis,
  workIds,
  type BatchWork,
  type CallbackWork,
  type JobWork,
  type QueueConnection,
  type QueueRedisOptions,
} from './queues.js';
export { newId, ID_PATTERN } from './ids.js';
export { jobView, batchView, batchItemView } from './views.js';
export {
  DELIVERY_ID_HEADER,
  SIGNATURE_HEADER,
  MemoryDeliveryIdStore,
  newDeliveryId,
  signCallback,
  verifyCallback,
  type DeliveryIdStore,
  type VerifyOptions,
} from './signature.js';
export { forbiddenAddress } from './callback-address.js';
export {
  CallbackPolicy,
  CallbackRefused,
  systemResolver,
  type AllowedHost,
  type CallbackTarget,
  type HostResolver,
  type ResolvedAddress,
} from './callback-policy.js';
export { CallbackSecretUnavailable, callbackSecretsFor, deriveCallbackSecret, type CallbackKey } from './callback-secrets.js';
