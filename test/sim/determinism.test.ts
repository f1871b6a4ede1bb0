import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { plantedBugs } from '../../src/sim/planted.js';
import { defaultSchedule, runSchedule } from '../../src/sim/simulation.js';

type Run = Awaited<ReturnType<typeof runSchedule>>;
const firstFailures = new Map<string, Run | null>();

/**
 * How far the planted-bug search goes. skip-fence shows in about one seed of 1,000–2,600 (a
 * stale owner has to stall past its lease at a write), so the 2,000 seeds `npm test` sweeps do
 * not always hold one; the search goes further (docs/testing.md).
 */
const SEARCH_SEEDS = 4000;

/** The first seed in 1..SEARCH_SEEDS whose run with `bug` planted breaks an invariant (each bug searched once per file). */
async function firstFailure(bug: (typeof plantedBugs)[number]): Promise<Run | null> {
  if (!firstFailures.has(bug)) {
    const schedule = { ...defaultSchedule, plant: bug };
    let found: Run | null = null;
    for (let seed = 1; seed <= SEARCH_SEEDS && !found; seed++) {
      const r = await runSchedule(seed, schedule);
      if (r.violations.length > 0) found = r;
    }
    firstFailures.set(bug, found);
  }
  return firstFailures.get(bug)!;
}

describe('deterministic simulation', () => {
  it('replays a seed to the identical trace', async () => {
    for (const seed of [7, 1234]) {
      const a = await runSchedule(seed);
      const b = await runSchedule(seed);
      expect(a.trace.length).toBeGreaterThan(50);
      expect(b.trace).toEqual(a.trace);
      expect(b.violations).toEqual(a.violations);
    }
  });

  for (const bug of plantedBugs) {
    it(`finds the planted bug ${bug} within ${SEARCH_SEEDS} seeds, and its seed replays it`, async () => {
      const schedule = { ...defaultSchedule, plant: bug };
      const found = await firstFailure(bug);
      expect(found, `no seed in 1..${SEARCH_SEEDS} exposed ${bug}`).not.toBeNull();
      const again = await runSchedule(found!.seed, schedule);
      expect(again.violations).toEqual(found!.violations);
      expect(again.trace).toEqual(found!.trace);
    });
  }
});

describe('npm run sim', () => {
  const cli = fileURLToPath(new URL('../../dist/sim/cli.js', import.meta.url));
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });

  it('prints a failing seed with its invariant, its trace and the command that replays exactly that run', async () => {
    // A sweep of 15 seeds around the first that exposes the bug (where it falls moves whenever
    // the code's schedule of awaits does).
    const first = await firstFailure('skip-fence');
    expect(first, `no seed in 1..${SEARCH_SEEDS} exposed skip-fence`).not.toBeNull();
    const from = Math.max(1, first!.seed - 7);
    const sweep = run('--seeds', '15', '--from', String(from), '--plant', 'skip-fence');
    expect(sweep.status, sweep.stderr).toBe(1);
    const fail = /FAIL seed (\d+)\n((?: {2}I\d: .*\n)+)/.exec(sweep.stdout);
    expect(fail, sweep.stdout).not.toBeNull();
    const [, seed, violations] = fail!;
    expect(sweep.stdout).toContain('  trace (lines naming what broke');
    expect(sweep.stdout).toMatch(new RegExp(`summary\\n {2}seeds run: +15 \\(${from}\\.\\.${from + 14}\\)\\n {2}schedules/second: +[\\d.]+`));
    expect(sweep.stdout).toMatch(/faults injected: +crash=\d+ crash\.at_await=\d+/);
    const replay = new RegExp(`replay: npm run sim -- (--seeds 1 --from ${seed} (?:--duplicates )?--plant skip-fence --trace)`).exec(sweep.stdout);
    expect(replay, sweep.stdout).not.toBeNull();

    const again = run(...replay![1]!.split(' '));
    expect(again.status).toBe(1);
    expect(again.stdout).toContain(`FAIL seed ${seed}\n${violations}`);
    // --trace prints the whole run; the failure's trace lines are all in it.
    const traced = sweep.stdout.split('  trace (')[1]!.split('\n  replay:')[0]!.split('\n').slice(1).map((l) => l.trim());
    for (const line of traced) expect(again.stdout).toContain(line);
  });

  it('exits 0 with no violations and refuses unknown arguments', () => {
    const ok = run('--seeds', '5');
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/violations: +none/);
    const bad = run('--plant', 'nope');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--plant takes one of skip-fence, failover-on-unknown, early-response, void-real-authorization');
  });
});
