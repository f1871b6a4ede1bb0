import { describe, expect, it } from 'vitest';
import { serialPasses } from './passes.js';

describe('serialPasses', () => {
  it('runs one pass at a time: kicks during a pass become one more pass, a full batch asks for another, stop ends it', async () => {
    let running = 0;
    let most = 0;
    let runs = 0;
    const releases: Array<() => void> = [];
    const errors: unknown[] = [];
    const passes = serialPasses(
      () =>
        new Promise<boolean>((resolve) => {
          running++;
          most = Math.max(most, running);
          runs++;
          releases.push(() => {
            running--;
            resolve(runs === 2); // the second pass reports a full batch
          });
        }),
      (err) => errors.push(err),
    );
    const next = async () => {
      while (releases.length === 0) await new Promise((r) => setImmediate(r));
      releases.shift()!();
      await new Promise((r) => setImmediate(r));
    };
    passes.kick();
    passes.kick();
    passes.kick(); // three kicks while the first runs: one more pass, not three
    await next(); // pass 1 ends → pass 2 (for the kicks)
    await next(); // pass 2 ends full → pass 3
    await next(); // pass 3 ends, nothing asked
    expect(runs).toBe(3);
    expect(passes.current()).toBeNull();
    expect(most).toBe(1);
    passes.stop();
    passes.kick();
    expect(passes.current()).toBeNull();
    expect(runs).toBe(3);
    expect(errors).toEqual([]);
  });

  it('reports a failed pass and runs again on the next kick', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const passes = serialPasses(async () => {
      runs++;
      if (runs === 1) throw new Error('boom');
      return false;
    }, (err) => errors.push(err));
    passes.kick();
    await passes.current();
    passes.kick();
    await passes.current();
    expect(runs).toBe(2);
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom']);
  });
});
