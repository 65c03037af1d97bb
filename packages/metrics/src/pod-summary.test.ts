import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { PodSummarizer, quantile } from './pod-summary.js';

describe('quantile', () => {
  it('interpolates inside the bucket that holds the rank, and is null for an empty window', () => {
    expect(
      quantile(0.5, [
        [0.01, 0],
        [0.02, 10],
        [Infinity, 10],
      ]),
    ).toBeCloseTo(0.015);
    expect(
      quantile(0.99, [
        [0.01, 50],
        [0.1, 100],
        [Infinity, 100],
      ]),
    ).toBeCloseTo(0.01 + 0.09 * (49 / 50));
    expect(
      quantile(0.5, [
        [0.01, 0],
        [Infinity, 0],
      ]),
    ).toBeNull();
    expect(
      quantile(0.5, [
        [1, 0],
        [Infinity, 4],
      ]),
    ).toBe(1);
  });
});

describe('PodSummarizer', () => {
  it('reports the window since the last read: rate, quantiles; totals since start', async () => {
    const registry = new Registry();
    const calls = new Counter({ name: 't_calls_total', help: 'h', labelNames: ['outcome'], registers: [registry] });
    const duration = new Histogram({
      name: 't_duration_seconds',
      help: 'h',
      labelNames: ['outcome'],
      buckets: [0.01, 0.1, 1],
      registers: [registry],
    });
    const inFlight = new Gauge({ name: 't_in_flight', help: 'h', registers: [registry] });
    const summarizer = new PodSummarizer(registry, {
      counter: 't_calls_total',
      label: 'outcome',
      histogram: 't_duration_seconds',
      gauge: 't_in_flight',
    });
    for (let i = 0; i < 10; i++) {
      calls.labels('success').inc();
      duration.labels('success').observe(0.5);
    }
    const first = await summarizer.read(1_000);
    expect(first.outcomes).toEqual({ success: 10 });
    expect(first.p50Ms).toBeGreaterThan(100);
    for (let i = 0; i < 20; i++) {
      calls.labels(i % 2 ? 'success' : 'timeout').inc();
      duration.labels('success').observe(0.005);
    }
    inFlight.set(3);
    const second = await summarizer.read(3_000);
    expect(second.callsPerSecond).toBe(10);
    expect(second.outcomes).toEqual({ success: 20, timeout: 10 });
    expect(second.p99Ms).toBeLessThanOrEqual(10);
    expect(second.inFlight).toBe(3);
    const idle = await summarizer.read(4_000);
    expect(idle.callsPerSecond).toBe(0);
    expect(idle.p50Ms).toBeNull();
  });
});
