import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric the services expose, named by the Prometheus conventions. Labels carry outcomes and
 * results only: never device names or message IDs (unbounded cardinality).
 */
export const CALL_OUTCOMES = ['success', 'timeout', 'offline', 'halfconn', 'unavailable', 'rate_limited', 'error', 'not_subscribed'] as const;
export type CallOutcome = (typeof CALL_OUTCOMES)[number];

export const INGEST_RESULTS = ['matched', 'late', 'rejected', 'malformed', 'duplicate', 'unknown', 'own', 'error'] as const;
export type IngestResult = (typeof INGEST_RESULTS)[number];

export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export function createApiMetrics(registry: Registry) {
  const callsTotal = new Counter({
    name: 'rrpc_calls_total',
    help: 'RRPC calls finished, by outcome.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const callDuration = new Histogram({
    name: 'rrpc_call_duration_seconds',
    help: 'Time from a call being accepted to its answer, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const callsInFlight = new Gauge({
    name: 'rrpc_calls_in_flight',
    help: 'Calls waiting for a device answer on this pod.',
    registers: [registry],
  });
  const replyResweeps = new Counter({
    name: 'rrpc_reply_resubscribes_total',
    help: 'Times the reply subscription was re-established and pending outcomes re-read.',
    registers: [registry],
  });
  const answersRecovered = new Counter({
    name: 'rrpc_answers_recovered_total',
    help: 'Answers whose reply notification was lost, read from their stored outcome instead, by when.',
    labelNames: ['via'] as const,
    registers: [registry],
  });
  for (const outcome of CALL_OUTCOMES) callsTotal.labels(outcome);
  for (const via of ['resubscribe', 'timeout']) answersRecovered.labels(via);
  return { callsTotal, callDuration, callsInFlight, replyResweeps, answersRecovered };
}

export function createIngestMetrics(registry: Registry) {
  const responsesTotal = new Counter({
    name: 'rrpc_responses_ingested_total',
    help: 'Device answers heard by the ingest, by result.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const presenceEventsTotal = new Counter({
    name: 'rrpc_presence_events_total',
    help: 'Broker presence webhooks, by event and result.',
    labelNames: ['event', 'result'] as const,
    registers: [registry],
  });
  const webhookRejectsTotal = new Counter({
    name: 'rrpc_webhook_rejects_total',
    help: 'Webhook requests refused, by reason.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const result of INGEST_RESULTS) responsesTotal.labels(result);
  const presenceCorrectionsTotal = new Counter({
    name: 'rrpc_presence_corrections_total',
    help: 'Presence records corrected by reconciliation with the broker, by kind.',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  return { responsesTotal, presenceEventsTotal, webhookRejectsTotal, presenceCorrectionsTotal };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
export type IngestMetrics = ReturnType<typeof createIngestMetrics>;

export const JOB_OUTCOMES = ['SUCCEEDED', 'TIMEOUT', 'EXPIRED', 'FAILED', 'CANCELLED'] as const;
export const CALLBACK_RESULTS = ['delivered', 'retry', 'failed'] as const;

/**
 * The worker's metrics. Queue depth is read from BullMQ when Prometheus scrapes (`depth` returns the
 * counts of each queue by state).
 */
export function createWorkerMetrics(registry: Registry, depth: () => Promise<Record<string, Record<string, number>>>) {
  new Gauge({
    name: 'rrpc_worker_queue_depth',
    help: 'Work items in the worker queues, by queue and state (waiting, active, delayed = parked jobs).',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const counts = await depth().catch(() => ({}) as Record<string, Record<string, number>>);
      for (const [queue, states] of Object.entries(counts)) for (const [state, n] of Object.entries(states)) this.labels(queue, state).set(n);
    },
  });
  const jobsTotal = new Counter({
    name: 'rrpc_worker_jobs_total',
    help: 'Persistent calls (jobs) finished, by final state.',
    labelNames: ['state'] as const,
    registers: [registry],
  });
  const attemptsTotal = new Counter({
    name: 'rrpc_worker_attempts_total',
    help: 'Calls made by the worker (job attempts and batch items), by outcome.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const callbacksTotal = new Counter({
    name: 'rrpc_worker_callbacks_total',
    help: 'Callback deliveries, by result (retry: failed now, tried again later).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const batchItemsTotal = new Counter({
    name: 'rrpc_worker_batch_items_total',
    help: 'Batch items finished, by rrpcCode.',
    labelNames: ['rrpcCode'] as const,
    registers: [registry],
  });
  for (const state of JOB_OUTCOMES) jobsTotal.labels(state);
  for (const result of CALLBACK_RESULTS) callbacksTotal.labels(result);
  return { jobsTotal, attemptsTotal, callbacksTotal, batchItemsTotal };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
