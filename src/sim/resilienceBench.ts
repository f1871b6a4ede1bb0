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
import { staticPolicy, type RetryPolicy } from '../resilience/policy.js';
import { MemoryStore } from '../store/memory/index.js';
import { World } from './world.js';

type PolicyName = 'static' | 'adaptive';

interface Scenario {
  name: string;
  /** Schedules gateway `a`'s (and `b`'s) faults on the world; returns when `a` is truly down, for detection and dead calls. */
  setup(world: World, a: Processor, b: Processor): Array<{ from: number; to: number }>;
}

const RATE_PER_S = 10;
const DURATION_S = 150;
const SEC = 1000;

const scenarios: Scenario[] = [
  {
    name: 'blips (5 % not processed)',
    setup(_w, a, b) {
      a.setFaults({ errorBeforeProcessingRate: 0.05 });
      b.setFaults({ errorBeforeProcessingRate: 0.05 });
      return [];
    },
  },
  {
    name: 'hard outage of a, 60 s',
    setup(w, a) {
      w.after(30 * SEC, () => a.setFaults({ outage: true }));
      w.after(90 * SEC, () => a.setFaults({ outage: false }));
      return [{ from: 30 * SEC, to: 90 * SEC }];
    },
  },
  {
    name: 'flapping a, 10 s up / 10 s down',
    setup(w, a) {
      const down: Array<{ from: number; to: number }> = [];
      for (let t = 20; t < 140; t += 20) {
        w.after(t * SEC, () => a.setFaults({ outage: true }));
        w.after((t + 10) * SEC, () => a.setFaults({ outage: false }));
        down.push({ from: t * SEC, to: (t + 10) * SEC });
      }
      return down;
    },
  },
  {
    name: 'slow degradation of a, 95 % → 60 %',
    setup(w, a) {
      for (let s = 0; s <= 120; s++) w.after((20 + s) * SEC, () => a.setFaults({ errorBeforeProcessingRate: 0.05 + (0.35 * s) / 120 }));
      return [];
    },
  },
  {
    name: 'unknown outcomes on a, 30 % for 30 s',
    setup(w, a) {
      w.after(40 * SEC, () => a.setFaults({ timeoutAfterProcessingRate: 0.3 }));
      w.after(70 * SEC, () => a.setFaults({ timeoutAfterProcessingRate: 0 }));
      return [];
    },
  },
  {
    name: "a's 503s clear in 200 ms; b down 60 s",
    setup(w, a, b) {
      const down: Array<{ from: number; to: number }> = [];
      for (let t = 20_000; t < 140_000; t += 2_000) {
        w.after(t, () => a.setFaults({ outage: true }));
        w.after(t + 200, () => a.setFaults({ outage: false }));
        down.push({ from: t, to: t + 200 });
      }
      w.after(40 * SEC, () => b.setFaults({ outage: true }));
      w.after(100 * SEC, () => b.setFaults({ outage: false }));
      return down;
    },
  },
  {
    name: 'latency spike of a, +800 ms for 40 s',
    setup(w, a) {
      w.after(40 * SEC, () => a.setFaults({ latency: { minMs: 800, maxMs: 900 } }));
      w.after(80 * SEC, () => a.setFaults({ latency: { minMs: 5, maxMs: 30 } }));
      return [];
    },
  },
];

interface RunResult {
  payments: number;
  approved: number;
  calls: number;
  wasted: number;
  deadCalls: number;
  detectMs: number | null;
  p50: number;
  p99: number;
  stateChanges: number;
  i1: number;
}

async function runOnce(scenario: Scenario, policyName: PolicyName, seed: number): Promise<RunResult> {
  const world = new World(seed);
  const store = new MemoryStore({ detectReentry: false });
  await store.transaction((tx) => tx.insertMerchant({ id: 'mer_bench', name: 'bench', keyHash: 'hash_bench', keyPrefix: 'sk_test' }));
  const processors = ['a', 'b'].map((_, i) => createProcessor({ clock: world.clock, random: seededRandom(seed * 31 + i), faults: { latency: { minMs: 5, maxMs: 30 } } }));
  const [a, b] = processors as [Processor, Processor];
  const origin = world.now;
  const downWindows = scenario.setup(world, a, b);
  const isDown = (t: number) => downWindows.some((w) => t - origin >= w.from && t - origin < w.to);

  let calls = 0;
  let wasted = 0;
  let deadCalls = 0;
  const counted = (name: string, c: GatewayConnector): GatewayConnector => ({
    name,
    async execute(req, signal) {
      calls++;
      if (name === 'a' && isDown(world.now)) deadCalls++;
      const o = await c.execute(req, signal);
      if (o.class === 'not_processed' || o.class === 'unknown') wasted++;
      return o;
    },
    async status(key, signal) {
      calls++;
      if (name === 'a' && isDown(world.now)) deadCalls++;
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
  let stateChanges = 0;
  let detectMs: number | null = null;
  const base: RetryPolicy = policyName === 'adaptive' ? adaptivePolicy({ book, clock: world.clock, random: world.random }) : staticPolicy();
  const policy: RetryPolicy = {
    ...base,
    observe(answer) {
      const before = book.state(answer.gateway);
      if (base.observe) base.observe(answer);
      else book.observe(answer); // the static policy is watched, not steered, by the model
      const after = book.state(answer.gateway);
      if (after !== before) stateChanges++;
      if (answer.gateway === 'a' && after === 'down' && detectMs === null && downWindows[0] && world.now - origin >= downWindows[0].from) detectMs = world.now - origin - downWindows[0].from;
    },
  };
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
          .execute(req, (claim) => payments.create('mer_bench', key, { amount: 1000, currency: 'EUR', captureMethod: 'manual', token: 'tok_visa' }, claim))
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
  const i1 = processors.reduce((n, p) => n + gatewayLogDifferences(p.log(), null).filter((d) => d.invariant === 'I1').length, 0);
  return {
    payments: total,
    approved,
    calls,
    wasted,
    deadCalls,
    detectMs,
    p50: latencies[Math.floor(latencies.length * 0.5)] ?? NaN,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? NaN,
    stateChanges,
    i1,
  };
}

async function main(): Promise<void> {
  const seeds = Number(process.argv.find((a) => a.startsWith('--seeds='))?.slice(8) ?? 3);
  const rows: string[] = [];
  const header = `| scenario | policy | calls/payment | wasted/payment | calls to dead gw/payment | approval | detect (s) | state changes/min | p50 ms | p99 ms | I1 |`;
  rows.push(header, `|${'---|'.repeat(11)}`);
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
  for (const scenario of scenarios.filter((sc) => only === undefined || sc.name.includes(only))) {
    for (const policy of ['static', 'adaptive'] as PolicyName[]) {
      const results: RunResult[] = [];
      for (let seed = 1; seed <= seeds; seed++) results.push(await runOnce(scenario, policy, seed));
      const mean = (f: (r: RunResult) => number) => results.reduce((s, r) => s + f(r), 0) / results.length;
      const detects = results.map((r) => r.detectMs).filter((d): d is number => d !== null);
      rows.push(
        `| ${scenario.name} | ${policy} | ${mean((r) => r.calls / r.payments).toFixed(2)} | ${mean((r) => r.wasted / r.payments).toFixed(3)} | ${mean((r) => r.deadCalls / r.payments).toFixed(3)} | ${(mean((r) => r.approved / r.payments) * 100).toFixed(2)} % | ${detects.length ? (detects.reduce((s, d) => s + d, 0) / detects.length / 1000).toFixed(2) : '—'} | ${mean((r) => r.stateChanges / ((DURATION_S + 60) / 60)).toFixed(1)} | ${mean((r) => r.p50).toFixed(0)} | ${mean((r) => r.p99).toFixed(0)} | ${results.reduce((s, r) => s + r.i1, 0)} |`,
      );
      process.stderr.write('.');
    }
  }
  process.stderr.write('\n');
  console.log(`Adaptive vs static resilience, ${seeds} seeds each, ${RATE_PER_S * DURATION_S} payments a run, gateways a (priority) and b`);
  console.log(rows.join('\n'));
}

await main();
