import { defineConfig } from 'vitest/config';

/**
 * The deterministic simulation suite: `npm test` runs it after the main suite (2,000 seeds as two
 * files, one per core, plus determinism, planted bugs and the command); alone: `npm run test:sim`.
 */
export default defineConfig({
  test: {
    include: ['test/sim/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 600_000,
  },
});
