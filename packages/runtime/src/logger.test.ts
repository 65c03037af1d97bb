import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { OtlpReceiver, SpanKind, startTracing } from '@rrpc/tracing';
import { createLogger } from './logger.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe('createLogger', () => {
  it('puts trace_id and span_id on lines logged inside a traced span, and nothing outside', async () => {
    const receiver = new OtlpReceiver();
    const endpoint = await receiver.start();
    const tracing = startTracing(
      { disabled: false, endpoint, protocol: 'http/json', sampler: 'always_on', samplerArg: 1, serviceName: undefined },
      { name: 'rrpc-test', instanceId: 't' },
    )!;
    const { lines, stream } = capture();
    const logger = createLogger('test', 'info', stream);
    const span = tracing.startSpan('op', { kind: SpanKind.INTERNAL });
    logger.info({ port: 1 }, 'outside');
    logger.info('plain');
    await tracing.withSpan(span, async () => {
      await Promise.resolve();
      logger.info('inside');
    });
    span.end();
    await tracing.shutdown();
    await receiver.stop();
    expect(lines.find((l) => l['msg'] === 'outside')).not.toHaveProperty('trace_id');
    expect(lines.find((l) => l['msg'] === 'plain')).not.toHaveProperty('port'); // no fields leak between lines
    expect(lines.find((l) => l['msg'] === 'inside')).toMatchObject({
      trace_id: span.spanContext().traceId,
      span_id: span.spanContext().spanId,
    });
  });
});
