/**
 * The simulated processor's faults (docs/testing.md, "Deterministic simulation"): their
 * settings, their validation, and the two questions a request asks of them — how late is the
 * answer, and is the processor down right now.
 */

/** A time window, ISO 8601 bounds, start inclusive, end exclusive. */
export interface SimulatorWindow {
  start: string;
  end: string;
}

/** A window during which every answer takes `latencyMs` longer. */
export interface SimulatorDegradedWindow extends SimulatorWindow {
  latencyMs: number;
}

/**
 * Faults the processor injects. Every probabilistic fault draws from the seeded random source:
 * each operation request consumes exactly five floats (latency, error before processing,
 * timeout after processing, ambiguous error, decline) whatever the settings, so changing one
 * rate does not shift the draws of the others. Which entries the log lists without their key
 * is drawn apart (`ProcessorOptions.listingRandom`).
 */
export interface SimulatorFaults {
  /** Uniform latency per answer, whole milliseconds in [minMs, maxMs]. */
  latency: { minMs: number; maxMs: number };
  /** Share of authorizations (without a `tok_decline_` token) declined with `card_declined`. */
  declineRate: number;
  /** Share answered 503 `{ processed: false }` with nothing executed and nothing logged. */
  errorBeforeProcessingRate: number;
  /** Share executed and logged whose answer is then lost. */
  timeoutAfterProcessingRate: number;
  /** Share executed and logged, answered 500. */
  ambiguousErrorRate: number;
  /**
   * Share of executed operations whose transaction-log entry (`GET /v1/transactions`) leaves
   * the idempotency key off, as a settlement file or a manual export does: reconciliation must
   * match them by their other fields (docs/reconciliation.md). The answer and the status
   * lookup still carry the key, and so does `log()`, the truth the invariants read. Default 0:
   * `idem ledger verify` reads the log by key; the deterministic simulator sets a few
   * (`ScheduleOptions.keylessRecords`, src/sim/simulation.ts).
   */
  keylessRecordRate: number;
  /** Scheduled outages: every request (status and log queries too) gets 503 `processed:false`. */
  outages: SimulatorWindow[];
  /** Scheduled degraded periods adding latency. Overlapping windows add up. */
  degraded: SimulatorDegradedWindow[];
  /** Immediate outage switch. */
  outage: boolean;
  /** `Retry-After` (seconds) on 503s outside a scheduled outage. */
  retryAfterSeconds: number;
}

/** The faults of a processor created without any: no latency, no failures, every log entry with its key. */
export function defaultSimulatorFaults(): SimulatorFaults {
  return {
    latency: { minMs: 0, maxMs: 0 },
    declineRate: 0,
    errorBeforeProcessingRate: 0,
    timeoutAfterProcessingRate: 0,
    ambiguousErrorRate: 0,
    keylessRecordRate: 0,
    outages: [],
    degraded: [],
    outage: false,
    retryAfterSeconds: 1,
  };
}

/**
 * Latency for one answer: uniform in [minMs, maxMs] from the draw `u`, plus every degraded
 * window `now` falls in.
 */
export function latencyOf(faults: SimulatorFaults, u: number, now: number): number {
  const { minMs, maxMs } = faults.latency;
  let ms = minMs + Math.floor(u * (maxMs - minMs + 1));
  for (const w of faults.degraded) if (inWindow(w, now)) ms += w.latencyMs;
  return ms;
}

/** When the processor is down at `now`: the `Retry-After` seconds to answer with; else undefined. */
export function outageRetryAfter(faults: SimulatorFaults, now: number): number | undefined {
  if (faults.outage) return faults.retryAfterSeconds;
  for (const w of faults.outages) {
    if (inWindow(w, now)) return Math.max(1, Math.ceil((Date.parse(w.end) - now) / 1000));
  }
  return undefined;
}

export function inWindow(w: SimulatorWindow, now: number): boolean {
  return Date.parse(w.start) <= now && now < Date.parse(w.end);
}

/** Merges `partial` into `current`; throws `RangeError` on an invalid setting. */
export function mergeFaults(current: SimulatorFaults, partial: Partial<SimulatorFaults>): SimulatorFaults {
  const next: SimulatorFaults = {
    ...current,
    ...stripUndefined(partial),
    latency: { ...current.latency, ...(partial.latency ?? {}) },
  };
  const rates = ['declineRate', 'errorBeforeProcessingRate', 'timeoutAfterProcessingRate', 'ambiguousErrorRate', 'keylessRecordRate'] as const;
  for (const name of rates) {
    const v = next[name];
    if (!(typeof v === 'number' && v >= 0 && v <= 1)) throw new RangeError(`${name} must be a number in [0, 1], got ${String(v)}`);
  }
  const { minMs, maxMs } = next.latency;
  if (!(Number.isInteger(minMs) && Number.isInteger(maxMs) && minMs >= 0 && maxMs >= minMs)) {
    throw new RangeError(`latency must be whole milliseconds with 0 <= minMs <= maxMs, got ${minMs}..${maxMs}`);
  }
  if (!(Number.isFinite(next.retryAfterSeconds) && next.retryAfterSeconds >= 0)) {
    throw new RangeError('retryAfterSeconds must be a non-negative number');
  }
  if (typeof next.outage !== 'boolean') throw new RangeError('outage must be a boolean');
  for (const w of [...next.outages, ...next.degraded]) {
    const start = Date.parse(w.start);
    const end = Date.parse(w.end);
    if (!(Number.isFinite(start) && Number.isFinite(end) && start < end)) {
      throw new RangeError(`window ${w.start}..${w.end} must have ISO bounds with start < end`);
    }
  }
  for (const w of next.degraded) {
    if (!(Number.isInteger(w.latencyMs) && w.latencyMs >= 0)) throw new RangeError('degraded latencyMs must be whole milliseconds >= 0');
  }
  return structuredClone(next);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
