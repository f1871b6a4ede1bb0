import { describe, expect, it } from 'vitest';
import { virtualRuntime } from '../../test/support/virtualRuntime.js';
import { localSignals, startPass, type PassLease, type PassOutcome } from './passes.js';

/** A pass whose outcomes the test scripts; records when each ran (virtual ms since start). */
function scripted(outcomes: PassOutcome[], fallback: PassOutcome = 'idle') {
  const ran: number[] = [];
  return {
    ran,
    run: (now: () => number) => async () => {
      ran.push(now());
      return outcomes.shift() ?? fallback;
    },
  };
}

describe('the background pass runner', () => {
  it('backs off while idle, doubling to idleMaxMs, and a wake-up runs a pass at once and resets the beat', async () => {
    const { runtime, advance } = virtualRuntime(0);
    const signals = localSignals();
    const s = scripted([]);
    const pass = startPass({ name: 't', runtime, run: s.run(runtime.clock.now), intervalMs: 100, idleMaxMs: 800, wake: (k) => signals.on('t', k), onError: () => {} });
    await advance(5_000);
    // At start, then 100, 200, 400, 800, 800, … apart.
    expect(s.ran.slice(0, 7)).toEqual([0, 100, 300, 700, 1_500, 2_300, 3_100]);
    const before = s.ran.length;
    signals.notify('t');
    await advance(0);
    expect(s.ran.length).toBe(before + 1);
    expect(s.ran.at(-1)).toBe(5_000);
    await advance(100);
    expect(s.ran.at(-1)).toBe(5_100); // back on the short beat after the wake-up
    await pass.stop();
    signals.notify('t');
    await advance(10_000);
    expect(s.ran.at(-1)).toBe(5_100);
  });

  it('runs again at once after a full batch, on the beat after work, after a pacing delay when told, and one more after a kick during a pass', async () => {
    const { runtime, advance } = virtualRuntime(0);
    const s = scripted(['more', 'more', 'worked', 250, 'worked']);
    const pass = startPass({ name: 't', runtime, run: s.run(runtime.clock.now), intervalMs: 100, idleMaxMs: 1_000, onError: () => {} });
    await advance(0);
    expect(s.ran).toEqual([0, 0, 0]);
    await advance(100);
    expect(s.ran).toEqual([0, 0, 0, 100]);
    await advance(250);
    expect(s.ran).toEqual([0, 0, 0, 100, 350]);
    // A kick while a pass runs: exactly one more right after it.
    let release!: () => void;
    const held = startPass({
      name: 'h',
      runtime,
      intervalMs: 1_000,
      startNow: false,
      run: () => new Promise<PassOutcome>((r) => (release = () => r('idle'))),
      onError: () => {},
    });
    let runs = 0;
    held.kick();
    runs++;
    held.kick();
    held.kick();
    await advance(0);
    release();
    await advance(0);
    runs++;
    release();
    await advance(0);
    expect(runs).toBe(2);
    await Promise.all([pass.stop(), held.stop()]);
  });

  it('keeps wake-ups at least minGapMs apart under load, yet answers the first one after a quiet spell at once', async () => {
    const { runtime, advance } = virtualRuntime(0);
    const s = scripted([], 'worked');
    const pass = startPass({ name: 't', runtime, run: s.run(runtime.clock.now), intervalMs: 50, idleMaxMs: 10_000, minGapMs: 50, startNow: false, onError: () => {} });
    await advance(30);
    pass.kick();
    await advance(0);
    expect(s.ran).toEqual([30]);
    await advance(10);
    pass.kick();
    pass.kick();
    await advance(0);
    expect(s.ran).toEqual([30]);
    await advance(40);
    expect(s.ran).toEqual([30, 80]);
    await pass.stop();
  });

  it('runs a leased pass only while this instance holds the lease, hands the pass its fence, and releases on stop', async () => {
    const { runtime, advance } = virtualRuntime(0);
    let holder = false;
    let released = 0;
    const lease: PassLease = { acquire: async () => (holder ? 7 : null), release: async () => void released++ };
    const fences: Array<number | null> = [];
    const observed: string[] = [];
    const pass = startPass({
      name: 'probe',
      runtime,
      intervalMs: 100,
      lease,
      run: async ({ fence }) => {
        fences.push(fence);
        return 'worked';
      },
      observe: (name, outcome) => observed.push(`${name}:${outcome}`),
      onError: () => {},
    });
    await advance(300);
    expect(fences).toEqual([]);
    expect(observed.slice(0, 2)).toEqual(['probe:not_leased', 'probe:not_leased']);
    holder = true;
    pass.kick();
    await advance(0);
    expect(fences).toEqual([7]);
    await pass.stop();
    expect(released).toBe(1);
  });

  it('reports a failed pass, backs off, and goes on', async () => {
    const { runtime, advance } = virtualRuntime(0);
    const errors: string[] = [];
    let n = 0;
    const pass = startPass({
      name: 't',
      runtime,
      intervalMs: 100,
      idleMaxMs: 400,
      run: async () => {
        if (++n <= 3) throw new Error(`boom ${n}`);
        return 'worked';
      },
      onError: (err) => errors.push((err as Error).message),
    });
    await advance(300);
    expect(errors).toEqual(['boom 1', 'boom 2', 'boom 3']);
    await advance(400);
    expect(n).toBe(4);
    await pass.stop();
  });

  it('draws each delay from the jitter window on the runtime random source', async () => {
    const { runtime, advance } = virtualRuntime(0, () => 0.5);
    const s = scripted([], 'worked');
    const pass = startPass({ name: 't', runtime, run: s.run(runtime.clock.now), intervalMs: 1_000, jitter: 0.2, onError: () => {} });
    await advance(2_000);
    // (1 − 0.2 × 0.5) × 1,000 = 900 ms apart.
    expect(s.ran).toEqual([0, 900, 1_800]);
    await pass.stop();
  });
});
