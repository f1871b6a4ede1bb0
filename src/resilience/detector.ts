/**
 * Change-point detectors for a gateway's traffic (docs/resilience.md). Small, pure and exact:
 * each is a one-sided CUSUM, the sequential test that detects a shift in a stream's mean with
 * the shortest delay for a given false-alarm rate (Page, 1954). State is two numbers, so it can
 * be shared between instances and replayed from a seed.
 */

/** A one-sided CUSUM statistic: floored at 0, alarmed at `h`. */
abstract class Cusum {
  private s = 0;

  constructor(readonly h: number) {}

  protected add(increment: number): boolean {
    this.s = Math.max(0, this.s + increment);
    return this.alarmed;
  }

  get alarmed(): boolean {
    return this.s >= this.h;
  }

  /** The evidence gathered so far (0 … h and beyond). */
  get statistic(): number {
    return this.s;
  }

  reset(to = 0): void {
    this.s = to;
  }
}

/**
 * Bernoulli CUSUM: is the failure rate now `p1` rather than the in-control `p0`?
 *
 * Each answer adds its log-likelihood ratio: a failure `ln(p1/p0)`, a success
 * `ln((1-p1)/(1-p0))` (negative). The statistic is floored at 0 and alarms at `h`. With
 * `p0 = 0.05, p1 = 0.9, h = 12` a run of five failures alarms from a clean state, while a 5 %
 * blip rate takes on average millions of answers to reach it (the tests measure both).
 */
export class BernoulliCusum extends Cusum {
  constructor(
    /** Failure rate that counts as a change. */
    readonly p1: number,
    /** Alarm threshold, in nats of evidence. */
    h: number,
  ) {
    super(h);
    if (!(p1 > 0 && p1 < 1) || !(h > 0)) throw new RangeError(`BernoulliCusum needs 0 < p1 < 1 and h > 0 (got ${p1}, ${h})`);
  }

  /** Adds one answer judged against the in-control failure rate `p0`; true while alarmed. */
  observe(failed: boolean, p0: number): boolean {
    const base = clamp(p0, 1e-4, this.p1 - 1e-4);
    return this.add(failed ? Math.log(this.p1 / base) : Math.log((1 - this.p1) / (1 - base)));
  }
}

/**
 * CUSUM on log latency: has the latency moved up by more than a factor `e^shift` over its
 * in-control level? Each answer adds `ln(latency) - baseline - shift`; alarms at `h`.
 * `shift = ln 2, h = 8`: a 80-fold spike (10 → 800 ms) alarms on the third slow answer; noise
 * of a normal day (log-sd 0.5) drifts down by about 0.7 an answer and stays near 0.
 */
export class LatencyCusum extends Cusum {
  constructor(
    readonly shift: number,
    h: number,
  ) {
    super(h);
  }

  observe(latencyMs: number, baselineLog: number): boolean {
    return this.add(Math.log(Math.max(1, latencyMs)) - baselineLog - this.shift);
  }
}

export function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}
