import { pino, type DestinationStream, type Logger } from 'pino';
import { activeTraceFields } from '@rrpc/tracing';

export type { Logger };

/**
 * Structured JSON logs on stdout (or `destination`). A line written while a traced span is active carries
 * its `trace_id` and `span_id` (docs/tracing.md); with tracing off the mixin adds nothing.
 */
export function createLogger(service: string, level: string, destination?: DestinationStream): Logger {
  const options = { name: service, level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime, mixin: activeTraceFields };
  return destination === undefined ? pino(options) : pino(options, destination);
}
