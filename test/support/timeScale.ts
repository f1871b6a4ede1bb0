/**
 * The suite's one time factor (docs/testing.md, "Time"): `IDEM_TEST_TIME_SCALE` (default 1)
 * stretches every deadline a test must have — a wait for a condition, a latency bound measured
 * on the wall clock — for a slow or crowded machine. Waits for conditions end as soon as the
 * condition holds, so a larger factor costs nothing on a fast machine; it only moves the point
 * where a test gives up and says what it waited for.
 */
export const TIME_SCALE = timeScaleOf(process.env.IDEM_TEST_TIME_SCALE);

export function timeScaleOf(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 1) throw new Error(`IDEM_TEST_TIME_SCALE must be a number >= 1, got ${JSON.stringify(raw)}`);
  return n;
}

/** `ms` stretched by the suite's time factor. */
export function scaled(ms: number): number {
  return Math.round(ms * TIME_SCALE);
}
