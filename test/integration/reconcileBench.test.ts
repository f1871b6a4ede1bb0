import { describe, expect, it } from 'vitest';
import { runBench } from '../../bench/reconcile.js';
import { PG_ADMIN_URL, postgresAvailable } from '../support/services.js';

/**
 * `npm run bench:reconcile` at smoke size: the whole bench runs (quality, calibration, the
 * end-to-end read from a fresh PostgreSQL database) and its quality figures hold. Speed is the
 * bench's to print, never asserted here.
 */
describe.runIf(await postgresAvailable())('the reconciliation bench, small', () => {
  it('runs end to end and reports what docs/reconciliation.md promises', async () => {
    const report = await runBench({ size: 20_000, payments: 2_500, seeds: [7], trainSeed: 1000, windowMs: 60 * 60_000, json: true, pgAdminUrl: PG_ADMIN_URL, log: () => {} });
    const names = report.matchers.map((m) => m.matcher);
    expect(names).toEqual(['exact-key only', 'first match with tolerance', 'idem, priors only (no learning)', 'idem scored global (learned)']);
    const [exact, first, priorsOnly, idem] = report.matchers;
    expect(idem!.precision).toBeGreaterThanOrEqual(0.999);
    expect(idem!.recall).toBeGreaterThanOrEqual(0.98);
    expect(idem!.tiesAutoMatched).toBe(0);
    expect(idem!.recall).toBeGreaterThan(Math.max(exact!.recall, first!.recall, priorsOnly!.recall));
    expect(first!.precision).toBeLessThan(idem!.precision);
    expect(report.calibration.reduce((n, b) => n + b.pairs, 0)).toBeGreaterThan(1000);
    const e2e = report.endToEnd!;
    expect(e2e.gatewayRecords).toBe(20_000);
    expect(e2e.quality.gatewayRecords).toBe(20_000);
    expect(e2e.quality.precision).toBeGreaterThanOrEqual(0.999);
    expect(e2e.quality.tiesAutoMatched).toBe(0);
    expect(e2e.quality.recall).toBeGreaterThan(e2e.exactQuality.recall);
  }, 300_000);
});
