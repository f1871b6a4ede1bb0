/**
 * A retry budget per gateway (docs/resilience.md): retries may be at most `ratio` of recent
 * first tries, plus `floor` so a quiet gateway can still be retried. The same rule as gRPC's
 * retry throttling and the SRE book's client-side throttling: when a gateway fails
 * everything, retries cannot multiply the load on it. Counts decay with `halfLifeMs`, so the
 * budget follows the traffic of the last few seconds. Pure: the caller passes the time.
 */
export class RetryBudget {
  private firsts = 0;
  private retries = 0;
  private lastAt: number;

  constructor(
    now: number,
    readonly ratio = 0.2,
    readonly floor = 3,
    readonly halfLifeMs = 10_000,
  ) {
    this.lastAt = now;
  }

  /** A first try was sent. */
  recordFirst(now: number): void {
    this.decayTo(now);
    this.firsts++;
  }

  /** Takes one retry from the budget if there is one; false means: do not retry now. */
  tryRetry(now: number): boolean {
    this.decayTo(now);
    if (this.retries + 1 > this.floor + this.ratio * this.firsts) return false;
    this.retries++;
    return true;
  }

  /** Retries sent against what the budget allows at most, both decayed to `now`. */
  usage(now: number): { retries: number; allowed: number } {
    this.decayTo(now);
    return { retries: this.retries, allowed: this.floor + this.ratio * this.firsts };
  }

  private decayTo(now: number): void {
    const dt = now - this.lastAt;
    if (dt <= 0) return;
    this.lastAt = now;
    const f = 0.5 ** (dt / this.halfLifeMs);
    this.firsts *= f;
    this.retries *= f;
  }
}
