/** Latency samples (ms) and their summary. */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  mean: number;
  max: number;
}

export function summarise(samples: number[]): LatencySummary {
  if (samples.length === 0) return { count: 0, p50: NaN, p99: NaN, p999: NaN, mean: NaN, max: NaN };
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
  let sum = 0;
  for (const v of sorted) sum += v;
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return {
    count: sorted.length,
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    p999: round(at(0.999)),
    mean: round(sum / sorted.length),
    max: round(sorted[sorted.length - 1] ?? NaN),
  };
}

/** What one measured run reports back: latencies, calls per second, and every failure counted. */
export interface RunResult {
  latency: LatencySummary;
  ok: number;
  lost: number;
  mismatched: number;
  /** Non-2xx answers and transport errors, by kind (first few kept for the report). */
  errors: Record<string, number>;
  seconds: number;
  perSecond: number;
}

export function runResult(
  samples: number[],
  seconds: number,
  counts: { lost: number; mismatched: number; errors: Record<string, number> },
): RunResult {
  return {
    latency: summarise(samples),
    ok: samples.length,
    lost: counts.lost,
    mismatched: counts.mismatched,
    errors: counts.errors,
    seconds: Math.round(seconds * 1000) / 1000,
    perSecond: Math.round(samples.length / seconds),
  };
}
