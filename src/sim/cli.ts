/**
 * `npm run sim -- --seeds N [--from S] [--trace] [--no-duplicates] [--keyless RATE] [--plant BUG]`: runs N schedules
 * from seed S, prints progress and a summary; for each failing seed, the violated invariants,
 * the end of its trace and the command that replays exactly that run.
 */
import { performance } from 'node:perf_hooks';
import { defaultSchedule, runSchedule, type ScheduleOptions } from './simulation.js';
import { traceFor } from './invariants.js';
import { plantedBugs, type PlantedBug } from './planted.js';

interface Args {
  seeds: number;
  from: number;
  trace: boolean;
  duplicates: boolean;
  plant: PlantedBug | null;
  /** Share of the processors' log entries listed without their key. */
  keyless: number;
}

function parse(argv: string[]): Args {
  const args: Args = { seeds: 100, from: 1, trace: false, duplicates: defaultSchedule.duplicateDelivery, plant: null, keyless: defaultSchedule.keylessRecords };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--seeds') args.seeds = Number(value());
    else if (a === '--from') args.from = Number(value());
    else if (a === '--trace') args.trace = true;
    else if (a === '--duplicates') args.duplicates = true;
    else if (a === '--no-duplicates') args.duplicates = false;
    else if (a === '--keyless') args.keyless = Number(value());
    else if (a === '--plant') {
      const bug = value();
      if (!(plantedBugs as readonly string[]).includes(bug)) throw new Error(`--plant takes one of ${plantedBugs.join(', ')}`);
      args.plant = bug as PlantedBug;
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(args.keyless >= 0 && args.keyless <= 1)) throw new Error('--keyless takes a share in [0, 1]');
  if (!(Number.isInteger(args.seeds) && args.seeds > 0 && Number.isInteger(args.from))) throw new Error('--seeds and --from take integers');
  return args;
}

async function main(): Promise<number> {
  const args = parse(process.argv.slice(2));
  const schedule: ScheduleOptions = { ...defaultSchedule, duplicateDelivery: args.duplicates, keylessRecords: args.keyless, plant: args.plant };
  const faults = new Map<string, number>();
  const violations = new Map<string, number>();
  const failed: number[] = [];
  let events = 0;
  let requests = 0;
  const reconciled = { keyless: 0, scored: 0, review: 0 };
  const started = performance.now();
  const step = Math.max(1, Math.floor(args.seeds / 10));
  let current = args.from;
  // A run awaiting a promise nothing can settle empties the event loop: say so instead of exiting 0.
  const stranded = () => {
    console.error(`seed ${current} stopped: the simulation awaited a promise nothing can settle`);
    process.exitCode = 3;
  };
  process.on('beforeExit', stranded);
  for (let seed = args.from; seed < args.from + args.seeds; seed++) {
    current = seed;
    const r = await runSchedule(seed, schedule);
    events += r.events;
    requests += r.requests;
    for (const k of ['keyless', 'scored', 'review'] as const) reconciled[k] += r.reconciled[k];
    for (const [k, n] of r.faults) faults.set(k, (faults.get(k) ?? 0) + n);
    if (args.trace) console.log(r.trace.join('\n'));
    if (r.violations.length > 0) {
      failed.push(seed);
      for (const v of r.violations) violations.set(v.invariant, (violations.get(v.invariant) ?? 0) + 1);
      if (failed.length <= 3) {
        console.log(`\nFAIL seed ${seed}`);
        for (const v of r.violations.slice(0, 10)) console.log(`  ${v.invariant}: ${v.detail}`);
        console.log('  trace (lines naming what broke, with crashes, restarts, stalls and fast-path loss):');
        for (const line of traceFor(r.trace, r.violations)) console.log('    ' + line);
        const extra =
          (args.duplicates ? ' --duplicates' : '') + (args.keyless !== defaultSchedule.keylessRecords ? ` --keyless ${args.keyless}` : '') + (args.plant ? ` --plant ${args.plant}` : '');
        console.log(`  replay: npm run sim -- --seeds 1 --from ${seed}${extra} --trace`);
      }
    }
    const done = seed - args.from + 1;
    if (done % step === 0 || done === args.seeds) console.log(`… ${done}/${args.seeds} seeds, ${failed.length} failing`);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log('\nsummary');
  console.log(`  seeds run:           ${args.seeds} (${args.from}..${args.from + args.seeds - 1})`);
  console.log(`  schedules/second:    ${(args.seeds / seconds).toFixed(1)} (${seconds.toFixed(1)} s, ${events} events, ${requests} client requests)`);
  console.log(`  faults injected:     ${[...faults].sort().map(([k, n]) => `${k}=${n}`).join(' ') || 'none'}`);
  console.log(`  reconciliation:      ${reconciled.keyless} keyless records staged, ${reconciled.scored} settled on a scored match, ${reconciled.review} match_review cases`);
  console.log(`  violations:          ${[...violations].sort().map(([k, n]) => `${k}=${n}`).join(' ') || 'none'}`);
  if (failed.length > 0) console.log(`  failing seeds:       ${failed.slice(0, 20).join(' ')}${failed.length > 20 ? ' …' : ''}`);
  process.off('beforeExit', stranded);
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error((err as Error).message);
    process.exit(2);
  },
);
