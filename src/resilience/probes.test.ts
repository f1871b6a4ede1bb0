import { describe, expect, it } from 'vitest';
import { probeBoundViolations, type ProbeBound } from '../../test/support/probeWindows.js';
import { seededRandom } from '../ports/seeded.js';
import { adaptivePolicy } from './adaptive.js';
import { HealthBook } from './book.js';
import { defaultHealthPriors } from './health.js';
import { LocalProbeLeases, nextProbeLease, SharedProbes, type ProbeLeaseStore } from './probes.js';

const schedule = { minMs: defaultHealthPriors.probeMinMs, maxMs: defaultHealthPriors.probeMaxMs };
/** The bound test/integration/resilience.test.ts holds the real instances to. */
const bound: ProbeBound = { ...schedule, slackMs: 250 };

type Probing = 'shared lease' | 'a lease each' | "each gateway's own pacing";

/**
 * Two instances at 100 payments/s between them (alternating, 10 ms apart), on a fake clock;
 * gw-a has gone dark, instance A learned it at 0 and B `lagMs` later. Returns when a payment
 * was routed to gw-a (a probe) from the moment both route away, for 10 s.
 */
async function darkGateway(probing: Probing, seed: number): Promise<{ probes: number[]; from: number; to: number }> {
  const random = seededRandom(seed);
  const t0 = 1_000_000;
  let now = t0;
  const clock = { now: () => now };
  const lagMs = Math.floor(random.float() * 300);
  const shared = new LocalProbeLeases();
  const instances = ['A', 'B'].map((name) => {
    const book = new HealthBook({}, t0 - 60_000);
    const stores: ProbeLeaseStore[] = probing === 'shared lease' ? [shared] : [new LocalProbeLeases()];
    const probes = probing === "each gateway's own pacing" ? undefined : new SharedProbes({ instance: name, stores, schedule });
    return { book, policy: adaptivePolicy({ book, probes, clock, random }) };
  });
  const learn = (book: HealthBook, at: number) => {
    for (let i = 0; i < 6; i++) book.observe({ at, gateway: 'gw-a', operation: 'authorize', outcome: 'not_processed', latencyMs: 3, reason: 'HTTP 503', first: true });
  };
  const probes: number[] = [];
  for (let i = 0; now < t0 + lagMs + 10_000; i++, now += 10) {
    if (now === t0) learn(instances[0]!.book, now);
    if (now === t0 + Math.ceil(lagMs / 10) * 10) learn(instances[1]!.book, now);
    const routed = instances[i % 2]!.policy.route!(['gw-a', 'gw-b'], 'authorize');
    const order = routed instanceof Promise ? await routed : routed;
    if (order[0] === 'gw-a' && now >= t0) probes.push(now);
  }
  const from = t0 + Math.ceil(lagMs / 10) * 10;
  return { probes: probes.filter((t) => t >= from), from, to: now };
}

describe('probes of a dark gateway, two instances', () => {
  it('with a shared lease: one schedule for the deployment, within the bound the real-socket test asserts', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { probes, from, to } = await darkGateway('shared lease', seed);
      expect(probeBoundViolations(probes, from, to, bound), `seed ${seed}: probes at +${probes.map((t) => t - from).join(', +')}`).toEqual([]);
      expect(probes.length).toBeGreaterThanOrEqual(5); // 10 s: 250, 500, 1000, 2000, 4000 ms apart
    }
  });

  // The planted check: the same bound fails when instances probe each on their own, so the
  // integration test's probe assertion can fail.
  for (const probing of ['a lease each', "each gateway's own pacing"] as const) {
    it(`with ${probing}: about twice as many probes, caught by the same bound`, async () => {
      for (let seed = 1; seed <= 20; seed++) {
        const { probes, from, to } = await darkGateway(probing, seed);
        expect(probeBoundViolations(probes, from, to, bound), `seed ${seed}: probes at +${probes.map((t) => t - from).join(', +')}`).not.toEqual([]);
      }
    });
  }
});

describe('nextProbeLease', () => {
  it('doubles the interval while leases follow each other, and starts over after a quiet spell', () => {
    let last = nextProbeLease(null, 0, schedule);
    const gaps = [last.gapMs];
    for (let i = 0; i < 6; i++) gaps.push((last = nextProbeLease(last, last.until, schedule)).gapMs);
    expect(gaps).toEqual([250, 500, 1000, 2000, 4000, 4000, 4000]);
    expect(nextProbeLease(last, last.until + schedule.maxMs + 1, schedule).gapMs).toBe(250);
  });

  it('gives an interval to one claimant: the second hears when it ends', async () => {
    const store = new LocalProbeLeases();
    const a = await store.claim('gw', 'authorize', 'a', 100, schedule);
    const b = await store.claim('gw', 'authorize', 'b', 200, schedule);
    expect(a).toEqual({ granted: true, until: 350, gapMs: 250 });
    expect(b).toEqual({ granted: false, until: 350 });
    expect((await store.claim('gw', 'authorize', 'b', 350, schedule)).granted).toBe(true);
  });

  it('falls back to the next store, then to its own schedule, when stores fail', async () => {
    const failing: ProbeLeaseStore = { name: 'down', claim: () => Promise.reject(new Error('unreachable')) };
    const probes = new SharedProbes({ instance: 'a', stores: [failing], schedule });
    expect(await probes.claim('gw', 'authorize', 0)).toBe(true);
    expect(probes.due('gw', 'authorize', -1000, 100)).toBe(false); // the local lease runs to 250
    expect(probes.due('gw', 'authorize', -1000, 250)).toBe(true);
    expect(probes.active).toBeNull();
  });
});
