/**
 * `idem demo` (README and docs/testing.md): Idem in embedded mode against two simulated gateways with
 * faults, a few hundred synthetic checkouts with duplicate and retried requests, a real
 * `kill -9` part-way through and a restart on the same data folder; then the proof, read from
 * the gateways' own logs and the ledger, not from Idem's opinion of itself.
 *
 *   demo process                                   child process
 *   sim-a, sim-b (HTTP, seeded faults)  ◄────────  idem serve --data-dir D (PGlite, relay)
 *   traffic (16 checkouts at a time)    ────────►  POST /v1/payments …, same key on retry
 *                         ··· SIGKILL ···          ╳   restart on D ─► recovery finishes the rest
 *   faults off, settle, SIGTERM, then open D: verifyLedger(D, sim-a log + sim-b log)
 */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../config/config.js';
import type { SimulatorFaults } from '../../gateways/simulator/processor.js';
import { startSimulatorServer, type SimulatorServer } from '../../gateways/simulator/server.js';
import type { IdemProcess } from '../idemProcess.js';
import { startIdemChild } from './child.js';
import { readMetrics, sumMetrics } from './metrics.js';
import { readProof } from './proof.js';
import { bar, plural, Progress, seconds } from './progress.js';
import { interestingPayment } from './story.js';
import { type CheckoutOutcome, checkout, Client, countInFlight, delay, Door, REQUEST_DEADLINE_MS } from './traffic.js';
import type { DemoOutput } from './progress.js';

export type { DemoOutput };

/** What {@link runDemo} accepts. */
export interface DemoOptions {
  /** Checkouts to simulate; default 300. */
  payments?: number;
  /** Seeds the traffic plan and the gateways' faults; default: a random seed, printed. */
  seed?: number;
  /** A new or empty folder for the embedded database; default: a fresh temporary folder. */
  dataDir?: string;
  /** Default `process.stdout`. */
  out?: DemoOutput;
  /** Checkouts in flight at once; default 16. */
  concurrency?: number;
  /** The built CLI to run as the Idem child process; default the `main.js` beside this file. */
  idemBin?: string;
}

/** What the demo found. `ok` is true only when every proof line holds. */
export interface DemoResult {
  ok: boolean;
  dataDir: string;
  seed: number;
  byState: Record<string, number>;
  doubleExecutions: number;
  ledgerBalanced: boolean;
  notFinal: number;
  differentAnswers: number;
  elapsedMs: number;
}

/** Gateway request budget inside Idem: a dropped answer becomes an unknown outcome after this. */
const GATEWAY_TIMEOUT_MS = 800;
const LEASE_MS = 2_000;
const RELAY_INTERVAL_MS = 200;
const SETTLE_DEADLINE_MS = 30_000;
/** Share of checkouts done when Idem is killed. */
const CRASH_AT = 0.45;

const GATEWAYS: Array<{ name: string; priority: number; faults: Partial<SimulatorFaults>; about: string }> = [
  {
    name: 'sim-a',
    priority: 0,
    faults: { latency: { minMs: 5, maxMs: 40 }, timeoutAfterProcessingRate: 0.08, errorBeforeProcessingRate: 0.04, retryAfterSeconds: 0 },
    about: '8% answers lost after processing, 4% errors before processing',
  },
  {
    name: 'sim-b',
    priority: 1,
    faults: { latency: { minMs: 3, maxMs: 25 }, timeoutAfterProcessingRate: 0.02, errorBeforeProcessingRate: 0.01, retryAfterSeconds: 0 },
    about: '2% answers lost after processing, 1% errors before processing',
  },
];

const NO_FAULTS: Partial<SimulatorFaults> = { timeoutAfterProcessingRate: 0, errorBeforeProcessingRate: 0, ambiguousErrorRate: 0, outage: false };

/**
 * Runs the whole demo and prints its summary. Never leaves a process behind: the Idem child is
 * stopped by its pid on success, on error and on SIGINT.
 *
 * @example
 * const { ok } = await runDemo({ payments: 60, seed: 7 });
 * process.exitCode = ok ? 0 : 1;
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const started = Date.now();
  const out = options.out ?? process.stdout;
  const total = options.payments ?? 300;
  const seed = options.seed ?? Math.floor(Math.random() * 100_000);
  const concurrency = options.concurrency ?? 16;
  const idemBin = options.idemBin ?? fileURLToPath(new URL('../main.js', import.meta.url));
  if (!Number.isInteger(total) || total < 1) throw new RangeError('payments must be a positive integer');
  const dataDir = prepareDataDir(options.dataDir);
  const progress = new Progress(out);

  const sims: SimulatorServer[] = [];
  let child: IdemProcess | undefined;
  // Ctrl-C: kill the child we started (by its pid), then leave.
  const onSigint = () => {
    progress.stop();
    child?.killNow();
    out.write('\ninterrupted: Idem stopped; data folder ' + dataDir + '\n');
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  const onExit = () => child?.killNow();
  process.once('exit', onExit);

  try {
    for (const [i, g] of GATEWAYS.entries()) sims.push(await startSimulatorServer({ port: 0, seed: seed * 2 + i + 1, faults: g.faults }));
    const env = {
      IDEM_GATEWAYS: JSON.stringify(
        GATEWAYS.map((g, i) => ({ name: g.name, kind: 'http', base_url: sims[i]!.url, priority: g.priority, timeout_ms: GATEWAY_TIMEOUT_MS })),
      ),
      IDEM_LEASE_MS: String(LEASE_MS),
      IDEM_RELAY_INTERVAL_MS: String(RELAY_INTERVAL_MS),
      LOG_LEVEL: 'warn',
    };

    out.write(`Idem demo: ${total} checkouts, seed ${seed} (--seed ${seed} repeats the same traffic plan and fault draws)\n`);
    for (const [i, g] of GATEWAYS.entries()) out.write(`  gateway ${g.name} at ${sims[i]!.url}: ${g.about}\n`);
    child = await startIdemChild(idemBin, dataDir, env);
    const apiKey = child.apiKey;
    if (apiKey === null) throw new Error(`idem serve printed no API key for a new data folder:\n${child.output()}`);
    out.write(`  Idem (pid ${child.pid}) at ${child.url}, embedded PGlite in ${dataDir}\n\n`);

    const door = new Door(child.url);
    const client = new Client(door, apiKey);
    const gatewayStats = () => sims.map((s) => s.processor.stats());
    const lostAnswers = () => gatewayStats().reduce((n, s) => n + s.dropped, 0);

    // Metrics live in the process: keep what the killed instance had counted.
    const counted: Array<Record<string, number>> = [];
    let crash: Promise<void> | null = null;
    const crashInfo = { inFlight: 0, cut: new Set<string>(), killedAt: 0, backAt: 0 };
    const doCrash = async () => {
      counted.push(await readMetrics(door.current!, 2_000).catch(() => ({})));
      const victim = child!;
      door.close();
      crashInfo.inFlight = client.inFlight;
      for (const key of client.pendingKeys()) crashInfo.cut.add(key);
      await victim.kill('SIGKILL');
      crashInfo.killedAt = Date.now();
      progress.line(`crash: SIGKILL to Idem (pid ${victim.pid}) with ${crashInfo.inFlight} requests in flight; restarting it on the same data folder`);
      const t0 = Date.now();
      child = await victim.restart();
      door.open(child.url);
      crashInfo.backAt = Date.now();
      progress.line(`restart: Idem is back (pid ${child.pid}) at ${child.url} after ${seconds(Date.now() - t0)}; clients retry with the same keys`);
    };

    // Traffic.
    const outcomes: CheckoutOutcome[] = [];
    let done = 0;
    progress.start(() => `${bar(done, total)} ${done}/${total} checkouts · ${plural(client.sent, 'request')} · ${plural(client.retries, 'retry', 'retries')} · ${plural(lostAnswers(), 'answer')} lost · ${seconds(Date.now() - started)}`);
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        outcomes.push(await checkout(client, seed, i));
        done++;
        if (crash === null && done >= Math.ceil(total * CRASH_AT)) {
          // If Idem does not come back, every client waiting at the door hears why.
          crash = doCrash().catch((err: unknown) => door.fail(err));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
    await crash;
    progress.stop();

    // Faults off; everything Idem accepted must now reach a final state by itself.
    for (const s of sims) s.processor.setFaults(NO_FAULTS);
    const settleStart = Date.now();
    let inFlight = await countInFlight(client);
    progress.start(() => `faults off, settling: ${inFlight} payments in flight · ${seconds(Date.now() - settleStart)}`);
    while (inFlight > 0 && Date.now() - settleStart < SETTLE_DEADLINE_MS) {
      await delay(250);
      inFlight = await countInFlight(client);
    }
    progress.stop();
    out.write(`settled: ${inFlight} payments in flight after ${seconds(Date.now() - settleStart)} with faults off\n`);

    const metrics = sumMetrics([...counted, await readMetrics(door.current!, 5_000)]);
    const story = await interestingPayment(client, outcomes, crashInfo);
    const accepted = new Set(outcomes.map((o) => o.paymentId).filter((id): id is string => id !== null));
    await child.stop();

    // The proof, from the data folder and the gateways' own logs.
    const logs = sims.flatMap((s) => s.processor.log());
    const { report, byState, paymentsInIdem, doubles } = await readProof(dataDir, logs);

    const differentAnswers = client.differentFinalAnswers();
    const abandoned = outcomes.filter((o) => o.abandoned).length;
    const ledgerBalanced = report.differences.length === 0;
    const notFinal = report.inFlight.length;
    const onePerCheckout = paymentsInIdem === accepted.size;
    const ok = doubles.length === 0 && ledgerBalanced && notFinal === 0 && differentAnswers === 0 && abandoned === 0 && onePerCheckout;
    const stats = gatewayStats();
    const elapsedMs = Date.now() - started;

    const w = (s = '') => out.write(s + '\n');
    w();
    w(`Summary (${seconds(elapsedMs)})`);
    w('  payments by final state');
    for (const [state, n] of Object.entries(byState)) w(`    ${state.padEnd(20)}${String(n).padStart(6)}`);
    w(`  checkouts            ${total}, ${plural(paymentsInIdem, 'payment')} in Idem (${onePerCheckout ? 'one per checkout' : `expected ${accepted.size}`})`);
    w(`  requests sent        ${client.sent}, of which ${plural(client.duplicates, 'duplicate')} sent at the same time as the original`);
    const why = client.retriedAfter;
    w(
      `  retries              ${client.retries}, same key: after ${why.pending} × 202 (outcome unknown), ${why.inProgress} × 409 (still in progress), ` +
        `${why.connection} connection errors, ${why.serverError} × 5xx`,
    );
    for (const e of client.serverErrors) w(`                       ${e}`);
    w(`  held duplicates      ${metrics.gate.held ?? 0} (waited for the request running with their key, then got its answer)`);
    w(`  replays              ${metrics.gate.replayed ?? 0} (answered from the stored response, Idempotent-Replayed: true)`);
    w(`  recoveries           ${metrics.recoveries.final ?? 0} requests finished by the relay, ${metrics.gate.taken_over ?? 0} taken over by a retry after their owner's lease ended`);
    w(`  crash                SIGKILL with ${crashInfo.inFlight} requests in flight, restart on the same data folder`);
    for (const [i, s] of stats.entries()) {
      w(
        `  gateway ${GATEWAYS[i]!.name.padEnd(12)} ${plural(s.executed, 'operation')} executed, ${plural(s.dropped, 'answer')} lost after processing, ` +
          `${plural(s.unavailable, 'error')} before processing, ${plural(s.replayed, 're-send')} answered from its own record`,
      );
    }
    if (abandoned > 0) w(`  ABANDONED            ${abandoned} checkouts gave up retrying after ${seconds(REQUEST_DEADLINE_MS)}`);
    w();
    w('Proof');
    w(`  double executions found in the gateways' own logs: ${doubles.length}`);
    for (const d of doubles.slice(0, 10)) w(`    ${d}`);
    w(`  ledger balanced: ${ledgerBalanced ? 'yes' : 'NO'} (${report.checked.entries} journal entries; every payment matches its state and ${report.checked.gatewayOperations} gateway log entries)`);
    for (const d of report.differences.slice(0, 10)) w(`    ${d}`);
    w(`  payments not final: ${notFinal}`);
    if (notFinal > 0) w(`    ${report.inFlight.slice(0, 10).join(', ')}`);
    w(`  different final answers for one key: ${differentAnswers}`);
    w();
    w('Where to look');
    w(`  data folder      ${dataDir}`);
    w(`  ledger           idem ledger verify --data-dir ${dataDir}`);
    w('                   (checks the books and every payment against its state; the simulated gateways ended');
    w('                   with the demo, so it cannot compare their logs again: the proof above did that)');
    if (story) {
      w(`  one payment      ${story.id}: ${story.why}`);
      for (const e of story.timeline) w(`                     ${e}`);
      w(`  its events       GET /v1/payments/${story.id}/events, e.g. after`);
      w(`                   idem serve --data-dir ${dataDir}`);
      w(`                   curl -H "Authorization: Bearer ${apiKey}" http://127.0.0.1:8080/v1/payments/${story.id}/events`);
    }
    w();
    w(ok ? 'Every proof holds: each operation ran once at the gateways, whatever was retried, duplicated, lost or killed.' : 'A PROOF FAILED: see the lines above.');

    return { ok, dataDir, seed, byState, doubleExecutions: doubles.length, ledgerBalanced, notFinal, differentAnswers, elapsedMs };
  } finally {
    progress.stop();
    process.removeListener('SIGINT', onSigint);
    await child?.stop().catch(() => child?.killNow());
    process.removeListener('exit', onExit);
    await Promise.all(sims.map((s) => s.close().catch(() => {})));
  }
}

function prepareDataDir(dir: string | undefined): string {
  if (dir === undefined) return mkdtempSync(join(tmpdir(), 'idem-demo-'));
  const full = resolve(dir);
  // The proof compares every payment in the folder with the logs of simulators that live only
  // as long as this run: an older run's payments would all look like differences.
  if (existsSync(full) && readdirSync(full).length > 0) {
    throw new ConfigError(`--data-dir ${full} is not empty: the demo needs a new or empty folder`);
  }
  return full;
}
