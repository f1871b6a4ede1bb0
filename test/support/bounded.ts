/**
 * A synchronous loop that waits for a condition, bounded (docs/testing.md, "Time"): vitest's
 * per-test timeout cannot interrupt a loop that never yields, so a condition that never comes
 * (a planted bug: a health model that never reaches `down`) must end the loop itself, naming
 * what it waited for. Runs `step` until `done()` holds; returns how many steps that took.
 *
 * @example stepUntil('the gateway is down', () => h.state === 'down', () => h.observe(fail()), 1_000)
 */
export function stepUntil(what: string, done: () => boolean, step: () => void, maxSteps = 10_000): number {
  for (let steps = 0; steps <= maxSteps; steps++) {
    if (done()) return steps;
    if (steps < maxSteps) step();
  }
  throw new Error(`gave up after ${maxSteps} steps waiting until ${what}`);
}
