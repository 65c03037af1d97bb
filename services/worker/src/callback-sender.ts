import type { Job } from 'bullmq';
import type { WorkerMetrics } from '@rrpc/metrics';
import type { Logger } from '@rrpc/runtime';
import type { JobStore } from '@rrpc/store';
import { SIGNATURE_HEADER, jobView, signCallback, type CallbackWork } from '@rrpc/jobs';
import { SpanKind, TRACEPARENT, TRACESTATE, decodeTraceHeaders, type Tracing } from '@rrpc/tracing';

export interface CallbackSenderDeps {
  jobs: JobStore;
  metrics: WorkerMetrics;
  logger: Logger;
  /** undefined only with RRPC_AUTH_DISABLED=true: callbacks go unsigned. */
  secret: string | undefined;
  timeoutMs: number;
  /** OpenTelemetry (docs/tracing.md): a client span per delivery; its traceparent goes on the callback. */
  tracing?: Tracing | undefined;
}

/** POSTs a finished job to its callbackUrl, signed; a failure or non-2xx answer throws so BullMQ retries with backoff. */
export class CallbackSender {
  constructor(private readonly deps: CallbackSenderDeps) {}

  readonly process = async (work: Job<CallbackWork>): Promise<string> => {
    const device = { productKey: work.data.productKey, deviceName: work.data.deviceName };
    const { jobs, metrics, logger } = this.deps;
    const job = await jobs.get(device, work.data.jobId);
    if (!job?.callbackUrl) return 'GONE';
    if (job.callback?.state === 'DELIVERED') return 'DELIVERED';
    const attempt = work.attemptsMade + 1;
    const maxAttempts = work.opts.attempts ?? 1;
    const body = JSON.stringify({ ...jobView(job), callback: undefined });
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'rrpc-worker', 'x-rrpc-job-id': job.id };
    if (this.deps.secret !== undefined) headers[SIGNATURE_HEADER] = signCallback(this.deps.secret, body);
    const tracing = this.deps.tracing;
    const parent = decodeTraceHeaders(job.trace);
    const span = tracing?.startSpan('POST', {
      kind: SpanKind.CLIENT,
      parent,
      attributes: { 'http.request.method': 'POST', 'server.address': new URL(job.callbackUrl).hostname, 'rrpc.job.id': job.id, 'rrpc.callback.attempt': attempt },
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
      const res = await fetch(job.callbackUrl, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.deps.timeoutMs), redirect: 'manual' });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) problem = `answered ${res.status}`;
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
    if (span !== undefined) {
      if (status !== undefined) span.setAttribute('http.response.status_code', status);
      tracing?.end(span, problem);
    }
    const now = Date.now();
    if (problem === undefined) {
      await jobs.setCallback(device, job.id, { state: 'DELIVERED', attempts: attempt, lastStatus: status, lastAttemptAt: now, deliveredAt: now });
      metrics.callbacksTotal.labels('delivered').inc();
      return 'DELIVERED';
    }
    const final = attempt >= maxAttempts;
    await jobs.setCallback(device, job.id, { state: final ? 'FAILED' : 'PENDING', attempts: attempt, lastStatus: status, lastError: problem, lastAttemptAt: now });
    metrics.callbacksTotal.labels(final ? 'failed' : 'retry').inc();
    logger.info({ jobId: job.id, attempt, final, problem }, 'callback not delivered');
    throw new Error(`callback to ${new URL(job.callbackUrl).host} ${problem}`);
  };
}
