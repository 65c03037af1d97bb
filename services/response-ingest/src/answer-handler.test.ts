/**
 * The ingest's stop waits for the claims it has sent to Redis (answers taken from the broker must not be
 * dropped by closing Redis under them), and no longer than its bound when Redis stalls.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngestMetrics, createRegistry } from '@rrpc/metrics';
import { CallStore, Keys, connectRedis, createRedis, type RedisClient } from '@rrpc/store';
import { startRedis, type ManagedServer } from '@rrpc/testing';
import { answerHandler } from './answer-handler.js';

let redis: ManagedServer;
let commands: RedisClient;

beforeAll(async () => {
  redis = await startRedis();
  commands = createRedis({ url: redis.url, commandTimeoutMs: 5000, connectionName: 'answer-handler-test' });
  await connectRedis(commands);
});
afterAll(async () => {
  commands?.disconnect();
  await redis?.stop();
});

describe('answerHandler: claims in flight', () => {
  it('drained() waits for a claim Redis has not answered yet, then resolves', async () => {
    const metrics = createIngestMetrics(createRegistry('answer-handler-test'));
    const handle = answerHandler({
      calls: new CallStore(commands, new Keys('ah-test'), 60_000),
      metrics,
      logger: pino({ level: 'silent' }),
      protocolVersion: 5,
      instanceId: 'ah',
    });
    redis.signal('SIGSTOP');
    let drained = false;
    let draining: Promise<void>;
    try {
      handle('/sys/a1Drain/dev-drain-1/rrpc/response/123456789', Buffer.from('answer'), undefined);
      expect(handle.inFlight).toBe(1);
      draining = handle.drained(10_000).then(() => void (drained = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(drained).toBe(false);
    } finally {
      redis.signal('SIGCONT');
    }
    await draining;
    expect(handle.inFlight).toBe(0);
    const counted = (await metrics.responsesTotal.get()).values.reduce((sum, v) => sum + v.value, 0);
    expect(counted).toBe(1); // the claim finished (whatever its result) before drained() resolved
  });

  it('drained() gives up after its bound while Redis stalls', async () => {
    const metrics = createIngestMetrics(createRegistry('answer-handler-test-2'));
    const handle = answerHandler({
      calls: new CallStore(commands, new Keys('ah-test'), 60_000),
      metrics,
      logger: pino({ level: 'silent' }),
      protocolVersion: 5,
      instanceId: 'ah',
    });
    redis.signal('SIGSTOP');
    try {
      handle('/sys/a1Drain/dev-drain-1/rrpc/response/123456790', Buffer.from('answer'), undefined);
      const started = Date.now();
      await handle.drained(300);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(handle.inFlight).toBe(1);
    } finally {
      redis.signal('SIGCONT');
    }
  });
});
