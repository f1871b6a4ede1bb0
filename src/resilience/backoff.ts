import type { Random } from '../ports/clock.js';

/**
 * How a delay is spread so that many clients backing off together do not retry together:
 * - `none`: exactly the exponential delay;
 * - `full`: uniform in [0, delay) ("full jitter");
 * - `equal`: half the delay, plus uniform in [0, half) — never less than half;
 * - `{ spreadMs }`: the delay plus a uniform whole number of ms in [0, spreadMs].
 */
export type Jitter = 'none' | 'full' | 'equal' | { spreadMs: number };

export interface BackoffOptions {
  /** The delay before the first retry. */
  baseMs: number;
  /** Each retry waits this many times the one before; 2 unless told. */
  factor?: number;
  /** No delay (before jitter) grows past this. */
  capMs: number;
  jitter?: Jitter;
  /** Where jitter draws from: the injected runtime random, so a seeded run replays. */
  random?: Random;
}

/**
 * Capped exponential backoff as an immutable value: `baseMs × factor^retry`, capped at `capMs`,
 * spread by its jitter, and never shorter than what the other side asked for (a gateway's
 * `Retry-After`). The same backoff serves the payment pipeline, the outbox relay and the
 * clients of the simulator and the demo (docs/payments.md, "Backoff").
 *
 * @example
 * const relay = exponentialBackoff({ baseMs: 250, capMs: 30_000, jitter: 'equal', random: runtime.random });
 * relay.delay(0);             // in [125, 250)
 * relay.delay(3);             // in [1000, 2000)
 * relay.delay(0, 5_000);      // 5000: a Retry-After of 5 s is a floor
 */
export interface Backoff {
  readonly baseMs: number;
  readonly factor: number;
  readonly capMs: number;
  readonly jitter: Jitter;
  /**
   * The wait before retry number `retry` + 1 (`retry` = retries already made, from 0), at least
   * `atLeastMs`. Draws from the random source once when the jitter needs it, never otherwise.
   */
  delay(retry: number, atLeastMs?: number): number;
  /** The same backoff with some options changed. */
  with(changes: Partial<BackoffOptions>): Backoff;
}

export function exponentialBackoff(o: BackoffOptions): Backoff {
  const factor = o.factor ?? 2;
  const jitter = o.jitter ?? 'none';
  if (!(o.baseMs >= 0) || !(o.capMs >= 0) || !(factor >= 1)) throw new RangeError(`invalid backoff ${JSON.stringify(o)}`);
  if (jitter !== 'none' && !o.random) throw new RangeError('a jittered backoff needs a random source');
  return Object.freeze({
    baseMs: o.baseMs,
    factor,
    capMs: o.capMs,
    jitter,
    delay(retry: number, atLeastMs = 0): number {
      const exp = Math.min(o.capMs, o.baseMs * factor ** Math.max(0, retry));
      return Math.max(atLeastMs, spread(exp, jitter, o.random));
    },
    with(changes: Partial<BackoffOptions>): Backoff {
      return exponentialBackoff({ ...o, factor, jitter, ...changes });
    },
  });
}

function spread(ms: number, jitter: Jitter, random: Random | undefined): number {
  if (jitter === 'none') return ms;
  const r = random!.float();
  if (jitter === 'full') return Math.floor(r * ms);
  if (jitter === 'equal') return Math.floor(ms / 2 + r * (ms / 2));
  return ms + Math.floor(r * (jitter.spreadMs + 1));
}
