import { randomBytes, randomFillSync } from 'node:crypto';

/**
 * The core reads time, schedules work and draws randomness only through these ports, so a
 * deterministic simulator can drive the real code under simulated time and a seeded source.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** Cancels a scheduled callback; calling it twice is harmless. */
export type Cancel = () => void;

export interface Timers {
  /** Runs `fn` once after `ms`. The timer never keeps the process alive on its own. */
  after(ms: number, fn: () => void): Cancel;
  /** Runs `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): Cancel;
}

export interface Random {
  /** `n` random bytes. */
  bytes(n: number): Uint8Array;
  /** A float in [0, 1). */
  float(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export const systemTimers: Timers = {
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  },
};

/**
 * Bytes from the operating system's CSPRNG, drawn POOL_BYTES at a time: a first request draws
 * about ten small ids, and one `randomFillSync` system call each had cost 2.5–3.7 % of its
 * server CPU (docs/performance.md). No byte is handed out twice.
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;

function drawBytes(n: number): Buffer {
  if (n > POOL_BYTES / 4) return randomBytes(n);
  if (poolAt + n > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    poolAt = 0;
  }
  // A view, not a copy: each refill is a new buffer, so no draw is ever written over.
  const out = pool.subarray(poolAt, poolAt + n);
  poolAt += n;
  return out;
}

export const cryptoRandom: Random = {
  bytes: drawBytes,
  float: () => drawBytes(6).readUIntBE(0, 6) / 2 ** 48,
};

/** Waits `ms` on the given timers; resolves early (without error) when `signal` aborts. */
export function sleep(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const cancel = timers.after(ms, done);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      cancel();
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** The ports bundled, as the composition root hands them to the core. */
export interface Runtime {
  clock: Clock;
  timers: Timers;
  random: Random;
}

export const systemRuntime: Runtime = { clock: systemClock, timers: systemTimers, random: cryptoRandom };
