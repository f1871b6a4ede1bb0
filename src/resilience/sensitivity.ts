/**
 * Retry sensitivity (docs/resilience.md): for one gateway and one failure reason, the learned
 * probability that a retry sent `d` ms after a "not processed" answer succeeds, estimated from
 * how earlier failures recovered. A 503 that clears in 200 ms and one that lasts minutes look
 * the same on the wire; after a few retries they do not look the same here.
 *
 * Delays are bucketed (25 ms … 25.6 s, doubling). Each bucket holds a Beta posterior whose
 * prior is worth two answers, centred on `priorMean` — the caller passes the gateway's current
 * success rate (a retry after a blip succeeds about as often as a first try), ½ when it knows
 * nothing; a bucket's own answers override the prior after a handful. Evidence decays by half
 * every `halfLifeMs`. Waiting longer is never worse
 * than waiting less for the same failure, so the estimate for `d` is the best posterior mean
 * among buckets up to `d`. Pure.
 */
export const RETRY_DELAYS_MS: readonly number[] = [25, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600];

export class RetrySensitivity {
  private readonly ok = new Float64Array(RETRY_DELAYS_MS.length);
  private readonly failed = new Float64Array(RETRY_DELAYS_MS.length);
  private lastAt: number;

  constructor(
    now: number,
    readonly halfLifeMs = 300_000,
  ) {
    this.lastAt = now;
  }

  /** A retry sent `delayMs` after the failure it followed ended `succeeded` (or not). */
  observe(now: number, delayMs: number, succeeded: boolean): void {
    this.decayTo(now);
    const i = bucketOf(delayMs);
    if (succeeded) this.ok[i]! += 1;
    else this.failed[i]! += 1;
  }

  /** Probability that a retry after `delayMs` succeeds. */
  successAfter(delayMs: number, priorMean = 0.5): number {
    let best = 0;
    for (let i = 0; i <= bucketOf(delayMs); i++) best = Math.max(best, (2 * priorMean + this.ok[i]!) / (2 + this.ok[i]! + this.failed[i]!));
    return best;
  }

  /**
   * The delay with the lowest expected cost until a retry succeeds, `(d + latency + callCost)
   * / P(d)` (retrying at `d` until it works), never shorter than `minDelayMs` (a gateway's
   * `Retry-After`). `callCostMs` prices one gateway call in waiting time: it is a stated
   * preference, not a learned value (docs/resilience.md), and it is what keeps a gateway whose
   * 503s last minutes from being hammered every 25 ms at a 2 % success rate.
   */
  bestDelay(
    minDelayMs: number,
    latencyMs: number,
    callCostMs = 200,
    priorMean = 0.5,
    maxDelayMs = RETRY_DELAYS_MS.at(-1)!,
  ): { delayMs: number; success: number; expectedMs: number } {
    let best = { delayMs: Math.max(minDelayMs, RETRY_DELAYS_MS[0]!), success: 0, expectedMs: Infinity };
    for (const d of RETRY_DELAYS_MS) {
      if (d > maxDelayMs && d > minDelayMs) break;
      const delay = Math.max(d, minDelayMs);
      const success = this.successAfter(delay, priorMean);
      const expectedMs = (delay + Math.max(1, latencyMs) + callCostMs) / success;
      if (expectedMs < best.expectedMs - 1e-9) best = { delayMs: delay, success, expectedMs };
    }
    return best;
  }

  /** Answers observed per bucket (decayed), for the evidence `GET /v1/gateways` shows. */
  evidence(): Array<{ delay_ms: number; success: number; answers: number }> {
    return RETRY_DELAYS_MS.map((d, i) => ({
      delay_ms: d,
      success: Math.round(((1 + this.ok[i]!) / (2 + this.ok[i]! + this.failed[i]!)) * 1000) / 1000,
      answers: Math.round((this.ok[i]! + this.failed[i]!) * 10) / 10,
    }));
  }

  private decayTo(now: number): void {
    const dt = now - this.lastAt;
    if (dt <= 0) return;
    this.lastAt = now;
    const f = 0.5 ** (dt / this.halfLifeMs);
    for (let i = 0; i < RETRY_DELAYS_MS.length; i++) {
      this.ok[i]! *= f;
      this.failed[i]! *= f;
    }
  }
}

function bucketOf(delayMs: number): number {
  let i = 0;
  while (i + 1 < RETRY_DELAYS_MS.length && RETRY_DELAYS_MS[i + 1]! <= delayMs) i++;
  return i;
}
