import type { Logger } from 'pino';
import { labelChildren, type IngestMetrics } from '@rrpc/metrics';
import type { CallStore } from '@rrpc/store';
import { ORIGIN_PROPERTY, parseResponseTopic } from '@rrpc/topics';

export interface AnswerHandlerOptions {
  calls: CallStore;
  metrics: IngestMetrics;
  logger: Logger;
  /** MQTT 3.1.1 brokers carry no user properties: custom-topic echoes are told apart by order. */
  protocolVersion: 4 | 5;
  instanceId: string;
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
    calls
      .claim({ device: parsed, messageId: parsed.messageId, payload, orderEchoInstance })
      .then((result) => {
        responses(result).inc();
        if (result === 'rejected') {
          logger.warn({ productKey: parsed.productKey, deviceName: parsed.deviceName, messageId: parsed.messageId }, 'answer from a device that is not the call target');
        }
      })
      .catch((error: unknown) => {
        responses('error').inc();
        logger.warn({ err: error, messageId: parsed.messageId }, 'could not store an answer');
      })
      .finally(() => {
        inFlight--;
        if (inFlight === 0) for (const notify of idle.splice(0)) notify();
      });
  };
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
