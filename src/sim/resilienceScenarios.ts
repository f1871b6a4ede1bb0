/**
 * The gateway fault scenarios of `npm run bench:resilience` (./resilienceBench.ts,
 * docs/resilience.md): what each does to gateways `a` and `b` on the simulated clock, and what
 * the model should notice of it.
 */
import type { Processor } from '../gateways/simulator/processor.js';
import type { World } from './world.js';

export interface Window {
  from: number;
  to: number;
}

/** What a scenario did to the gateways, in ms from the start of the run. */
export interface Plan {
  /** When `a` refused everything: calls to it then are calls to a dead gateway. */
  dead: Window[];
  /** When each gateway was anything but normal: an alarm then (or within `GRACE_MS` after) is not a false one. */
  faults: Partial<Record<GatewayName, Window[]>>;
  /** The moment the model should notice, the gateway, and the state that counts as noticing. */
  detect?: { gateway: GatewayName; at: number; state: 'down' | 'degraded' };
  /** Outages whose end the model should notice: time to the first success there, and to `healthy`. */
  recover?: { gateway: GatewayName; windows: Window[] };
}

export type GatewayName = 'a' | 'b';

export interface Scenario {
  name: string;
  /** Schedules the gateways' faults on the world. */
  setup(world: World, a: Processor, b: Processor): Plan;
}

export const RATE_PER_S = 10;
export const DURATION_S = 150;
export const SEC = 1000;

export const scenarios: Scenario[] = [
  {
    name: 'blips (5 % not processed)',
    setup(_w, a, b) {
      a.setFaults({ errorBeforeProcessingRate: 0.05 });
      b.setFaults({ errorBeforeProcessingRate: 0.05 });
      return { dead: [], faults: {} };
    },
  },
  {
    name: 'hard outage of a, 60 s',
    setup(w, a) {
      w.after(30 * SEC, () => a.setFaults({ outage: true }));
      w.after(90 * SEC, () => a.setFaults({ outage: false }));
      const out = [{ from: 30 * SEC, to: 90 * SEC }];
      return { dead: out, faults: { a: out }, detect: { gateway: 'a', at: 30 * SEC, state: 'down' }, recover: { gateway: 'a', windows: out } };
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
      return { dead: down, faults: { a: down }, detect: { gateway: 'a', at: 20 * SEC, state: 'down' }, recover: { gateway: 'a', windows: down } };
    },
  },
  {
    name: 'slow degradation of a, 95 % → 60 %',
    setup(w, a) {
      for (let s = 0; s <= 120; s++) w.after((20 + s) * SEC, () => a.setFaults({ errorBeforeProcessingRate: 0.05 + (0.35 * s) / 120 }));
      // Detection counts from the start of the drift (35 points over 120 s).
      return { dead: [], faults: { a: [{ from: 20 * SEC, to: DURATION_S * SEC }] }, detect: { gateway: 'a', at: 20 * SEC, state: 'degraded' } };
    },
  },
  {
    name: 'unknown outcomes on a, 30 % for 30 s',
    setup(w, a) {
      w.after(40 * SEC, () => a.setFaults({ timeoutAfterProcessingRate: 0.3 }));
      w.after(70 * SEC, () => a.setFaults({ timeoutAfterProcessingRate: 0 }));
      return { dead: [], faults: { a: [{ from: 40 * SEC, to: 70 * SEC }] } };
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
      const bDown = [{ from: 40 * SEC, to: 100 * SEC }];
      return { dead: down, faults: { a: down, b: bDown }, detect: { gateway: 'b', at: 40 * SEC, state: 'down' }, recover: { gateway: 'b', windows: bDown } };
    },
  },
  {
    name: 'latency spike of a, +800 ms for 40 s',
    setup(w, a) {
      w.after(40 * SEC, () => a.setFaults({ latency: { minMs: 800, maxMs: 900 } }));
      w.after(80 * SEC, () => a.setFaults({ latency: { minMs: 5, maxMs: 30 } }));
      return { dead: [], faults: { a: [{ from: 40 * SEC, to: 80 * SEC }] }, detect: { gateway: 'a', at: 40 * SEC, state: 'degraded' } };
    },
  },
];
