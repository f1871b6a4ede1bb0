import { expect } from 'vitest';
import { defaultSchedule, runSchedule } from '../../src/sim/simulation.js';

/**
 * Runs seeds `from .. from + count - 1` of the default schedule and expects no violation; the
 * faults must really have happened. `npm test` runs 2,000 seeds as two such files, one per core.
 */
export async function sweep(from: number, count: number): Promise<void> {
  const started = performance.now();
  const failing: string[] = [];
  const faults = new Map<string, number>();
  for (let seed = from; seed < from + count; seed++) {
    const r = await runSchedule(seed, defaultSchedule);
    for (const [k, n] of r.faults) faults.set(k, (faults.get(k) ?? 0) + n);
    for (const v of r.violations) failing.push(`seed ${seed} ${v.invariant}: ${v.detail} (replay: npm run sim -- --seeds 1 --from ${seed} --trace)`);
  }
  const perSecond = count / ((performance.now() - started) / 1000);
  console.log(`simulation: seeds ${from}..${from + count - 1}, ${perSecond.toFixed(1)} schedules/s, faults ${JSON.stringify(Object.fromEntries([...faults].sort()))}`);
  expect(failing).toEqual([]);
  for (const kind of ['crash', 'crash.at_await', 'stall', 'fastpath.down', 'net.drop_answer', 'net.drop_request', 'processor.outage_window']) {
    expect(faults.get(kind) ?? 0, kind).toBeGreaterThan(0);
  }
}
