import { defineConfig } from 'vitest/config';
import { scaled } from './test/support/timeScale.js';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The simulation suite runs after this one (see vitest.sim.config.ts): it is CPU-bound, and
    // beside the multi-process tests it would slow their servers down. The idle test runs alone
    // after this suite (vitest.idle.config.ts): in it, it held a worker for two minutes of
    // leaving an instance alone, and beside it the CPU time it measures rose.
    exclude: ['test/sim/**', 'test/integration/idle.test.ts', '**/node_modules/**'],
    pool: 'forks',
    maxWorkers: 2,
    // Stretched by IDEM_TEST_TIME_SCALE (docs/testing.md, "Time").
    testTimeout: scaled(60_000),
    hookTimeout: scaled(60_000),
    reporters: ['default'],
  },
});
