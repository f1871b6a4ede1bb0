import { defineConfig } from 'vitest/config';
import { scaled } from './test/support/timeScale.js';

/**
 * The idle test alone (docs/testing.md, "Suites"): `npm test` runs it after the main suite. It
 * spends two minutes leaving an instance alone, and beside the main suite the CPU time it
 * measures rose: an embedded instance 1.23 % of a core (370 ms in 30 s), against 0.47–0.60 %
 * alone or beside a CPU hog. Alone: `npx vitest run --config vitest.idle.config.ts`.
 */
export default defineConfig({
  test: {
    include: ['test/integration/idle.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: scaled(60_000),
    hookTimeout: scaled(60_000),
  },
});
