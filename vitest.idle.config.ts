import { defineConfig } from 'vitest/config';
import { scaled } from './test/support/timeScale.js';

/**
 * The idle test alone (docs/testing.md, "Suites"): `npm test` runs it in a process of its own
 * beside the main suite (scripts/suites.mjs), since it spends two minutes leaving an instance
 * alone. Alone: `npx vitest run --config vitest.idle.config.ts`.
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
