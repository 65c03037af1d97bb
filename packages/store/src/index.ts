export { Keys } from './keys.js';
export { MessageIds, MESSAGE_ID_EPOCH_MS, slotOfMessageId, timeOfMessageId } from './message-ids.js';
export { crc16, slotOf, tagForSlot, SLOT_COUNT } from './slots.js';
export {
  clusterNodesOf,
  credentialsOf,
  createRedis,
  createSubscriber,
  connectRedis,
  mapRedisError,
  guard,
  respondsWithin,
  type RedisClient,
  type RedisConnectionOptions,
} from './connection.js';
export {
  CallStore,
  type BeginCall,
  type BeginResult,
  type CallRecord,
  type CallState,
  type ClaimAnswer,
  type ClaimResult,
  type ExpireResult,
  type TracedClaim,
} from './call-store.js';
export {
  PresenceStore,
  CLEAN_DISCONNECT_REASONS,
  RECONCILED_REASON,
  hearsTopic,
  type SubscriptionEvent,
  type SubscriptionResult,
  type ConnectResult,
  type ConnectedEvent,
  type DisconnectResult,
  type DisconnectedEvent,
  type PresenceStatus,
  type PresenceView,
} from './presence-store.js';
export { ReplyChannel, type ReplyChannelHandlers } from './reply-channel.js';
export { withScripts } from './scripts.js';
export { RateLimiter, type RateDecision, type RateLimit } from './rate-limiter.js';
export {
  JobStore,
  JOB_STATES,
  FINAL_JOB_STATES,
  type JobState,
  type JobRecord,
  type JobResult,
  type NewJob,
  type CallbackStatus,
  type CallbackKey,
  type TransitionResult,
} from './job-store.js';
export { BatchStore, type NewBatch, type BatchRecord, type BatchItem, type BatchItemResult } from './batch-store.js';
export { IdempotencyStore, type IdempotencyClaim, type StoredAnswer } from './idempotency-store.js';
export { PresenceEvents } from './presence-events.js';
export {
  DeviceRegistry,
  MAX_DEVICE_PAGE,
  type DevicePage,
  type DeviceRecord,
  type NewDevice,
  type SecretSealer,
} from './device-registry.js';
export { POD_REPORT_INTERVAL_MS, PodHeartbeats, type PodReport } from './pod-heartbeats.js';
export { QuotaStore, type Holding, type QuotaCaps, type QuotaDecision } from './quota-store.js';
export { ReconcileStore } from './reconcile-store.js';
