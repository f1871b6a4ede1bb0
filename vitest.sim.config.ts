import { defineConfig } from 'vitest/config';

/** The deterministic simulation suite (`npm run test:sim`): CPU-bound, so kept out of `npm test` for now. */
export default defineConfig({
  test: {
    include: ['test/sim/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 600_000,
  },
});
