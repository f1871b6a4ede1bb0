/**
 * `npm run bench:resilience` (docs/resilience.md): the adaptive policy against the static one
 * on the same seeds, under gateway fault scenarios, in the deterministic world: the real gate,
 * pipeline, relay and in-process simulated processors over the in-memory store, simulated time.
 * Prints one row per scenario × policy (means over the seeds) and whether I1 held (each
 * processor's own log checked by the one gateway-log check).
 */
import { renderPaymentResult } from '../api/render.js';
import type { GatewayConnector } from '../gateways/port.js';
import { GatewayRouter } from '../gateways/router.js';
import { createSimulatorConnector } from '../gateways/simulator/connector.js';
import { createProcessor, type Processor } from '../gateways/simulator/processor.js';
import { LocalKeyEvents } from '../idempotency/events.js';
import { InProcessFastPath } from '../idempotency/fastpath.js';
import { fingerprint } from '../idempotency/fingerprint.js';
import { Gate } from '../idempotency/gate.js';
import { gatewayLogDifferences } from '../ledger/gatewayLog.js';
import { startRelay } from '../outbox/relay.js';
import { PaymentService } from '../payments/service.js';
import { seededRandom } from '../ports/seeded.js';
import { adaptivePolicy } from '../resilience/adaptive.js';
import { HealthBook } from '../resilience/book.js';
import type { HealthState } from '../resilience/health.js';
import { RetryBudget } from '../resilience/budget.js';
import { staticPolicy, type RetryPolicy } from '../resilience/policy.js';
import { MemoryStore } from '../store/memory/index.js';
import { DURATION_S, RATE_PER_S, SEC, scenarios, type GatewayName, type Scenario, type Window } from './resilienceScenarios.js';
import { World } from './world.js';

type PolicyName = 'static' | 'adaptive';

/** An alarm within this long after a fault window ends is still about that fault. */
const GRACE_MS = 10 * SEC;

interface RunResult {
  payments: number;
  approved: number;
  calls: number;
  wasted: number;
  deadCalls: number;
  /** Answers from the watched gateway, and seconds, from `plan.detect.at` to the alarm (0: already raised). */
  detectAnswers: number | null;
  detectMs: number | null;
  /** Every answer the model saw, and alarms (into `degraded` or `down`) outside every fault window of that gateway. */
  answers: number;
  falseAlarms: number;
  /** Per recovered outage: ms from its end to the first success there, and to `healthy`. */
  backMs: number[];
  healthyMs: number[];
  /** Retries (a further attempt at a gateway, after "not processed") and first tries; retries an independent budget of the documented size would have refused. */
  retries: number;
  firsts: number;
  overBudget: number;
  p50: number;
  p99: number;
  stateChanges: number;
  i1: number;
}

const within = (windows: readonly Window[] | undefined, t: number, grace = 0) => (windows ?? []).some((w) => t >= w.from && t < w.to + grace);

async function runOnce(scenario: Scenario, policyName: PolicyName, seed: number): Promise<RunResult> {
  const world = new World(seed);
  const store = new MemoryStore({ detectReentry: false });
  await store.transaction((tx) => tx.insertMerchant({ id: 'mer_bench', name: 'bench', keyHash: 'hash_bench', keyPrefix: 'sk_test' }));
  const processors = ['a', 'b'].map((_, i) => createProcessor({ clock: world.clock, random: seededRandom(seed * 31 + i), faults: { latency: { minMs: 5, maxMs: 30 } } }));
  const [a, b] = processors as [Processor, Processor];
  const origin = world.now;
  const plan = scenario.setup(world, a, b);
  const since = () => world.now - origin;

  let calls = 0;
  let wasted = 0;
  let deadCalls = 0;
  const counted = (name: string, c: GatewayConnector): GatewayConnector => ({
    name,
    async execute(req, signal) {
      calls++;
      if (name === 'a' && within(plan.dead, since())) deadCalls++;
      const o = await c.execute(req, signal);
      if (o.class === 'not_processed' || o.class === 'unknown') wasted++;
      return o;
    },
    async status(key, signal) {
      calls++;
      if (name === 'a' && within(plan.dead, since())) deadCalls++;
      return c.status(key, signal);
    },
  });
  const router = new GatewayRouter(
    processors.map((p, i) => {
      const name = i === 0 ? 'a' : 'b';
      return { name, priority: i, connector: counted(name, createSimulatorConnector({ name, processor: p, timers: world, timeoutMs: 2000 })) };
    }),
  );
  const book = new HealthBook({}, world.now);
  const r: Omit<RunResult, 'payments' | 'approved' | 'p50' | 'p99' | 'i1'> = {
    calls: 0,
    wasted: 0,
    deadCalls: 0,
    detectAnswers: null,
    detectMs: null,
    answers: 0,
    falseAlarms: 0,
    backMs: [],
    healthyMs: [],
    retries: 0,
    firsts: 0,
    overBudget: 0,
    stateChanges: 0,
  };
  // Answers from the watched gateway since the moment to notice.
  let watchedAnswers = 0;
  // An independent budget of the documented size (docs/resilience.md): what the policy's own
  // budget should have allowed, checked from outside it once the run is over, every first try
  // and retry replayed in time order.
  const budgetEvents: Array<{ gateway: string; at: number; retry: boolean }> = [];
  // Per recovered outage (by its end): ms to the first success there, and to `healthy`.
  const settledBack = new Map<number, number>();
  const settledHealthy = new Map<number, number>();
  const base: RetryPolicy = policyName === 'adaptive' ? adaptivePolicy({ book, clock: world.clock, random: world.random }) : staticPolicy();
  const noteChange = (before: HealthState, after: HealthState, g: GatewayName, t: number) => {
    r.stateChanges++;
    if ((after === 'degraded' || after === 'down') && before !== 'degraded' && before !== 'down' && !within(plan.faults[g], t, GRACE_MS)) r.falseAlarms++;
  };
  const policy: RetryPolicy = {
    ...base,
    observe(answer) {
      const t = since();
      const before = book.state(answer.gateway);
      if (base.observe) base.observe(answer);
      else book.observe(answer); // the static policy is watched, not steered, by the model
      const after = book.state(answer.gateway);
      const g = answer.gateway as GatewayName;
      if (answer.lookup) {
        // A refused lookup teaches the model (counted above as a state change, if it made one)
        // but is no send: not an answer, a retry or a first try of the columns below.
        if (after !== before) noteChange(before, after, g, t);
        return;
      }
      r.answers++;
      if (answer.first) {
        r.firsts++;
        budgetEvents.push({ gateway: g, at: answer.at, retry: false });
      } else if (answer.outcome !== 'unknown') {
        r.retries++;
        // A retry is charged when it is decided: its send, less the wait before it.
        budgetEvents.push({ gateway: g, at: answer.at - answer.latencyMs - (answer.retryDelayMs ?? 0), retry: true });
      }
      if (after !== before) noteChange(before, after, g, t);
      const d = plan.detect;
      if (d && g === d.gateway && t >= d.at && r.detectMs === null) {
        watchedAnswers++;
        const noticed = d.state === 'down' ? after === 'down' : after === 'degraded' || after === 'down';
        if (noticed) {
          r.detectMs = t - d.at;
          r.detectAnswers = watchedAnswers;
        }
      }
      const rec = plan.recover;
      if (rec && g === rec.gateway) {
        for (const w of rec.windows) {
          if (t < w.to) continue;
          if (!settledBack.has(w.to) && answer.outcome === 'success') settledBack.set(w.to, t - w.to);
          if (!settledHealthy.has(w.to) && after === 'healthy') settledHealthy.set(w.to, t - w.to);
        }
      }
    },
  };
  // Noticed before the moment to notice (a degradation flagged on its way to 30 points): 0.
  if (plan.detect) {
    const d = plan.detect;
    world.after(d.at, () => {
      const st = book.state(d.gateway);
      if (r.detectMs === null && (st === d.state || (d.state === 'degraded' && st === 'down'))) {
        r.detectMs = 0;
        r.detectAnswers = 0;
      }
    });
  }
  const runtime = world.runtime;
  const payments = new PaymentService({ store, gateways: router, runtime, policy, relayDelayMs: 30_000, render: renderPaymentResult });
  const gate = new Gate({ store, fast: new InProcessFastPath(world.clock), events: new LocalKeyEvents(), runtime, holdTimeoutMs: 10_000, leaseMs: 30_000, keyTtlMs: 86_400_000 });
  const relay = startRelay({ store, gate, payments, runtime, intervalMs: 1000, leaseMs: 30_000 });

  const latencies: number[] = [];
  let approved = 0;
  const total = RATE_PER_S * DURATION_S;
  const start = world.now;
  for (let i = 0; i < total; i++) {
    world.after(Math.floor((i * SEC) / RATE_PER_S), () => {
      const sentAt = world.now;
      const key = `k${i}`;
      const body = { amount: 1000, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } };
      const req = { merchantId: 'mer_bench', key, method: 'POST', path: '/v1/payments', fingerprint: fingerprint('POST', '/v1/payments', body), operation: 'create' };
      const send = (): void => {
        void gate
          .execute(req, (claim) => payments.create('mer_bench', key, { amount: 1000, currency: 'EUR', captureMethod: 'manual', token: 'tok_visa' }, claim), undefined, { claimInFirstWrite: true })
          .then((answer) => {
            if (answer.result === 'pending') return void world.after(1000, send);
            latencies.push(world.now - sentAt);
            if (answer.status === 201 && JSON.parse(answer.body).status === 'authorized') approved++;
          })
          .catch(() => world.after(1000, send));
      };
      send();
    });
  }
  await world.run(start + (DURATION_S + 60) * SEC, () => latencies.length === total);
  await relay.stop();
  latencies.sort((x, y) => x - y);
  const shadow = new Map<string, RetryBudget>();
  for (const e of budgetEvents.sort((x, y) => x.at - y.at)) {
    const b = shadow.get(e.gateway) ?? shadow.set(e.gateway, new RetryBudget(origin)).get(e.gateway)!;
    if (!e.retry) b.recordFirst(e.at);
    else if (!b.tryRetry(e.at)) r.overBudget++;
  }
  const i1 = processors.reduce((n, p) => n + gatewayLogDifferences(p.log(), null).filter((d) => d.invariant === 'I1').length, 0);
  return {
    ...r,
    calls,
    wasted,
    deadCalls,
    backMs: [...settledBack.values()],
    healthyMs: [...settledHealthy.values()],
    payments: total,
    approved,
    p50: latencies[Math.floor(latencies.length * 0.5)] ?? NaN,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? NaN,
    i1,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};

interface Row {
  scenario: string;
  policy: PolicyName;
  callsPerPayment: number;
  wastedPerPayment: number;
  deadCallsPerPayment: number;
  approval: number;
  detectAnswers: number | null;
  detectS: number | null;
  falseAlarmsPer1e4: number;
  backS: number | null;
  healthyS: number | null;
  retryShare: number;
  overBudget: number;
  stateChangesPerMin: number;
  p50: number;
  p99: number;
  i1: number;
}

function summarise(scenario: string, policy: PolicyName, results: RunResult[]): Row {
  const mean = (f: (r: RunResult) => number) => results.reduce((s, r) => s + f(r), 0) / results.length;
  const detected = results.filter((r) => r.detectMs !== null);
  const back = results.flatMap((r) => r.backMs);
  const healthy = results.flatMap((r) => r.healthyMs);
  const answers = results.reduce((s, r) => s + r.answers, 0);
  return {
    scenario,
    policy,
    callsPerPayment: mean((r) => r.calls / r.payments),
    wastedPerPayment: mean((r) => r.wasted / r.payments),
    deadCallsPerPayment: mean((r) => r.deadCalls / r.payments),
    approval: mean((r) => r.approved / r.payments),
    detectAnswers: detected.length ? median(detected.map((r) => r.detectAnswers!)) : null,
    detectS: detected.length ? median(detected.map((r) => r.detectMs!)) / 1000 : null,
    falseAlarmsPer1e4: (results.reduce((s, r) => s + r.falseAlarms, 0) / answers) * 1e4,
    backS: back.length ? Math.max(...back) / 1000 : null,
    healthyS: healthy.length ? Math.max(...healthy) / 1000 : null,
    retryShare: results.reduce((s, r) => s + r.retries, 0) / Math.max(1, results.reduce((s, r) => s + r.firsts, 0)),
    overBudget: results.reduce((s, r) => s + r.overBudget, 0),
    stateChangesPerMin: mean((r) => r.stateChanges / ((DURATION_S + 60) / 60)),
    p50: mean((r) => r.p50),
    p99: mean((r) => r.p99),
    i1: results.reduce((s, r) => s + r.i1, 0),
  };
}

const dash = (x: number | null, digits: number) => (x === null ? '—' : x.toFixed(digits));

function table(rows: Row[]): string {
  const out = [
    '| scenario | policy | calls/payment | wasted/payment | calls to dead gw/payment | approval | detect (answers) | detect (s) | false alarms/10⁴ | back (s) | healthy (s) | retries/first tries | over budget | state changes/min | p50 ms | p99 ms | I1 |',
    `|${'---|'.repeat(17)}`,
  ];
  for (const r of rows)
    out.push(
      `| ${r.scenario} | ${r.policy} | ${r.callsPerPayment.toFixed(2)} | ${r.wastedPerPayment.toFixed(3)} | ${r.deadCallsPerPayment.toFixed(3)} | ${(r.approval * 100).toFixed(2)} % | ${dash(r.detectAnswers, 0)} | ${dash(r.detectS, 2)} | ${r.falseAlarmsPer1e4.toFixed(1)} | ${dash(r.backS, 1)} | ${dash(r.healthyS, 1)} | ${r.retryShare.toFixed(3)} | ${r.overBudget} | ${r.stateChangesPerMin.toFixed(1)} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${r.i1} |`,
    );
  return out.join('\n');
}

/** The targets, each read off the rows of the same run. */
function targets(rows: Row[]): string[] {
  const of = (part: string, policy: PolicyName) => rows.find((r) => r.scenario.includes(part) && r.policy === policy);
  const lines: string[] = [];
  const check = (what: string, ok: boolean | null, figure: string) => lines.push(`${ok === null ? 'n/a ' : ok ? 'ok  ' : 'MISS'} ${what}: ${figure}`);
  const outA = of('hard outage', 'adaptive');
  const outS = of('hard outage', 'static');
  if (outA && outS) {
    check('hard outage detected in ≤ 5 failed answers (median) and ≤ 2 s', outA.detectAnswers !== null && outA.detectAnswers <= 5 && outA.detectS! <= 2, `${dash(outA.detectAnswers, 0)} answers, ${dash(outA.detectS, 2)} s`);
    check('≥ 90 % fewer calls to the dead gateway than static', outA.deadCallsPerPayment <= 0.1 * outS.deadCallsPerPayment, `${outA.deadCallsPerPayment.toFixed(3)} vs ${outS.deadCallsPerPayment.toFixed(3)} a payment (−${((1 - outA.deadCallsPerPayment / outS.deadCallsPerPayment) * 100).toFixed(0)} %)`);
    check('p99 during an outage ≤ 0.5 × static', outA.p99 <= 0.5 * outS.p99, `${outA.p99.toFixed(0)} vs ${outS.p99.toFixed(0)} ms (${(outA.p99 / outS.p99).toFixed(2)}×)`);
  }
  const blips = of('blips', 'adaptive');
  if (blips) check('≤ 1 false alarm per 10⁴ answers under blips', blips.falseAlarmsPer1e4 <= 1, `${blips.falseAlarmsPer1e4.toFixed(1)}`);
  const deg = of('degradation', 'adaptive');
  if (deg) {
    // The drift adds 35 points over 120 s: flagged before it is 30 points deep means 0 answers
    // after the 30-point mark (the 30-point step itself is measured in health.test.ts).
    const points = deg.detectS === null ? null : (35 * deg.detectS) / 120;
    check('30-point degradation detected within 60 answers', points !== null && points <= 30, `flagged ${dash(deg.detectAnswers, 0)} answers (${dash(deg.detectS, 1)} s) into the drift, at +${dash(points, 1)} points, so 0 answers after it reached 30`);
  }
  const recovered = rows.filter((r) => r.policy === 'adaptive' && r.backS !== null);
  if (recovered.length) {
    const worst = Math.max(...recovered.map((r) => Math.max(r.backS!, r.healthyS ?? 0)));
    check('recovery detected and traffic back within 10 s', worst <= 10, `worst ${worst.toFixed(1)} s over ${recovered.map((r) => r.scenario).join(', ')}`);
  }
  const adaptive = rows.filter((r) => r.policy === 'adaptive');
  check('retries never above the budget', adaptive.every((r) => r.overBudget === 0), `${adaptive.reduce((s, r) => s + r.overBudget, 0)} retries over it`);
  const families = [...new Set(rows.map((r) => r.scenario))];
  const approvalOk = families.every((f) => (of(f, 'adaptive')?.approval ?? 0) >= (of(f, 'static')?.approval ?? 1));
  check('approval ≥ static in every family', approvalOk, families.map((f) => `${((of(f, 'adaptive')?.approval ?? 0) * 100).toFixed(1)}/${((of(f, 'static')?.approval ?? 0) * 100).toFixed(1)}`).join(' '));
  check('zero I1 violations in every family', rows.every((r) => r.i1 === 0), `${rows.reduce((s, r) => s + r.i1, 0)}`);
  return lines;
}

async function main(): Promise<void> {
  const seeds = Number(process.argv.find((a) => a.startsWith('--seeds='))?.slice(8) ?? 3);
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
  const rows: Row[] = [];
  for (const scenario of scenarios.filter((sc) => only === undefined || sc.name.includes(only))) {
    for (const policy of ['static', 'adaptive'] as PolicyName[]) {
      const results: RunResult[] = [];
      for (let seed = 1; seed <= seeds; seed++) results.push(await runOnce(scenario, policy, seed));
      rows.push(summarise(scenario.name, policy, results));
      process.stderr.write('.');
    }
  }
  process.stderr.write('\n');
  if (process.argv.includes('--json')) return void console.log(JSON.stringify({ seeds, rows, targets: targets(rows) }, null, 2));
  console.log(`Adaptive vs static resilience, ${seeds} seeds each, ${RATE_PER_S * DURATION_S} payments a run, gateways a (priority) and b`);
  console.log(table(rows));
  console.log('\nTargets (docs/resilience.md), read off this run:');
  for (const l of targets(rows)) console.log(l);
}

await main();
