import type { GatewayOperation } from '../gateways/port.js';
import { RetryBudget } from './budget.js';
import { GatewayHealth, type HealthPriors, type HealthSnapshot, type HealthState, type StateChange } from './health.js';
import type { GatewayAnswer } from './policy.js';
import { RetrySensitivity } from './sensitivity.js';

/**
 * One gateway answer as every instance learns it (docs/resilience.md). Instances append these
 * to one shared log and each folds the whole log into its own {@link HealthBook}, so N
 * instances learn from each other's traffic with one model written once.
 */
export type GatewayObservation = GatewayAnswer;

export interface GatewayStateChange extends StateChange {
  gateway: string;
  operation: GatewayOperation;
}

/** What to do after a "not processed" answer, as the learned model sees it. */
export type RetryAdvice =
  | { kind: 'retry'; delayMs: number; success: number; why: string }
  | { kind: 'failover'; to: string; why: string }
  | { kind: 'defer'; delayMs: number; why: string };

export interface HealthBookOptions {
  priors?: Partial<HealthPriors>;
  /** Retries at most this share of recent first tries, per gateway (plus `retryFloor`). */
  retryRatio?: number;
  retryFloor?: number;
  /** One gateway call, priced in waiting time, when comparing retrying with moving on. */
  callCostMs?: number;
}

/** The row `GET /v1/gateways` shows for one gateway (its authorize model; others nested). */
export interface GatewayView extends HealthSnapshot {
  name: string;
  retry_delay_ms: number;
  retry_budget: { retries: number; allowed: number };
  operations: Record<string, HealthSnapshot>;
}

/**
 * Every gateway's learned health, retry budget and retry sensitivity, and the decisions made
 * from them: which gateways may take a new first attempt and in what order, and what to do
 * after a "not processed" answer. Pure: time and random draws come from the caller.
 *
 * It never decides anything about an unknown outcome: those stay on their gateway until it
 * answers (docs/payments.md). An unknown answer still teaches the model (a timeout is a
 * health signal).
 */
export class HealthBook {
  private readonly health = new Map<string, GatewayHealth>();
  private readonly budgets = new Map<string, RetryBudget>();
  private readonly sensitivity = new Map<string, RetrySensitivity>();
  /** Per gateway: the end of the last Retry-After it answered with. */
  private readonly notBefore = new Map<string, number>();
  private readonly callCostMs: number;

  constructor(
    private readonly o: HealthBookOptions = {},
    private readonly origin = 0,
  ) {
    this.callCostMs = o.callCostMs ?? 200;
  }

  observe(ob: GatewayObservation): GatewayStateChange | null {
    if (ob.outcome === 'not_processed' && ob.retryAfterMs !== undefined) {
      this.notBefore.set(ob.gateway, Math.max(this.notBefore.get(ob.gateway) ?? 0, ob.at + ob.retryAfterMs));
    }
    if (ob.first) this.budget(ob.gateway).recordFirst(ob.at);
    if (!ob.first && ob.retryDelayMs !== undefined && ob.outcome !== 'decline') {
      this.sensitivityOf(ob.gateway, ob.reason).observe(ob.at, ob.retryDelayMs, ob.outcome === 'success');
    }
    const change = this.model(ob.gateway, ob.operation).observe(ob);
    return change ? { ...change, gateway: ob.gateway, operation: ob.operation } : null;
  }

  /** Neither down nor inside a Retry-After it asked for: worth moving to now. */
  available(gateway: string, operation: GatewayOperation, now: number): boolean {
    return this.state(gateway, operation) !== 'down' && now >= (this.notBefore.get(gateway) ?? 0);
  }

  state(gateway: string, operation: GatewayOperation = 'authorize'): HealthState {
    return this.health.get(key(gateway, operation))?.state ?? 'healthy';
  }

  /**
   * The gateways a new first attempt may go to, best first: those in control in their given
   * (priority) order, then recovering ones that won their ramp draw, then degraded ones by
   * success rate; a down gateway only when its probe is due (it then goes first, so the probe
   * is a real payment that fails over if the gateway is still down). `probe`, when given,
   * decides instead of the gateway's own probe pacing whether a down gateway (down since the
   * time it is handed) takes this payment — the deployment's shared probe lease (./probes.ts).
   */
  route(candidates: readonly string[], operation: GatewayOperation, now: number, draw: () => number, probe?: (gateway: string, since: number) => boolean): string[] {
    const probes: string[] = [];
    const healthy: string[] = [];
    const degraded: Array<{ name: string; rate: number }> = [];
    for (const name of candidates) {
      const m = this.health.get(key(name, operation));
      if (!m) {
        healthy.push(name);
        continue;
      }
      switch (m.state) {
        case 'healthy':
          healthy.push(name);
          break;
        case 'recovering':
          if (m.admit(now, draw())) healthy.push(name);
          else degraded.push({ name, rate: -1 });
          break;
        case 'degraded':
          degraded.push({ name, rate: m.successRate() });
          break;
        case 'down':
          if (probe ? probe(name, m.since) : m.admit(now, draw())) probes.push(name);
          break;
      }
    }
    degraded.sort((a, b) => b.rate - a.rate);
    // Every gateway down: behave as the static order does rather than put a payment on a
    // probe with nowhere to go after it.
    if (healthy.length === 0 && degraded.length === 0) return [...candidates];
    return [...probes, ...healthy, ...degraded.map((d) => d.name)];
  }

  /**
   * After a "not processed" answer from `gateway`: retry here after the delay the learned
   * sensitivity prefers (never before `retryAfterMs`, within the retry budget), or move to
   * `alternative` at once when waiting here is expected to cost more, or defer.
   */
  adviseRetry(
    gateway: string,
    operation: GatewayOperation,
    reason: string | undefined,
    retryAfterMs: number,
    alternative: string | null,
    now: number,
  ): RetryAdvice {
    const here = this.model(gateway, operation);
    // Moving to a gateway known to be down, or one that asked to be left alone for a while,
    // only turns one failure into two.
    const elsewhere = alternative !== null && this.available(alternative, operation, now) ? alternative : null;
    if (here.state === 'down') {
      if (elsewhere) return { kind: 'failover', to: elsewhere, why: `${gateway} is down` };
      // Nowhere better: wait here as long as the gateway asks (a probe's pace at least).
      const delayMs = Math.max(retryAfterMs, 1000);
      if (this.budget(gateway).tryRetry(now)) return { kind: 'retry', delayMs, success: here.successRate(), why: `${gateway} is down and so is every alternative` };
      return { kind: 'defer', delayMs, why: `${gateway} is down and there is nowhere else to go` };
    }
    const latency = here.latencyQuantile(0.5) ?? 50;
    const plan = this.sensitivityOf(gateway, reason).bestDelay(retryAfterMs, latency, this.callCostMs, here.successRate());
    if (elsewhere) {
      const other = this.health.get(key(elsewhere, operation));
      const otherCost = ((other?.latencyQuantile(0.5) ?? 50) + this.callCostMs) / (other?.successRate() ?? 0.95);
      if (otherCost < plan.expectedMs) {
        return { kind: 'failover', to: elsewhere, why: `expected ${Math.round(otherCost)} ms at ${elsewhere} against ${Math.round(plan.expectedMs)} ms retrying here` };
      }
    }
    if (!this.budget(gateway).tryRetry(now)) {
      if (elsewhere) return { kind: 'failover', to: elsewhere, why: `retry budget of ${gateway} spent` };
      return { kind: 'defer', delayMs: Math.max(plan.delayMs, 1000), why: `retry budget of ${gateway} spent` };
    }
    return { kind: 'retry', delayMs: plan.delayMs, success: plan.success, why: `retry after ${plan.delayMs} ms succeeds with p=${plan.success.toFixed(2)}` };
  }

  /** Every gateway seen or named, for `GET /v1/gateways` and the metrics. */
  view(names: readonly string[], now: number): GatewayView[] {
    return names.map((name) => {
      const operations: Record<string, HealthSnapshot> = {};
      for (const [k, m] of this.health) if (k.startsWith(`${name}\u0000`)) operations[k.slice(name.length + 1)] = m.snapshot(now);
      const auth = operations.authorize ?? new GatewayHealth(this.origin, this.o.priors).snapshot(now);
      const latency = auth.latency_ms.p50 ?? 50;
      return {
        name,
        ...auth,
        retry_delay_ms: this.sensitivityOf(name, undefined).bestDelay(0, latency, this.callCostMs, auth.success_rate).delayMs,
        retry_budget: roundUsage(this.budget(name).usage(now)),
        operations,
      };
    });
  }

  private model(gateway: string, operation: GatewayOperation): GatewayHealth {
    const k = key(gateway, operation);
    let m = this.health.get(k);
    if (!m) this.health.set(k, (m = new GatewayHealth(this.origin, this.o.priors)));
    return m;
  }

  private budget(gateway: string): RetryBudget {
    let b = this.budgets.get(gateway);
    if (!b) this.budgets.set(gateway, (b = new RetryBudget(this.origin, this.o.retryRatio ?? 0.2, this.o.retryFloor ?? 3)));
    return b;
  }

  private sensitivityOf(gateway: string, reason: string | undefined): RetrySensitivity {
    const k = `${gateway}\u0000${reasonClass(reason)}`;
    let s = this.sensitivity.get(k);
    if (!s) this.sensitivity.set(k, (s = new RetrySensitivity(this.origin)));
    return s;
  }
}

function key(gateway: string, operation: GatewayOperation): string {
  return `${gateway}\u0000${operation}`;
}

/** Failure reasons grouped the way they recover: by HTTP status or transport error kind. */
export function reasonClass(reason: string | undefined): string {
  if (!reason) return 'other';
  const status = /\b(4\d\d|5\d\d)\b/.exec(reason);
  if (status) return status[1]!;
  const lower = reason.toLowerCase();
  for (const kind of ['refused', 'reset', 'timeout', 'outage', 'dns', 'rate']) if (lower.includes(kind)) return kind;
  return 'other';
}

function roundUsage(u: { retries: number; allowed: number }): { retries: number; allowed: number } {
  return { retries: Math.round(u.retries * 10) / 10, allowed: Math.round(u.allowed * 10) / 10 };
}
