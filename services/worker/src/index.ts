export { createWorkerService, type WorkerService, type WorkerServiceOptions } from './worker-service.js';
export { EvictionPolicyError, checkNoEviction } from './redis-policy.js';
export { batchItemJobId } from './batch-runner.js';
