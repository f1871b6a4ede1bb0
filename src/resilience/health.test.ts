import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stepUntil } from '../../test/support/bounded.js';
import { seededRandom } from '../ports/seeded.js';
import type { Random } from '../ports/clock.js';
import { BernoulliCusum } from './detector.js';
import { GatewayHealth, type AnswerClass, type HealthState } from './health.js';

/** Feeds `n` answers 100 ms apart; failure probability and latency per answer index. */
function stream(
  h: GatewayHealth,
  random: Random,
  from: number,
  n: number,
  failP: (i: number) => number,
  latency: (i: number) => number = () => 20 * Math.exp(0.5 * gauss(random)),
): { changes: Array<{ i: number; to: HealthState }>; end: number } {
  const changes: Array<{ i: number; to: HealthState }> = [];
  let t = from;
  for (let i = 0; i < n; i++) {
    t += 100;
    const outcome: AnswerClass = random.float() < failP(i) ? 'not_processed' : 'success';
    const c = h.observe({ at: t, outcome, latencyMs: latency(i) });
    if (c) changes.push({ i, to: c.to });
  }
  return { changes, end: t };
}

function gauss(r: Random): number {
  const u = Math.max(1e-12, r.float());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.float());
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

describe('BernoulliCusum', () => {
  it('alarms on the fifth failure in a row from a clean state at a 5 % baseline', () => {
    const d = new BernoulliCusum(0.9, 12);
    const alarms = [1, 2, 3, 4, 5].map(() => d.observe(true, 0.05));
    expect(alarms).toEqual([false, false, false, false, true]);
  });

  it('never goes below zero, so old good news cannot hide a new outage', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 200 }), fc.double({ min: 0.001, max: 0.5, noNaN: true }), (answers, p0) => {
        const d = new BernoulliCusum(0.9, 12);
        for (const failed of answers) {
          d.observe(failed, p0);
          if (d.statistic < 0) return false;
        }
        return true;
      }),
    );
  });
});

describe('GatewayHealth: detection on generated streams', () => {
  it('detects a hard outage within 5 failed answers (median over 200 seeds) and never later than 6', () => {
    const delays: number[] = [];
    for (let seed = 1; seed <= 200; seed++) {
      const r = seededRandom(seed);
      const h = new GatewayHealth(0);
      const warm = stream(h, r, 0, 500, () => 0.05);
      const out = stream(h, r, warm.end, 20, () => 1);
      const down = out.changes.find((c) => c.to === 'down');
      expect(down, `seed ${seed}`).toBeDefined();
      delays.push(down!.i + 1);
    }
    expect(median(delays)).toBeLessThanOrEqual(5);
    expect(Math.max(...delays)).toBeLessThanOrEqual(6);
  });

  it('raises at most 1 false alarm per 10,000 answers under 5 % blips', () => {
    let alarms = 0;
    let answers = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const r = seededRandom(1000 + seed);
      const h = new GatewayHealth(0);
      const s = stream(h, r, 0, 10_000, () => 0.05);
      alarms += s.changes.filter((c) => c.to === 'down' || c.to === 'degraded').length;
      answers += 10_000;
    }
    expect(alarms / (answers / 10_000)).toBeLessThanOrEqual(1);
  });

  it('detects a 30-point degradation (95 % → 65 % success) within 60 answers', () => {
    const delays: number[] = [];
    for (let seed = 1; seed <= 100; seed++) {
      const r = seededRandom(2000 + seed);
      const h = new GatewayHealth(0);
      const warm = stream(h, r, 0, 500, () => 0.05);
      const bad = stream(h, r, warm.end, 300, () => 0.35);
      const first = bad.changes.find((c) => c.to === 'degraded' || c.to === 'down');
      delays.push(first ? first.i + 1 : Infinity);
    }
    expect(median(delays)).toBeLessThanOrEqual(60);
  });

  it('detects a latency spike (p50 20 → 800 ms) as degraded within a few answers', () => {
    const r = seededRandom(7);
    const h = new GatewayHealth(0);
    const warm = stream(h, r, 0, 500, () => 0.01);
    const slow = stream(h, r, warm.end, 20, () => 0.01, () => 800 * Math.exp(0.2 * gauss(r)));
    expect(slow.changes[0]?.to).toBe('degraded');
    expect(slow.changes[0]!.i).toBeLessThan(5);
  });

  it('ignores declines: a stream of declines is a healthy gateway', () => {
    const h = new GatewayHealth(0);
    for (let i = 1; i <= 100; i++) expect(h.observe({ at: i * 10, outcome: 'decline', latencyMs: 15 })).toBeNull();
    expect(h.state).toBe('healthy');
    expect(h.successRate()).toBeCloseTo(0.95, 5);
  });
});

describe('GatewayHealth: lookups as evidence', () => {
  it('learns a dark gateway from three sends when each is followed by its refused lookup (five sends alone)', () => {
    const withLookups = new GatewayHealth(0);
    let t = 0;
    let sends = 0;
    while (withLookups.state !== 'down' && sends < 10) {
      sends++;
      withLookups.observe({ at: (t += 10), outcome: 'not_processed', latencyMs: 5 });
      if ((withLookups.state as HealthState) !== 'down') withLookups.observe({ at: (t += 2), outcome: 'not_processed', latencyMs: 2, lookup: true });
    }
    expect(sends).toBe(3);
    const sendsOnly = new GatewayHealth(0);
    let alone = 0;
    while (sendsOnly.state !== 'down' && alone < 10) {
      alone++;
      sendsOnly.observe({ at: (t += 10), outcome: 'not_processed', latencyMs: 5 });
    }
    expect(alone).toBe(5);
  });

  it('takes an answered lookup for no evidence: 5 % blips whose lookups answer leave the model as blips alone do', () => {
    const r = seededRandom(11);
    const h = new GatewayHealth(0);
    const ref = new GatewayHealth(0);
    let t = 0;
    for (let i = 0; i < 2_000; i++) {
      const outcome = r.float() < 0.05 ? 'not_processed' : 'success';
      t += 10;
      h.observe({ at: t, outcome, latencyMs: 20 });
      ref.observe({ at: t, outcome, latencyMs: 20 });
      if (outcome !== 'success') expect(h.observe({ at: t, outcome: 'success', latencyMs: 3, lookup: true })).toBeNull();
    }
    expect(h.snapshot(t)).toEqual(ref.snapshot(t));
  });

  it('adds a refused lookup to the down evidence alone: latency, success rate, baselines and degradation are the sends\' ', () => {
    const h = new GatewayHealth(0);
    const ref = new GatewayHealth(0);
    let t = 0;
    for (let i = 0; i < 50; i++) {
      t += 10;
      h.observe({ at: t, outcome: 'success', latencyMs: 40 });
      ref.observe({ at: t, outcome: 'success', latencyMs: 40 });
    }
    h.observe({ at: t, outcome: 'not_processed', latencyMs: 900, lookup: true });
    const [a, b] = [h.snapshot(t), ref.snapshot(t)];
    expect(a.evidence.failure_cusum).toBeGreaterThan(b.evidence.failure_cusum);
    expect({ ...a, evidence: { ...a.evidence, failure_cusum: 0 } }).toEqual({ ...b, evidence: { ...b.evidence, failure_cusum: 0 } });
  });

  it('moves a recovering gateway back to down on a refused lookup', () => {
    const h = new GatewayHealth(0);
    let t = 0;
    stepUntil('down', () => h.state === 'down', () => h.observe({ at: (t += 10), outcome: 'not_processed', latencyMs: 5 }), 100);
    h.observe({ at: (t += 10), outcome: 'success', latencyMs: 5 });
    expect(h.state).toBe('recovering');
    expect(h.observe({ at: (t += 1), outcome: 'not_processed', latencyMs: 1, lookup: true })?.to).toBe('down');
  });
});

describe('GatewayHealth: breaker, probes and recovery', () => {
  function downAt(): { h: GatewayHealth; t: number } {
    const h = new GatewayHealth(0);
    let t = 0;
    stepUntil('the gateway is down after failures in a row', () => h.state === 'down', () => h.observe({ at: (t += 10), outcome: 'not_processed', latencyMs: 5 }), 100);
    return { h, t };
  }

  it('lets no first attempt through while down except probes at a bounded, doubling rate', () => {
    const { h, t } = downAt();
    expect(h.breaker()).toBe('open');
    const admitted: number[] = [];
    for (let now = t; now < t + 16_000; now += 10) if (h.admit(now, 0)) admitted.push(now - t);
    // Gaps of 250, 250, 500, 1000, 2000, then 4000 ms: at most one probe every 4 s once settled.
    expect(admitted).toEqual([250, 500, 1000, 2000, 4000, 8000, 12000]);
  });

  it('ramps traffic back after a successful probe and is healthy after 4 successes in a row', () => {
    const { h, t } = downAt();
    expect(h.observe({ at: t + 300, outcome: 'success', latencyMs: 5 })?.to).toBe('recovering');
    expect(h.breaker()).toBe('half_open');
    expect(h.rampShare()).toBe(0.25);
    h.observe({ at: t + 310, outcome: 'success', latencyMs: 5 });
    expect(h.rampShare()).toBe(0.5);
    h.observe({ at: t + 320, outcome: 'success', latencyMs: 5 });
    expect(h.rampShare()).toBe(1);
    expect(h.observe({ at: t + 330, outcome: 'success', latencyMs: 5 })?.to).toBe('healthy');
  });

  it('falls back to down on a failure while recovering', () => {
    const { h, t } = downAt();
    h.observe({ at: t + 300, outcome: 'success', latencyMs: 5 });
    expect(h.observe({ at: t + 310, outcome: 'unknown', latencyMs: 5000, reason: 'timeout' })?.to).toBe('down');
  });

  it('bounds state changes per minute however the gateway flaps (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom<AnswerClass>('success', 'not_processed', 'unknown', 'decline'), { minLength: 1, maxLength: 600 }), (answers) => {
        const h = new GatewayHealth(0);
        let changes: number[] = [];
        let t = 0;
        for (const outcome of answers) {
          t += 50;
          if (h.observe({ at: t, outcome, latencyMs: 10 })) changes.push(t);
          changes = changes.filter((c) => c > t - 60_000);
          // One fall to down may pass the cap (the costlier mistake is to keep sending).
          if (changes.length > 12 + 1) return false;
        }
        return true;
      }),
    );
  });
});
