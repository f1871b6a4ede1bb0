import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GateEvent } from '../idempotency/gate.js';
import type { RoundWrite } from '../payments/service.js';
import type { GatewayStateChange } from '../resilience/book.js';
import type { ConcurrencyLimit } from '../resilience/concurrencyLimit.js';
import type { GatewayAnswer } from '../resilience/policy.js';

/** Idem's Prometheus metrics, on a registry of its own (one per instance of the app). */
export class Metrics {
  readonly registry = new Registry();
  readonly gateEvents = new Counter({
    name: 'idem_gate_events_total',
    help: 'Idempotency gate outcomes: executed, replayed, held, reused, hold_timeout, taken_over, fence_lost, shed (a first request refused 503 at the concurrency limit)',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'idem_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });

  readonly recoveries = new Counter({
    name: 'idem_recoveries_total',
    help: 'Outbox rows the relay ran, by result: final (the request was finished), pending (outcome still unknown), busy (owner alive), failed',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly paymentRounds = new Counter({
    name: 'idem_payment_rounds_total',
    help: 'How each write after a gateway answer went out: batch (one statement from what the request wrote), batch_refused (the batch needed a read or found the rows changed; written as a transaction instead), transaction (no snapshot: recovery, a request that took a key over)',
    labelNames: ['write'] as const,
    registers: [this.registry],
  });

  readonly gatewayAnswers = new Counter({
    name: 'idem_gateway_answers_total',
    help: 'Gateway answers to sends, by gateway, operation and outcome class (success, decline, not_processed, unknown)',
    labelNames: ['gateway', 'operation', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly gatewayLatency = new Histogram({
    name: 'idem_gateway_latency_seconds',
    help: 'Time from send to answer (or timeout), by gateway and operation',
    labelNames: ['gateway', 'operation'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly gatewayState = new Gauge({
    name: 'idem_gateway_state',
    help: 'Learned gateway health: 1 for the state the gateway × operation is in, 0 for the others',
    labelNames: ['gateway', 'operation', 'state'] as const,
    registers: [this.registry],
  });

  /**
   * The concurrency limit's state, read when scraped (docs/resilience.md, "Shedding overload"):
   * the limit, first requests in flight, and first requests shed since start.
   */
  watchConcurrency(limit: Pick<ConcurrencyLimit, 'state'>): void {
    const read = (name: string, help: string, value: () => number, kind: typeof Gauge | typeof Counter) =>
      new kind({
        name,
        help,
        registers: [this.registry],
        collect(this: Gauge | Counter) {
          this.reset();
          this.inc(value());
        },
      });
    read('idem_concurrency_limit', 'First requests this instance works on at once before it sheds more with 503 (learned from latency unless fixed)', () => limit.state.limit, Gauge);
    read('idem_concurrency_in_flight', 'First requests in progress under the concurrency limit', () => limit.state.inFlight, Gauge);
    read('idem_shed_total', 'First requests refused 503 UNAVAILABLE at the concurrency limit, before any work', () => limit.state.shed, Counter);
  }

  /** Transactions this instance ran on its database (src/db/database.ts `countingTransactions`). */
  dbTransactions = 0;
  readonly dbTransactionsTotal = new Counter({
    name: 'idem_db_transactions_total',
    help: 'Transactions this instance ran on its database (a statement on its own counts as one)',
    registers: [this.registry],
    collect: () => {
      this.dbTransactionsTotal.reset();
      this.dbTransactionsTotal.inc(this.dbTransactions);
    },
  });

  readonly passes = new Counter({
    name: 'idem_pass_total',
    help: 'Background passes (docs/architecture.md, "Background passes") by pass and outcome: more, worked, idle, failed, not_leased',
    labelNames: ['pass', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly passDuration = new Histogram({
    name: 'idem_pass_duration_seconds',
    help: 'Background pass duration by pass',
    labelNames: ['pass'] as const,
    buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10],
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    // The event-loop delay is sampled every 500 ms, not prom-client's 10 ms: a timer 100 times
    // a second was most of what an idle instance cost (docs/architecture.md, "Background passes").
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'idem_', eventLoopMonitoringPrecision: 500 });
  }

  gate = (event: GateEvent): void => {
    this.gateEvents.inc({ event });
  };

  recovery = (result: 'final' | 'pending' | 'busy' | 'failed'): void => {
    this.recoveries.inc({ result });
  };

  pass = (pass: string, outcome: string, seconds: number): void => {
    this.passes.inc({ pass, outcome });
    this.passDuration.observe({ pass }, seconds);
  };

  paymentRound = (write: RoundWrite): void => {
    this.paymentRounds.inc({ write });
  };

  gatewayAnswer = (a: GatewayAnswer): void => {
    this.gatewayAnswers.inc({ gateway: a.gateway, operation: a.operation, outcome: a.outcome });
    this.gatewayLatency.observe({ gateway: a.gateway, operation: a.operation }, a.latencyMs / 1000);
  };

  gatewayStateChange = (c: GatewayStateChange): void => {
    for (const state of ['healthy', 'degraded', 'down', 'recovering']) this.gatewayState.set({ gateway: c.gateway, operation: c.operation, state }, state === c.to ? 1 : 0);
  };
}
