import type { Cancel, Clock, Random, Runtime, Timers } from '../ports/clock.js';
import { seededRandom } from '../ports/seeded.js';

interface Scheduled {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Simulated time starts here (2030-01-01T00:00:00Z), so ISO dates in answers stay readable. */
export const SIM_EPOCH = Date.UTC(2030, 0, 1);

/**
 * A discrete-event world: a virtual clock, one timer queue ordered by (time, insertion
 * sequence), one seeded random source and a trace. Nothing in it reads real time; the only
 * real scheduling is the drain after each event (`setImmediate`), which lets every promise
 * continuation the event caused settle before the next event runs. With no real I/O in the
 * code under test, that makes a run a pure function of its seed.
 *
 * @example
 * const world = new World(7);
 * world.after(100, () => world.log('w', 'tick'));
 * await world.run(1_000);
 */
export class World implements Timers {
  /** Virtual milliseconds since the Unix epoch. */
  now = SIM_EPOCH;
  readonly random: Random;
  readonly clock: Clock = { now: () => this.now };
  readonly trace: string[] = [];
  /** Events run so far. */
  events = 0;
  private readonly heap: Scheduled[] = [];
  private seq = 0;

  constructor(readonly seed: number) {
    this.random = seededRandom(seed);
  }

  /** The world as the core's ports. */
  get runtime(): Runtime {
    return { clock: this.clock, timers: this, random: this.random };
  }

  after(ms: number, fn: () => void): Cancel {
    const item: Scheduled = { at: this.now + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.push(item);
    return () => {
      item.cancelled = true;
    };
  }

  every(ms: number, fn: () => void): Cancel {
    let cancel: Cancel = () => {};
    let stopped = false;
    const tick = () => {
      if (stopped) return;
      cancel = this.after(ms, tick);
      fn();
    };
    cancel = this.after(ms, tick);
    return () => {
      stopped = true;
      cancel();
    };
  }

  /** A uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.random.float() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.random.float() < p;
  }

  /** Appends one trace line: virtual time since the epoch, who, what. */
  log(who: string, what: string): void {
    this.trace.push(`${String(this.now - SIM_EPOCH).padStart(7)}ms ${who.padEnd(6)} ${what}`);
  }

  /** Runs events until the queue is empty, the next event is after `until`, or `stop()` says so. */
  async run(until: number, stop: () => boolean = () => false): Promise<void> {
    for (;;) {
      const next = this.peek();
      if (!next || next.at > until || stop()) break;
      this.pop();
      this.now = next.at;
      this.events++;
      next.fn();
      // The one real scheduling point: every microtask the event caused runs before this resolves.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (this.now < until && !stop()) this.now = until;
  }

  private peek(): Scheduled | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    return this.heap[0];
  }

  private less(a: Scheduled, b: Scheduled): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(item: Scheduled): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): Scheduled | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
