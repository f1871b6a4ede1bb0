import { describe, expect, it } from 'vitest';
import { plantedBugs } from '../../src/sim/planted.js';
import { defaultSchedule, runSchedule } from '../../src/sim/simulation.js';

describe('deterministic simulation', () => {
  it('replays a seed to the identical trace', async () => {
    for (const seed of [7, 1234]) {
      const a = await runSchedule(seed);
      const b = await runSchedule(seed);
      expect(a.trace.length).toBeGreaterThan(50);
      expect(b.trace).toEqual(a.trace);
      expect(b.violations).toEqual(a.violations);
    }
  });

  it('keeps every invariant over 200 seeds of crashes, stalls, lost answers, outages and fast-path loss', async () => {
    const started = performance.now();
    const failing: string[] = [];
    const faults = new Map<string, number>();
    for (let seed = 1; seed <= 200; seed++) {
      const r = await runSchedule(seed);
      for (const [k, n] of r.faults) faults.set(k, (faults.get(k) ?? 0) + n);
      for (const v of r.violations) failing.push(`seed ${seed} ${v.invariant}: ${v.detail}`);
    }
    const perSecond = 200 / ((performance.now() - started) / 1000);
    console.log(`simulation: 200 schedules, ${perSecond.toFixed(1)} schedules/s, faults ${JSON.stringify(Object.fromEntries(faults))}`);
    expect(failing).toEqual([]);
    // The faults really happened.
    for (const kind of ['crash', 'stall', 'fastpath.down', 'net.drop_answer', 'net.drop_request']) expect(faults.get(kind) ?? 0).toBeGreaterThan(0);
  });

  for (const bug of plantedBugs) {
    it(`finds the planted bug ${bug} within 2,000 seeds, and its seed replays it`, async () => {
      const schedule = { ...defaultSchedule, plant: bug };
      let found: Awaited<ReturnType<typeof runSchedule>> | null = null;
      for (let seed = 1; seed <= 2000 && !found; seed++) {
        const r = await runSchedule(seed, schedule);
        if (r.violations.length > 0) found = r;
      }
      expect(found, `no seed in 1..2000 exposed ${bug}`).not.toBeNull();
      const again = await runSchedule(found!.seed, schedule);
      expect(again.violations).toEqual(found!.violations);
      expect(again.trace).toEqual(found!.trace);
    });
  }
});
