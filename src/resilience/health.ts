import { BernoulliCusum, LatencyCusum, clamp } from './detector.js';

/**
 * A gateway's health, learned from its answers (docs/resilience.md). One model per gateway ×
 * operation, updated online from every answer; pure (the caller passes the time), so the
 * simulator replays it and instances can rebuild it from one shared stream of observations.
 *
 * | state        | means                                          | new first attempts        |
 * |--------------|------------------------------------------------|---------------------------|
 * | `healthy`    | failure rate and latency in control            | all                       |
 * | `degraded`   | failure rate or latency shifted up, still works | all (routing prefers others) |
 * | `down`       | failing systemically                           | none; probes only         |
 * | `recovering` | a probe succeeded; traffic ramps back          | a growing share           |
 *
 * Declines are the issuer's answer about a card, not the gateway's health: they count as
 * answers for latency and nothing else.
 */
export type HealthState = 'healthy' | 'degraded' | 'down' | 'recovering';
export type BreakerState = 'closed' | 'open' | 'half_open';
export type AnswerClass = 'success' | 'decline' | 'not_processed' | 'unknown';

export interface Observation {
  /** When the answer arrived, on Idem's clock (ms). */
  at: number;
  outcome: AnswerClass;
  latencyMs: number;
  reason?: string | undefined;
  retryAfterMs?: number | undefined;
  /** A lookup the gateway refused: evidence for `down` alone (src/resilience/policy.ts, GatewayAnswer). */
  lookup?: true | undefined;
}

/**
 * Every number the model starts from. These are priors and tuning of the detectors, not
 * learned values; how fast data overrides each is said beside it.
 */
export interface HealthPriors {
  /** Prior success probability and its weight in pseudo-answers: 2 real answers outweigh it. */
  successPrior: number;
  priorWeight: number;
  /** Half-life of the evidence behind success rate and latency quantiles. */
  halfLifeMs: number;
  /** In-control failure rate before any traffic; the slow baseline moves 1/`baselineWindow` per answer. */
  baselineFailure: number;
  baselineWindow: number;
  /** Failure rate that means "down", and the evidence (nats) that proves it: ~5 failures in a row. */
  downRate: number;
  downThreshold: number;
  /** Added to the baseline failure rate for "degraded", and its evidence threshold. */
  degradedShift: number;
  degradedThreshold: number;
  /** Latency factor (as ln) that counts as degraded, and its threshold. */
  latencyShift: number;
  latencyThreshold: number;
  /** Probes while down: first after `probeMinMs`, doubling to `probeMaxMs`. */
  probeMinMs: number;
  probeMaxMs: number;
  /** Successes in a row while recovering before the gateway is healthy again. */
  recoverySuccesses: number;
  /** At most this many state changes a minute; past it the state holds (no oscillation storms). */
  maxChangesPerMinute: number;
}

export const defaultHealthPriors: HealthPriors = {
  successPrior: 0.95,
  priorWeight: 2,
  halfLifeMs: 30_000,
  baselineFailure: 0.05,
  baselineWindow: 200,
  downRate: 0.9,
  downThreshold: 12,
  degradedShift: 0.25,
  degradedThreshold: 8,
  latencyShift: Math.LN2,
  latencyThreshold: 8,
  probeMinMs: 250,
  probeMaxMs: 4000,
  recoverySuccesses: 4,
  maxChangesPerMinute: 12,
};

/** What `GET /v1/gateways` and the metrics show for one gateway × operation. */
export interface HealthSnapshot {
  state: HealthState;
  breaker: BreakerState;
  since: number;
  success_rate: number;
  latency_ms: { p50: number | null; p99: number | null };
  evidence: {
    answers: number;
    failure_cusum: number;
    degraded_cusum: number;
    latency_cusum: number;
    baseline_failure_rate: number;
    baseline_latency_ms: number | null;
    state_changes_last_minute: number;
  };
}

export interface StateChange {
  from: HealthState;
  to: HealthState;
  at: number;
  why: string;
}

const LATENCY_BUCKETS = 50; // 1 ms · 1.25^i, up to ~60 s
const LATENCY_BASE = Math.log(1.25);

export class GatewayHealth {
  private readonly p: HealthPriors;
  private stateNow: HealthState = 'healthy';
  private sinceAt: number;
  private lastAt: number;
  private successes = 0;
  private failures = 0;
  private answers = 0;
  private baselineFail: number;
  private baselineLog: number | null = null;
  private readonly latency = new Float64Array(LATENCY_BUCKETS);
  private readonly down: BernoulliCusum;
  private readonly degraded: BernoulliCusum;
  private readonly slow: LatencyCusum;
  private nextProbeAt = 0;
  private probeGapMs: number;
  private recoveredInARow = 0;
  private changes: number[] = [];

  constructor(now: number, priors: Partial<HealthPriors> = {}) {
    this.p = { ...defaultHealthPriors, ...priors };
    this.sinceAt = now;
    this.lastAt = now;
    this.baselineFail = this.p.baselineFailure;
    this.probeGapMs = this.p.probeMinMs;
    this.down = new BernoulliCusum(this.p.downRate, this.p.downThreshold);
    this.degraded = new BernoulliCusum(Math.min(0.95, this.p.baselineFailure + this.p.degradedShift), this.p.degradedThreshold);
    this.slow = new LatencyCusum(this.p.latencyShift, this.p.latencyThreshold);
  }

  get state(): HealthState {
    return this.stateNow;
  }

  get since(): number {
    return this.sinceAt;
  }

  /** Learns from one answer; returns the state change it caused, if any. */
  observe(o: Observation): StateChange | null {
    this.decayTo(o.at);
    if (o.lookup) return this.observeLookup(o);
    this.addLatency(o.latencyMs);
    if (o.outcome === 'decline') return null;
    const failed = o.outcome !== 'success';
    this.answers++;
    if (failed) this.failures++;
    else this.successes++;

    const downAlarm = this.down.observe(failed, this.baselineFail);
    const degradedAlarm = this.degraded.observe(failed, this.baselineFail);
    const slowAlarm = failed ? this.slow.alarmed : this.slow.observe(o.latencyMs, this.baselineLog ?? Math.log(Math.max(1, o.latencyMs)));

    switch (this.stateNow) {
      case 'healthy':
        // Only an in-control stream teaches the baseline, so a slow drift cannot become normal.
        if (!downAlarm && !degradedAlarm && !slowAlarm) this.learnBaseline(failed, o.latencyMs);
        if (downAlarm) return this.moveTo('down', o.at, `failure evidence ${this.down.statistic.toFixed(1)} ≥ ${this.p.downThreshold}`);
        if (degradedAlarm) return this.moveTo('degraded', o.at, `failure rate above ${(this.baselineFail * 100).toFixed(1)} % + ${this.p.degradedShift * 100} points`);
        if (slowAlarm) return this.moveTo('degraded', o.at, `latency above ${Math.exp(this.p.latencyShift).toFixed(1)}× its baseline`);
        return null;
      case 'degraded':
        if (downAlarm) return this.moveTo('down', o.at, `failure evidence ${this.down.statistic.toFixed(1)} ≥ ${this.p.downThreshold}`);
        // Hysteresis: back to healthy only once both pieces of evidence have mostly drained away.
        if (this.degraded.statistic < this.p.degradedThreshold / 4 && this.slow.statistic < this.p.latencyThreshold / 4) {
          return this.moveTo('healthy', o.at, 'failure rate and latency back in control');
        }
        return null;
      case 'down':
        if (!failed) {
          this.recoveredInARow = 1;
          return this.moveTo('recovering', o.at, 'an answer succeeded while down');
        }
        return null;
      case 'recovering':
        if (failed) {
          this.recoveredInARow = 0;
          return this.moveTo('down', o.at, `failed while recovering (${o.reason ?? o.outcome})`);
        }
        this.recoveredInARow++;
        if (this.recoveredInARow >= this.p.recoverySuccesses) {
          this.down.reset();
          this.degraded.reset();
          this.slow.reset();
          return this.moveTo('healthy', o.at, `${this.recoveredInARow} answers in a row succeeded`);
        }
        return null;
    }
  }

  /**
   * A lookup refused (the gateway says it serves nothing now) is one more failure for the
   * `down` detector, and nothing else: not an answer to a send, so no latency, success rate,
   * baseline or degradation evidence. An answered lookup says nothing of how sends fare, so it
   * is not evidence at all.
   */
  private observeLookup(o: Observation): StateChange | null {
    if (o.outcome === 'success' || o.outcome === 'decline') return null;
    const downAlarm = this.down.observe(true, this.baselineFail);
    switch (this.stateNow) {
      case 'healthy':
      case 'degraded':
        return downAlarm ? this.moveTo('down', o.at, `failure evidence ${this.down.statistic.toFixed(1)} ≥ ${this.p.downThreshold}`) : null;
      case 'recovering':
        this.recoveredInARow = 0;
        return this.moveTo('down', o.at, `a lookup was refused while recovering (${o.reason ?? o.outcome})`);
      case 'down':
        return null;
    }
  }

  /**
   * May a new first attempt go to this gateway now? Down: only when a probe is due (and that
   * probe is then taken). Recovering: a share that doubles with each success in a row.
   * `draw` is a uniform [0, 1) number from the injected random source.
   */
  admit(now: number, draw: number): boolean {
    switch (this.stateNow) {
      case 'healthy':
      case 'degraded':
        return true;
      case 'down':
        if (now < this.nextProbeAt) return false;
        this.nextProbeAt = now + this.probeGapMs;
        this.probeGapMs = Math.min(this.p.probeMaxMs, this.probeGapMs * 2);
        return true;
      case 'recovering':
        return draw < this.rampShare();
    }
  }

  /** The share of new first attempts a recovering gateway takes: ¼, ½, 1. */
  rampShare(): number {
    if (this.stateNow !== 'recovering') return this.stateNow === 'down' ? 0 : 1;
    return Math.min(1, 0.25 * 2 ** Math.max(0, this.recoveredInARow - 1));
  }

  /** Posterior mean success probability, recent answers weighing more. */
  successRate(): number {
    const a = this.p.successPrior * this.p.priorWeight + this.successes;
    const b = (1 - this.p.successPrior) * this.p.priorWeight + this.failures;
    return a / (a + b);
  }

  latencyQuantile(q: number): number | null {
    let total = 0;
    for (const c of this.latency) total += c;
    if (total < 1e-9) return null;
    let seen = 0;
    for (let i = 0; i < LATENCY_BUCKETS; i++) {
      seen += this.latency[i]!;
      if (seen >= q * total) return Math.round(Math.exp((i + 0.5) * LATENCY_BASE));
    }
    return Math.round(Math.exp(LATENCY_BUCKETS * LATENCY_BASE));
  }

  breaker(): BreakerState {
    return this.stateNow === 'down' ? 'open' : this.stateNow === 'recovering' ? 'half_open' : 'closed';
  }

  snapshot(now: number): HealthSnapshot {
    return {
      state: this.stateNow,
      breaker: this.breaker(),
      since: this.sinceAt,
      success_rate: round(this.successRate()),
      latency_ms: { p50: this.latencyQuantile(0.5), p99: this.latencyQuantile(0.99) },
      evidence: {
        answers: this.answers,
        failure_cusum: round(this.down.statistic),
        degraded_cusum: round(this.degraded.statistic),
        latency_cusum: round(this.slow.statistic),
        baseline_failure_rate: round(this.baselineFail),
        baseline_latency_ms: this.baselineLog === null ? null : Math.round(Math.exp(this.baselineLog)),
        state_changes_last_minute: this.changes.filter((t) => t > now - 60_000).length,
      },
    };
  }

  private learnBaseline(failed: boolean, latencyMs: number): void {
    const w = 1 / this.p.baselineWindow;
    this.baselineFail = clamp(this.baselineFail + w * ((failed ? 1 : 0) - this.baselineFail), 0.005, 0.5);
    if (!failed) {
      const l = Math.log(Math.max(1, latencyMs));
      this.baselineLog = this.baselineLog === null ? l : this.baselineLog + w * 4 * (l - this.baselineLog);
    }
  }

  private moveTo(to: HealthState, at: number, why: string): StateChange | null {
    this.changes = this.changes.filter((t) => t > at - 60_000);
    // A storm of changes holds the state where it is, except a fall to `down`: sending first
    // attempts to a gateway that fails everything is the costlier mistake.
    if (this.changes.length >= this.p.maxChangesPerMinute && to !== 'down') return null;
    const from = this.stateNow;
    this.changes.push(at);
    this.stateNow = to;
    this.sinceAt = at;
    if (to === 'down') {
      this.probeGapMs = this.p.probeMinMs;
      this.nextProbeAt = at + this.probeGapMs;
    }
    if (to === 'healthy') this.down.reset();
    return { from, to, at, why };
  }

  private decayTo(at: number): void {
    const dt = at - this.lastAt;
    if (dt <= 0) return;
    this.lastAt = at;
    const f = 0.5 ** (dt / this.p.halfLifeMs);
    this.successes *= f;
    this.failures *= f;
    for (let i = 0; i < LATENCY_BUCKETS; i++) this.latency[i]! *= f;
  }

  private addLatency(ms: number): void {
    const i = clamp(Math.floor(Math.log(Math.max(1, ms)) / LATENCY_BASE), 0, LATENCY_BUCKETS - 1);
    this.latency[i]! += 1;
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
