import type { Registry } from 'prom-client';

/** What one pod reports about itself for the console's health page (see PodHeartbeats in @rrpc/store). */
export interface PodSummary {
  /** Events per second of the pod's main counter over the last window. */
  callsPerSecond: number;
  /** The main counter's totals since the pod started, by its label. */
  outcomes: Record<string, number>;
  /** Median and 99th percentile of the duration histogram over the last window (null: nothing observed). */
  p50Ms: number | null;
  p99Ms: number | null;
  inFlight: number | undefined;
}

export interface SummarySpec {
  /** A counter with one label (e.g. rrpc_calls_total{outcome}). */
  counter: string;
  label: string;
  /** A histogram in seconds (e.g. rrpc_call_duration_seconds); its quantiles are interpolated between buckets. */
  histogram?: string;
  gauge?: string;
}

interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

async function samples(registry: Registry, name: string | undefined): Promise<Sample[]> {
  const metric = name === undefined ? undefined : registry.getSingleMetric(name);
  return metric ? ((await metric.get()).values as Sample[]) : [];
}

/** Cumulative bucket counts by upper bound (summed over every other label). */
function buckets(values: Sample[]): Map<number, number> {
  const byBound = new Map<number, number>();
  for (const s of values) {
    if (!s.metricName?.endsWith('_bucket')) continue;
    const le = s.labels['le'];
    const bound = le === '+Inf' ? Infinity : Number(le);
    byBound.set(bound, (byBound.get(bound) ?? 0) + s.value);
  }
  return byBound;
}

/** The q-quantile of a window's cumulative buckets, linearly interpolated inside its bucket (Prometheus' rule). */
export function quantile(q: number, cumulative: Array<[bound: number, count: number]>): number | null {
  const sorted = [...cumulative].sort((a, b) => a[0] - b[0]);
  const total = sorted[sorted.length - 1]?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Infinity) return lowerBound;
      return lowerBound + (bound - lowerBound) * ((rank - lowerCount) / Math.max(1e-9, count - lowerCount));
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}

/**
 * Summarises a pod's registry between two reads: the counter's rate and the histogram's quantiles over the
 * window since the previous read, the totals since start.
 */
export class PodSummarizer {
  private previousTotal: number | undefined;
  private previousBuckets = new Map<number, number>();
  private previousAt = 0;

  constructor(
    private readonly registry: Registry,
    private readonly spec: SummarySpec,
  ) {}

  async read(now = Date.now()): Promise<PodSummary> {
    const outcomes: Record<string, number> = {};
    for (const s of await samples(this.registry, this.spec.counter)) {
      const label = String(s.labels[this.spec.label] ?? '');
      outcomes[label] = (outcomes[label] ?? 0) + s.value;
    }
    const total = Object.values(outcomes).reduce((a, b) => a + b, 0);
    const seconds = this.previousAt === 0 ? 0 : (now - this.previousAt) / 1000;
    const callsPerSecond = this.previousTotal === undefined || seconds <= 0 ? 0 : Math.max(0, total - this.previousTotal) / seconds;
    const current = buckets(await samples(this.registry, this.spec.histogram));
    const window: Array<[number, number]> = [...current].map(([bound, count]) => [bound, count - (this.previousBuckets.get(bound) ?? 0)]);
    const ms = (v: number | null) => (v === null ? null : Math.round(v * 1000 * 100) / 100);
    const gauge = await samples(this.registry, this.spec.gauge);
    this.previousTotal = total;
    this.previousBuckets = current;
    this.previousAt = now;
    return {
      callsPerSecond: Math.round(callsPerSecond * 100) / 100,
      outcomes,
      p50Ms: ms(quantile(0.5, window)),
      p99Ms: ms(quantile(0.99, window)),
      inFlight: this.spec.gauge === undefined ? undefined : gauge.reduce((a, s) => a + s.value, 0),
    };
  }
}

/** Reads the summary every `intervalMs` and hands it to `report` (a failed report is retried next time); returns stop(). */
export function reportPeriodically(
  summarizer: PodSummarizer,
  intervalMs: number,
  report: (summary: PodSummary) => Promise<void>,
  onError: (error: unknown) => void,
): () => void {
  let running = false;
  const tick = () => {
    if (running) return;
    running = true;
    summarizer
      .read()
      .then(report)
      .catch(onError)
      .finally(() => {
        running = false;
      });
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
