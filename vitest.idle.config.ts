import { defineConfig } from 'vitest/config';
import { scaled } from './test/support/timeScale.js';

/**
 * The idle test alone (docs/testing.md, "Suites"): `npm test` runs it after the main suite, on a
 * machine with nothing else to do. It spends two minutes leaving an instance alone, and CPU time
 * measured beside other load is inflated: run beside the main suite, an embedded instance
 * measured 1.23 % of a core (370 ms in 30 s) against 0.47 % alone. Alone:
 * `npx vitest run --config vitest.idle.config.ts`.
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
