import type { Logger } from 'pino';
import { labelChildren, type IngestMetrics } from '@rrpc/metrics';
import type { CallStore, ClaimAnswer } from '@rrpc/store';
import {
  SpanKind,
  TRACEPARENT,
  TRACESTATE,
  decodeTraceHeaders,
  mqttAttributes,
  spanContextOf,
  traceHeadersFrom,
  type Tracing,
} from '@rrpc/tracing';
import { ORIGIN_PROPERTY, parseResponseTopic } from '@rrpc/topics';

export interface AnswerHandlerOptions {
  calls: CallStore;
  metrics: IngestMetrics;
  logger: Logger;
  /** MQTT 3.1.1 brokers carry no user properties: custom-topic echoes are told apart by order. */
  protocolVersion: 4 | 5;
  instanceId: string;
  /** OpenTelemetry (docs/tracing.md): a consumer span per answer whose call is traced. */
  tracing?: Tracing | undefined;
  /** The ingest's MQTT client ID (messaging.client_id). */
  clientId?: string | undefined;
}

export interface AnswerHandler {
  (topic: string, payload: Buffer, userProperties: Record<string, string | string[]> | undefined): void;
  /** Claims sent to Redis and not yet answered. */
  readonly inFlight: number;
  /** Resolves when no claim is in flight, or after `timeoutMs` (a stalled Redis must not hold a shutdown). */
  drained(timeoutMs: number): Promise<void>;
}

/** Handles every message on the response subscriptions: parse the topic, then one claim script. */
export function answerHandler(options: AnswerHandlerOptions): AnswerHandler {
  const { calls, metrics, logger } = options;
  const responses = labelChildren(metrics.responsesTotal);
  let inFlight = 0;
  const idle: Array<() => void> = [];
  const handle = (topic: string, payload: Buffer, userProperties: Record<string, string | string[]> | undefined): void => {
    const parsed = parseResponseTopic(topic);
    if (parsed === undefined) {
      responses('malformed').inc();
      logger.debug({ topic: topic.slice(0, 200) }, 'malformed response topic');
      return;
    }
    if (userProperties?.[ORIGIN_PROPERTY] !== undefined) {
      // The platform's own request on a custom topic. (A device that copies this property only makes
      // its own answer unheard: its call times out.)
      responses('own').inc();
      return;
    }
    const orderEchoInstance = options.protocolVersion === 4 && parsed.kind === 'ext' ? options.instanceId : '';
    inFlight++;
    if (options.tracing !== undefined) {
      tracedClaim(options.tracing, { device: parsed, messageId: parsed.messageId, payload, orderEchoInstance }, topic, userProperties);
      return;
    }
    calls
      .claim({ device: parsed, messageId: parsed.messageId, payload, orderEchoInstance })
      .then((result) => {
        responses(result).inc();
        if (result === 'rejected') {
          logger.warn(
            { productKey: parsed.productKey, deviceName: parsed.deviceName, messageId: parsed.messageId },
            'answer from a device that is not the call target',
          );
        }
      })
      .catch((error: unknown) => {
        responses('error').inc();
        logger.warn({ err: error, messageId: parsed.messageId }, 'could not store an answer');
      })
      .finally(settled);
  };
  function settled(): void {
    inFlight--;
    if (inFlight === 0) for (const notify of idle.splice(0)) notify();
  }

  /**
   * The claim with tracing: the consumer span starts when the answer arrived and continues the trace stored in
   * the pending record (call-claim returns it); the device's own traceparent, when it sent another span's,
   * becomes a link. Answers of untraced calls get no span.
   */
  function tracedClaim(
    tracing: Tracing,
    answer: ClaimAnswer,
    topic: string,
    userProperties: Record<string, string | string[]> | undefined,
  ): void {
    const arrived = performance.timeOrigin + performance.now();
    const fromDevice =
      userProperties?.[TRACEPARENT] === undefined ? undefined : traceHeadersFrom(userProperties[TRACEPARENT], userProperties[TRACESTATE]);
    calls
      .claimTraced(answer)
      .then(({ result, trace }) => {
        responses(result).inc();
        if (result === 'rejected') {
          logger.warn(
            { productKey: answer.device.productKey, deviceName: answer.device.deviceName, messageId: answer.messageId },
            'answer from a device that is not the call target',
          );
        }
        const stored = decodeTraceHeaders(trace);
        const parent = stored ?? fromDevice;
        // Only sampled traces (the api stores only those): an unsampled one would make a span nobody records.
        if (parent === undefined || !parent.traceparent.endsWith('-01')) return;
        const link =
          stored !== undefined && fromDevice !== undefined && fromDevice.traceparent !== stored.traceparent
            ? spanContextOf(fromDevice)
            : undefined;
        const span = tracing.startSpan('process rrpc response', {
          kind: SpanKind.CONSUMER,
          parent,
          startTime: arrived,
          attributes: {
            ...mqttAttributes('process', topic, answer.messageId, options.clientId ?? options.instanceId),
            'rrpc.claim': result,
          },
          ...(link !== undefined ? { links: [{ context: link, attributes: { 'rrpc.link': 'device' } }] } : {}),
        });
        // Made after the claim (its parent comes from it): both ends are given, as the times they happened.
        span.end(performance.timeOrigin + performance.now());
      })
      .catch((error: unknown) => {
        responses('error').inc();
        logger.warn({ err: error, messageId: answer.messageId }, 'could not store an answer');
      })
      .finally(settled);
  }
  Object.defineProperty(handle, 'inFlight', { get: () => inFlight });
  return Object.assign(handle as typeof handle & { readonly inFlight: number }, {
    drained(timeoutMs: number): Promise<void> {
      if (inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        idle.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  });
}
