export { QUEUES, WorkQueues, createQueueRedis, workIds, type BatchWork, type CallbackWork, type JobWork, type QueueConnection, type QueueRedisOptions } from './queues.js';
export { newId, ID_PATTERN } from './ids.js';
export { jobView, batchView, batchItemView } from './views.js';
export { SIGNATURE_HEADER, signCallback, verifyCallback } from './signature.js';
