import { UnrecoverableError, type Job } from 'bullmq';
import type { WorkerMetrics } from '@rrpc/metrics';
import type { Logger } from '@rrpc/runtime';
import type { JobStore } from '@rrpc/store';
import {
  CallbackRefused,
  CallbackSecretUnavailable,
  DELIVERY_ID_HEADER,
  SIGNATURE_HEADER,
  callbackSecretsFor,
  jobView,
  newDeliveryId,
  signCallback,
  type CallbackPolicy,
  type CallbackWork,
} from '@rrpc/jobs';
import { pinnedPost } from './pinned-post.js';

/** The resolver has no time limit of its own that we choose: one attempt's limit covers resolving and posting. */
function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}
import { SpanKind, TRACEPARENT, TRACESTATE, decodeTraceHeaders, type Tracing } from '@rrpc/tracing';

export interface CallbackSenderDeps {
  jobs: JobStore;
  metrics: WorkerMetrics;
  logger: Logger;
  /** The shared secret (RRPC_CALLBACK_SECRET) for keys without their own; undefined only with RRPC_AUTH_DISABLED=true. */
  secret: string | undefined;
  /** Derives the keys' own secrets (RRPC_CALLBACK_MASTER_SECRET). */
  masterSecret: string | undefined;
  /** Where callbacks may go; resolves and checks the host at every delivery. */
  policy: CallbackPolicy;
  timeoutMs: number;
  /** OpenTelemetry (docs/tracing.md): a client span per delivery; its traceparent goes on the callback. */
  tracing?: Tracing | undefined;
}

/**
 * POSTs a finished job to its callbackUrl, signed with the creating key's secret, to an address checked just
 * before (and only to it). A failure or non-2xx answer throws so BullMQ retries with backoff; a URL the policy
 * refuses ends the callback as FAILED at once. The job shows only PENDING / RETRYING / DELIVERED / FAILED:
 * the receiver's status and error text stay in our logs.
 */
export class CallbackSender {
  constructor(private readonly deps: CallbackSenderDeps) {}

  readonly process = async (work: Job<CallbackWork>): Promise<string> => {
    const device = { productKey: work.data.productKey, deviceName: work.data.deviceName };
    const { jobs, metrics, logger } = this.deps;
    const job = await jobs.get(device, work.data.jobId);
    if (!job?.callbackUrl) return 'GONE';
    if (job.callback?.state === 'DELIVERED' || job.callback?.state === 'FAILED') return job.callback.state;
    const attempt = work.attemptsMade + 1;
    const maxAttempts = work.opts.attempts ?? 1;
    const giveUp = async (reason: string): Promise<never> => {
      await jobs.setCallback(device, job.id, { state: 'FAILED', attempts: attempt, lastAttemptAt: Date.now() });
      metrics.callbacksTotal.labels('failed').inc();
      logger.warn({ jobId: job.id, reason }, 'callback not sent');
      throw new UnrecoverableError(`callback not sent: ${reason}`);
    };

    let secrets: string[];
    try {
      secrets = callbackSecretsFor(job.callbackKey, { master: this.deps.masterSecret, shared: this.deps.secret });
    } catch (error) {
      if (error instanceof CallbackSecretUnavailable) return giveUp(error.message);
      throw error;
    }

    const body = JSON.stringify({ ...jobView(job), callback: undefined });
    const deliveryId = newDeliveryId();
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'rrpc-worker',
      'x-rrpc-job-id': job.id,
      [DELIVERY_ID_HEADER.toLowerCase()]: deliveryId,
    };
    if (secrets.length > 0) headers[SIGNATURE_HEADER.toLowerCase()] = signCallback(secrets, body, deliveryId);
    const tracing = this.deps.tracing;
    const parent = decodeTraceHeaders(job.trace);
    const span = tracing?.startSpan('POST', {
      kind: SpanKind.CLIENT,
      parent,
      attributes: {
        'http.request.method': 'POST',
        'server.address': new URL(job.callbackUrl).hostname,
        'rrpc.job.id': job.id,
        'rrpc.callback.attempt': attempt,
      },
    });
    // W3C trace context on the callback: our span's, or with tracing off the job creator's, passed on.
    const trace = span !== undefined && tracing !== undefined ? tracing.headersOf(span) : parent;
    if (trace !== undefined) {
      headers[TRACEPARENT] = trace.traceparent;
      if (trace.tracestate !== undefined) headers[TRACESTATE] = trace.tracestate;
    }

    let status: number | undefined;
    let problem: string | undefined;
    try {
      const started = Date.now();
      const target = await withTimeout(this.deps.policy.resolve(job.callbackUrl), this.deps.timeoutMs, 'resolving the host timed out');
      status = await pinnedPost(target, headers, body, Math.max(1, this.deps.timeoutMs - (Date.now() - started)));
      if (status < 200 || status > 299) problem = `answered ${status}`;
    } catch (error) {
      if (error instanceof CallbackRefused) {
        if (span !== undefined) tracing?.end(span, error.reason);
        return giveUp(error.reason);
      }
      problem = error instanceof Error ? error.message : String(error);
    }
    if (span !== undefined) {
      if (status !== undefined) span.setAttribute('http.response.status_code', status);
      tracing?.end(span, problem);
    }
    const now = Date.now();
    if (problem === undefined) {
      await jobs.setCallback(device, job.id, { state: 'DELIVERED', attempts: attempt, lastAttemptAt: now, deliveredAt: now });
      metrics.callbacksTotal.labels('delivered').inc();
      return 'DELIVERED';
    }
    const final = attempt >= maxAttempts;
    await jobs.setCallback(device, job.id, { state: final ? 'FAILED' : 'RETRYING', attempts: attempt, lastAttemptAt: now });
    metrics.callbacksTotal.labels(final ? 'failed' : 'retry').inc();
    // Our log only: the status or error, and the host (never the URL's path or query, which may carry a token).
    logger.info({ jobId: job.id, host: new URL(job.callbackUrl).host, attempt, final, status, problem }, 'callback not delivered');
    throw new Error(`callback to ${new URL(job.callbackUrl).host} ${problem}`);
  };
}
