// A Prometheus histogram for the per-request hot path, exposed through a prom-client registry.
//
// prom-client's own `Histogram#observe` checks the label names, hashes the label set into a string key and
// finds the bucket through number-keyed object properties on every call: about 1 µs per observation, and the
// three observations of a request (duration, size, database query) measured 15 % of the throughput of a get
// by id (docs/DECISIONS.md, "Observability"). Here a label set is resolved once to a series, and an
// observation is a bucket search and two additions. The registry still formats the text exposition, so the
// output is the same as prom-client's histogram: cumulative `_bucket{le}` lines, `_sum` and `_count`.
import type { Registry } from 'prom-client';

/** One line of the exposition, as prom-client's registry formats it. */
interface SampleValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export interface HistogramSeries {
  observe(value: number): void;
}

class Series implements HistogramSeries {
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot is above every bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
  }
}

export class LeanHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    // The registry only reads name, help, type and get() (typed for its own classes).
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The series of these label values, in labelNames order; keep it and observe on it. */
  labels(...values: string[]): HistogramSeries {
    if (values.length !== this.labelNames.length) {
      throw new TypeError(`${this.name}: expected ${this.labelNames.length} label values, got ${values.length}`);
    }
    const key = values.join('\u0000');
    let series = this.series.get(key);
    if (!series) {
      series = new Series(this.bounds, Object.fromEntries(this.labelNames.map((name, i) => [name, values[i]!])));
      this.series.set(key, series);
    }
    return series;
  }

  /** What the registry formats (the shape prom-client's own histogram returns). */
  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: SampleValue[] }> {
    const values: SampleValue[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      const bucket = (le: number | string, count: number) =>
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: count });
      this.bounds.forEach((bound, i) => bucket(bound, (cumulative += s.counts[i]!)));
      const count = cumulative + s.counts[this.bounds.length]!;
      bucket('+Inf', count);
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}
