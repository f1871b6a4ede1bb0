import type { Runtime } from '../../src/ports/clock.js';

/** Timers on a clock the test moves: `advance` runs what falls due, in order. */
export function virtualRuntime(start: number, random: () => number = () => 0) {
  let now = start;
  let seq = 0;
  const due = new Map<number, { at: number; fn: () => void; every?: number }>();
  const schedule = (at: number, fn: () => void, every?: number) => {
    const id = ++seq;
    due.set(id, { at, fn, ...(every !== undefined ? { every } : {}) });
    return () => void due.delete(id);
  };
  const runtime: Runtime = {
    clock: { now: () => now },
    timers: { after: (ms, fn) => schedule(now + ms, fn), every: (ms, fn) => schedule(now + ms, fn, ms) },
    random: { bytes: (k) => new Uint8Array(k), float: random },
  };
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  const advance = async (ms: number) => {
    const until = now + ms;
    for (;;) {
      // Work started before (a pass begun synchronously) schedules its next timer first.
      await settle();
      const next = [...due.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!next) break;
      const [id, t] = next;
      now = t.at;
      if (t.every !== undefined) t.at += t.every;
      else due.delete(id);
      t.fn();
      await settle();
    }
    now = until;
    await settle();
  };
  return { runtime, advance };
}
