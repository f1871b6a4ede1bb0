/**
 * How many first requests an instance works on at once, learned from their latency
 * (docs/resilience.md, "Shedding overload"; SPEC invariant I10). Past the limit a first request
 * is refused at once (503 `UNAVAILABLE` + `Retry-After`) instead of joining a queue that only
 * makes every request slower: an instance saturated at N requests in flight serves the same
 * requests per second at 10 N, each ten times later.
 *
 * ## The algorithm
 *
 * A gradient limiter in the manner of Netflix's concurrency-limits `Gradient2` and TCP Vegas,
 * with a probe in the manner of BBR's ProbeRTT, written for Idem (no code taken from them):
 *
 * 1. Every admitted request's latency (admission to answer) is a sample. Samples are gathered
 *    in windows of at least `windowMs` and `minSamples`; a window's figure is its mean.
 * 2. The **floor** is the latency of a request that does not queue. It falls at once to any
 *    lower window; it rises toward higher ones (time constant `floorRiseMs`) only in windows
 *    where nothing was shed — then the work itself got slower (a slower gateway), since our
 *    own queue is what shedding keeps short.
 * 3. The **gradient** is `tolerance × floor / window mean`, clamped to [0.5, 1]: 1 while
 *    requests take at most `tolerance` times the floor, below 1 as they queue. The target is
 *    `limit × gradient + √limit` — the square root is a small queue allowed on purpose, so the
 *    limit keeps probing upward while latency stays at the floor.
 * 4. The limit moves `smoothing` of the way to the target each window and stays in
 *    [`min`, `max`]. It does not move on a window that used under half its slots: latency
 *    measured at low load says nothing about more load (Gradient2's "app-limited"), neither
 *    that more would fit nor that the limit is too high — a slow window at low concurrency (a
 *    GC pause, a reconciliation pass, a slower gateway) is the work, not a queue of ours.
 * 5. While shedding, a **probe** re-measures the floor, which a saturated server never shows
 *    otherwise (a first window measured at 20 in flight is 20 requests deep): for one window,
 *    admissions are capped at `probeShare` of the limit. The probe's own requests' mean is
 *    the new floor (lower: at once; higher: half the way, so a real change is followed). When
 *    it is 20 % below what the full-limit requests took meanwhile, they were queueing: the
 *    next probe comes after `probeSoonMs`, else after `probeEveryMs` (and never sooner than
 *    20 floors, since a probe costs about two latencies at a quarter of the limit).
 *
 * Under overload the window mean rises past `tolerance × floor`, the gradient falls and the
 * limit shrinks (by at most 10 % a window with the defaults) until the requests it admits no
 * longer queue; the rest are shed.
 *
 * ## Priors, and how fast measurements override them
 *
 * | prior | default | overridden |
 * |---|---|---|
 * | initial limit | 20 (the PostgreSQL pool: a first request holds one connection at a time) | from the first window (≥ 100 ms and 10 answers), 20 % of the way a window |
 * | min / max | 4 / 1,000; on PostgreSQL `min` is the requests' pool (16 by default) | never: bounds (`max` is `IDEM_CONCURRENCY_MAX`) |
 * | floor | the first window's mean | at once by any lower window or probe; upward only without shedding (30 s time constant) or by probes |
 * | tolerance | 2 × the floor | never: a stated trade-off between queueing and throughput |
 * | smoothing | 0.2 a window | never |
 * | probe | ¼ of the limit, every 10 s while shedding (1 s while it finds queueing) | never |
 *
 * Pure: every method takes the time (`now`, from the injected clock of the `Runtime` port), and
 * nothing here schedules anything.
 *
 * @example
 *   const limit = new ConcurrencyLimit(adaptiveLimit());
 *   const slot = limit.tryAcquire(clock.now());
 *   if (slot === null) throw shed();            // 503 + Retry-After, nothing done
 *   try { await work(); limit.release(slot, clock.now(), true); }
 *   catch (err) { limit.release(slot, clock.now(), false); throw err; }
 */
export class ConcurrencyLimit {
  private value: number;
  private inFlight = 0;
  private shedCount = 0;
  private floor: number | null = null;
  private readonly window = new Tally();
  private windowPeak = 0;
  private lastUpdate: number | null = null;
  /** The last regular window's mean (none yet: no probe, there is nothing to compare with). */
  private lastMean: number | null = null;
  /** Shed since the last window closed: the limit is binding, so a probe can tell us something. */
  private binding = false;
  private probe: { startedAt: number; cap: number; tally: Tally; before: Tally } | null = null;
  private nextProbeAt = 0;

  constructor(readonly o: ConcurrencyLimitOptions) {
    if (!(o.min >= 1 && o.min <= o.max)) throw new RangeError(`concurrency limit: min ${o.min} must be from 1 to max ${o.max}`);
    this.value = clamp(o.initial, o.min, o.max);
  }

  /** A slot for one request, or null: refuse it now (shed). */
  tryAcquire(now: number): Slot | null {
    if (!this.o.fixed && this.probe === null && this.binding && this.lastMean !== null && now >= this.nextProbeAt) {
      this.probe = { startedAt: now, cap: Math.max(this.o.probeMin, Math.ceil(this.value * this.o.probeShare)), tally: new Tally(), before: new Tally() };
    }
    if (this.probe !== null) this.endProbeIfDone(now);
    const cap = this.probe?.cap ?? Math.floor(this.value);
    if (this.inFlight >= cap) {
      this.shedCount++;
      this.binding = true;
      return null;
    }
    this.inFlight++;
    if (this.window.startedAt === null) this.window.startedAt = now;
    if (this.inFlight > this.windowPeak) this.windowPeak = this.inFlight;
    return { startedAt: now, probe: this.probe !== null, released: false };
  }

  /**
   * True when {@link tryAcquire} would refuse now; changes nothing. Lets a caller refuse a
   * request before spending anything on it (see {@link refuse}).
   */
  full(): boolean {
    return this.inFlight >= (this.probe?.cap ?? Math.floor(this.value));
  }

  /** Counts a request refused after {@link full} said so, as {@link tryAcquire} counts its own. */
  refuse(): void {
    this.shedCount++;
    this.binding = true;
  }

  /**
   * Gives the slot back. `measured`: the request did its work and its latency says something
   * about load (false for failures, which may end at once, and for requests that turned out to
   * be replays or duplicates). Releasing twice is harmless.
   */
  release(slot: Slot, now: number, measured: boolean): void {
    if (slot.released) return;
    slot.released = true;
    this.inFlight--;
    if (!measured || this.o.fixed) return;
    const latency = Math.max(0, now - slot.startedAt);
    if (slot.probe && this.probe !== null) {
      this.probe.tally.add(latency);
      this.endProbeIfDone(now);
      return;
    }
    // Admitted at the full limit and answered during a probe: what the probe is compared with.
    this.probe?.before.add(latency);
    this.window.add(latency);
    if (this.probe === null && now - this.window.startedAt! >= this.o.windowMs && this.window.count >= this.o.minSamples) this.update(now);
  }

  /** The limit now (requests at once), requests in flight, and requests shed since start. */
  get state(): { limit: number; inFlight: number; shed: number; floorMs: number | null; probing: boolean } {
    return { limit: Math.floor(this.value), inFlight: this.inFlight, shed: this.shedCount, floorMs: this.floor, probing: this.probe !== null };
  }

  private update(now: number): void {
    const mean = this.window.mean();
    const { tolerance, smoothing, floorRiseMs } = this.o;
    if (this.floor === null || mean <= this.floor) this.floor = mean;
    else if (!this.binding) {
      // Slower with nothing shed: the work itself changed (a slower gateway), not our queue.
      const dt = this.lastUpdate === null ? 0 : now - this.lastUpdate;
      this.floor += (mean - this.floor) * (1 - Math.exp(-dt / floorRiseMs));
    }
    this.lastMean = mean;
    const gradient = clamp((tolerance * this.floor) / Math.max(mean, 1e-9), 0.5, 1);
    // Little load says nothing about more load: a window that used under half the limit moves
    // it neither way. Not up (its latency was measured far from the limit); not down (a slow
    // window at low concurrency — a GC pause, a reconciliation pass, a slower gateway — is the
    // work, not our queue; shrinking on it left a limit of 4 shedding at a quarter of capacity).
    const target = this.windowPeak < this.value / 2 ? this.value : this.value * gradient + Math.sqrt(this.value);
    this.value = clamp(this.value * (1 - smoothing) + target * smoothing, this.o.min, this.o.max);
    this.lastUpdate = now;
    this.window.reset(now);
    this.windowPeak = this.inFlight;
    this.binding = false;
  }

  /**
   * A probe ends once its own requests (admitted under the lowered cap) make a window, or after
   * `probeMaxMs` with whatever they made. Their mean is a floor candidate; a probe that found a
   * lower floor is repeated soon, since the next one may find lower still.
   */
  private endProbeIfDone(now: number): void {
    const p = this.probe!;
    const elapsed = now - p.startedAt;
    const enough = p.tally.count >= this.o.minSamples && elapsed >= this.o.windowMs;
    // A slow workload (a gateway taking seconds) needs longer to drain and answer.
    if (!enough && elapsed < Math.max(this.o.probeMaxMs, 4 * (this.floor ?? 0))) return;
    this.probe = null;
    let queueing = false;
    if (p.tally.count > 0) {
      const mean = p.tally.mean();
      // Fewer requests at once answered faster: the regular ones were queueing.
      queueing = p.before.count > 0 && mean < p.before.mean() * 0.8;
      // The freshest latency at low concurrency: lower wins at once; higher (the work got
      // slower while we shed) moves the floor halfway, so a few probes follow a real change.
      this.floor = this.floor === null || mean < this.floor ? mean : this.floor + (mean - this.floor) / 2;
    }
    // Never more often than every 20 floors: a probe costs about two latencies at a quarter of the limit.
    this.nextProbeAt = now + Math.max(queueing ? this.o.probeSoonMs : this.o.probeEveryMs, 20 * (this.floor ?? 0));
    // What the regular window gathered meanwhile straddles the probe: start a fresh one.
    this.window.reset(now);
    this.windowPeak = this.inFlight;
    this.binding = false;
  }
}

/** Latency samples gathered since `startedAt`. */
class Tally {
  startedAt: number | null = null;
  sum = 0;
  count = 0;

  add(latency: number): void {
    this.sum += latency;
    this.count++;
  }

  mean(): number {
    return this.sum / this.count;
  }

  reset(now: number): void {
    this.startedAt = now;
    this.sum = 0;
    this.count = 0;
  }
}

/** One admitted request's claim on the limit. */
export interface Slot {
  readonly startedAt: number;
  /** Admitted under a probe's lowered cap: its latency is a floor candidate. */
  readonly probe: boolean;
  released: boolean;
}

export interface ConcurrencyLimitOptions {
  /** The limit before any measurement. */
  initial: number;
  min: number;
  max: number;
  /** Latency up to this many times the floor counts as not queueing. */
  tolerance: number;
  /** Share of the way to the target the limit moves each window. */
  smoothing: number;
  /** A window lasts at least this long… */
  windowMs: number;
  /** …and holds at least this many answers. */
  minSamples: number;
  /** Time constant of the floor following latency upward. */
  floorRiseMs: number;
  /** A probe admits this share of the limit, so its requests hardly queue… */
  probeShare: number;
  /** …and no fewer than this many, whatever `min` (a floor at the pool size must not make the probe measure 16 deep). */
  probeMin: number;
  /** Time between probes while the limit is binding… */
  probeEveryMs: number;
  /** …or after a probe that lowered the floor by more than 10 %. */
  probeSoonMs: number;
  /** A probe that gathers too little ends after this long. */
  probeMaxMs: number;
  /** True: the limit stays `initial`, nothing is learned (`IDEM_CONCURRENCY_LIMIT=<n>`). */
  fixed: boolean;
}

/**
 * The adaptive limiter's defaults (the priors in the table above); `max` as configured, `min`
 * the floor the limit never goes under (`idem serve` on PostgreSQL: the pool the requests use).
 */
export function adaptiveLimit(max = 1_000, min = 4): ConcurrencyLimitOptions {
  return {
    initial: Math.min(Math.max(20, min), max),
    min: Math.min(min, max),
    max,
    tolerance: 2,
    smoothing: 0.2,
    windowMs: 100,
    minSamples: 10,
    floorRiseMs: 30_000,
    probeShare: 0.25,
    probeMin: Math.min(4, max),
    probeEveryMs: 10_000,
    probeSoonMs: 1_000,
    probeMaxMs: 1_000,
    fixed: false,
  };
}

/** A limit that never moves. */
export function fixedLimit(limit: number): ConcurrencyLimitOptions {
  return { ...adaptiveLimit(limit), initial: limit, min: limit, fixed: true };
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/**
 * The limit `IDEM_CONCURRENCY_LIMIT` asks for: `adaptive` (learned, at most `max`), a fixed
 * number, or `off` (null: nothing is shed).
 */
export function concurrencyLimitFor(setting: 'adaptive' | 'off' | number, max: number, min?: number): ConcurrencyLimit | null {
  if (setting === 'off') return null;
  return new ConcurrencyLimit(setting === 'adaptive' ? adaptiveLimit(max, min) : fixedLimit(setting));
}
