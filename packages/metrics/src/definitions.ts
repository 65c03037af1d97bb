import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type RegistryContentType } from 'prom-client';

/**
 * Every metric the services expose, named by the Prometheus conventions. Labels carry outcomes and
 * results only: never device names or message IDs (unbounded cardinality).
 */
export const CALL_OUTCOMES = [
  'success',
  'timeout',
  'offline',
  'halfconn',
  'unavailable',
  'rate_limited',
  'error',
  'not_subscribed',
] as const;
export type CallOutcome = (typeof CALL_OUTCOMES)[number];

export const INGEST_RESULTS = ['matched', 'late', 'rejected', 'malformed', 'duplicate', 'unknown', 'own', 'error'] as const;
export type IngestResult = (typeof INGEST_RESULTS)[number];

/**
 * `exemplars`: the registry answers in the OpenMetrics format, the only one that carries exemplars
 * (the call metrics' trace ids with tracing on; docs/tracing.md).
 */
export function createRegistry(service: string, options: { exemplars?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.exemplars) (registry as unknown as Registry<RegistryContentType>).setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * `exemplars`: the call counter and histogram keep an exemplar (trace_id, span_id) per series; their inc()
 * and observe() then take prom-client's object form ({ labels, value, exemplarLabels }), not label children.
 */
export function createApiMetrics(registry: Registry, options: { exemplars?: boolean } = {}) {
  const exemplars = options.exemplars === true;
  const callsTotal = new Counter({
    name: 'rrpc_calls_total',
    help: 'RRPC calls finished, by outcome.',
    labelNames: ['outcome'] as const,
    registers: [registry],
    enableExemplars: exemplars,
  });
  const callDuration = new Histogram({
    name: 'rrpc_call_duration_seconds',
    help: 'Time from a call being accepted to its answer, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
    enableExemplars: exemplars,
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
  return { callsTotal, callDuration, callsInFlight, replyResweeps, answersRecovered, exemplars };
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
      const counts = await depth().catch((): Record<string, Record<string, number>> => ({}));
      for (const [queue, states] of Object.entries(counts))
        for (const [state, n] of Object.entries(states)) this.labels(queue, state).set(n);
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

/** Why POST /authn/emqx answered as it did (bounded: never a username, a device or a secret). */
export const AUTHN_REASONS = [
  'device',
  'platform',
  'registry_off',
  'malformed',
  'bad_username',
  'bad_client_id',
  'unknown_device',
  'disabled',
  'bad_signature',
  'platform_no_password',
  'bad_password',
  'error',
] as const;
export type AuthnReason = (typeof AUTHN_REASONS)[number];
export const AUTHN_RESULTS = ['allow', 'deny', 'ignore'] as const;
export type AuthnResult = (typeof AUTHN_RESULTS)[number];

/** Broker authentication (response-ingest POST /authn/emqx). */
export function createAuthnMetrics(registry: Registry) {
  const authenticationsTotal = new Counter({
    name: 'rrpc_mqtt_authentications_total',
    help: 'Broker logins decided by POST /authn/emqx, by result and reason.',
    labelNames: ['result', 'reason'] as const,
    registers: [registry],
  });
  const authenticationDuration = new Histogram({
    name: 'rrpc_mqtt_authentication_duration_seconds',
    help: 'Time to decide one broker login (registry read and signature check).',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  for (const reason of ['device', 'platform'] as const) authenticationsTotal.labels('allow', reason);
  return { authenticationsTotal, authenticationDuration };
}

export type AuthnMetrics = ReturnType<typeof createAuthnMetrics>;
