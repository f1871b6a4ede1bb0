/**
 * `idem demo` (SPEC section 9): Idem in embedded mode against two simulated gateways with
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
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../config/config.js';
import { lockDataDir } from '../db/dataDirLock.js';
import { openPglite } from '../db/pglite.js';
import type { SimulatorFaults } from '../gateways/simulator/processor.js';
import { startSimulatorServer, type SimulatorServer } from '../gateways/simulator/server.js';
import { gatewayLogDifferences } from '../ledger/gatewayLog.js';
import { verifyLedger, type VerifyReport } from '../ledger/verify.js';
import { isInFlight } from '../payments/states.js';
import { seededRandom } from '../ports/seeded.js';

/** Where the demo writes: `process.stdout` or anything with `write` (tests). */
export interface DemoOutput {
  write(text: string): unknown;
  /** A terminal gets one redrawn progress line; anything else gets plain periodic lines. */
  isTTY?: boolean;
}

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
/** How long one client request may keep retrying before the demo gives up on it. */
const REQUEST_DEADLINE_MS = 60_000;
const SETTLE_DEADLINE_MS = 30_000;
/** Share of checkouts done when Idem is killed. */
const CRASH_AT = 0.45;
const DUPLICATE_RATE = 0.2;

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
  const idemBin = options.idemBin ?? fileURLToPath(new URL('./main.js', import.meta.url));
  if (!Number.isInteger(total) || total < 1) throw new RangeError('payments must be a positive integer');
  const dataDir = prepareDataDir(options.dataDir);
  const progress = new Progress(out);

  const sims: SimulatorServer[] = [];
  let child: IdemChild | undefined;
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
    child = await IdemChild.start(idemBin, dataDir, env);
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
      child = await IdemChild.start(idemBin, dataDir, env);
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
    const unlock = lockDataDir(dataDir);
    let report: VerifyReport;
    let byState: Record<string, number>;
    let paymentsInIdem: number;
    try {
      const db = await openPglite(dataDir);
      try {
        report = await verifyLedger(db, logs);
        const { rows } = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM payments GROUP BY status ORDER BY n DESC, status');
        byState = Object.fromEntries(rows.map((r) => [r.status, r.n]));
        paymentsInIdem = rows.reduce((n, r) => n + r.n, 0);
      } finally {
        await db.close();
      }
    } finally {
      unlock();
    }

    // From the logs alone (src/ledger/gatewayLog.ts); verifyLedger held them to Idem's record.
    const doubles = gatewayLogDifferences(logs, null).map((d) => d.detail);
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

// ─── traffic ────────────────────────────────────────────────────────────────────────────────

interface CheckoutOutcome {
  index: number;
  paymentId: string | null;
  /** Keys this checkout used, in order. */
  keys: string[];
  /** Saw a 202 (unknown gateway outcome) on some request. */
  sawPending: boolean;
  abandoned: boolean;
}

/**
 * One customer's checkout, its choices drawn from (seed, index) so the plan does not depend on
 * the order the workers pick checkouts up: create (manual or automatic capture, some declined
 * by the card, some routed to sim-b first), then capture (all or part) or void, then for some
 * captures a refund (all or part).
 */
async function checkout(client: Client, seed: number, index: number): Promise<CheckoutOutcome> {
  const rng = seededRandom((Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  const o: CheckoutOutcome = { index, paymentId: null, keys: [], sawPending: false, abandoned: false };
  const step = async (path: string, key: string, body: Record<string, unknown>) => {
    o.keys.push(key);
    const twice = rng.float() < DUPLICATE_RATE;
    const answer = await client.post(path, key, body, twice);
    if (answer.sawPending) o.sawPending = true;
    return answer;
  };
  try {
    const amount = 500 + Math.floor(rng.float() * 19_500);
    const automatic = rng.float() < 0.2;
    const declined = rng.float() < 0.06;
    const preferB = rng.float() < 0.35;
    const prefix = `demo-${seed}-${index}`;
    const created = await step('/v1/payments', `${prefix}-create`, {
      amount,
      currency: 'EUR',
      capture_method: automatic ? 'automatic' : 'manual',
      payment_method: { type: 'card', token: declined ? 'tok_decline_insufficient_funds' : 'tok_visa' },
      reference: `order-${seed}-${index}`,
      ...(preferB ? { gateway: 'sim-b' } : {}),
    });
    let payment = created.json as { id?: string; payment_id?: string; status?: string; amount_captured?: number; amount_authorized?: number };
    o.paymentId = payment.id ?? payment.payment_id ?? null;
    if (o.paymentId === null || created.status !== 201) return o;

    if (payment.status === 'authorized') {
      const r = rng.float();
      if (r < 0.7) {
        const partial = rng.float() < 0.3;
        const captured = await step(`/v1/payments/${o.paymentId}/capture`, `${prefix}-capture`, partial ? { amount: Math.ceil(amount / 2) } : {});
        if (captured.status !== 200) return o;
        payment = captured.json as typeof payment;
      } else {
        await step(`/v1/payments/${o.paymentId}/void`, `${prefix}-void`, {});
        return o;
      }
    }
    if ((payment.status === 'captured' || payment.status === 'partially_captured') && rng.float() < 0.4) {
      const partial = rng.float() < 0.5;
      await step(`/v1/payments/${o.paymentId}/refunds`, `${prefix}-refund`, partial ? { amount: Math.ceil((payment.amount_captured ?? 2) / 2) } : {});
    }
    return o;
  } catch (err) {
    if (err instanceof GaveUp) {
      o.abandoned = true;
      return o;
    }
    throw err;
  }
}

class GaveUp extends Error {
  override readonly name = 'GaveUp';
}

/** Where Idem is now: closed while it restarts, so requests wait for it instead of failing. */
class Door {
  current: string | null;
  private opened: Promise<string>;
  private openIt: (url: string) => void = () => {};
  private failIt: (err: unknown) => void = () => {};

  constructor(url: string) {
    this.current = url;
    this.opened = Promise.resolve(url);
  }

  url(): Promise<string> {
    return this.opened;
  }

  close(): void {
    this.current = null;
    this.opened = new Promise((resolve, reject) => {
      this.openIt = resolve;
      this.failIt = reject;
    });
    this.opened.catch(() => {}); // observed by whoever waits; not an unhandled rejection
  }

  /** Idem could not be started again: everyone waiting, and later, gets `err`. */
  fail(err: unknown): void {
    this.current = null;
    this.failIt(err);
    this.opened = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    this.opened.catch(() => {});
  }

  open(url: string): void {
    this.current = url;
    this.openIt(url);
    this.opened = Promise.resolve(url);
  }
}

interface FinalAnswer {
  status: number;
  json: Record<string, unknown>;
  sawPending: boolean;
}

/** A merchant's checkout backend: same key on every retry, a few duplicates, counts everything. */
class Client {
  sent = 0;
  duplicates = 0;
  retries = 0;
  /** Why requests were sent again: the answer that made the client retry. */
  readonly retriedAfter = { pending: 0, inProgress: 0, connection: 0, serverError: 0 };
  /** The first few 5xx bodies, for the summary. */
  readonly serverErrors: string[] = [];
  inFlight = 0;
  private readonly pending = new Map<string, number>();
  /** Every final answer (status and exact body) per key, to check I2. */
  private readonly finals = new Map<string, Set<string>>();

  constructor(
    private readonly door: Door,
    private readonly apiKey: string,
  ) {}

  pendingKeys(): string[] {
    return [...this.pending.keys()];
  }

  /** POSTs with `key` (twice at once when `twice`) until a final answer; retries the same key. */
  async post(path: string, key: string, body: Record<string, unknown>, twice: boolean): Promise<FinalAnswer> {
    if (twice) this.duplicates++;
    const answers = await Promise.all(Array.from({ length: twice ? 2 : 1 }, () => this.untilFinal(path, key, body)));
    return answers[0]!;
  }

  async get<T>(path: string, timeoutMs = 10_000): Promise<T> {
    const url = await this.door.url();
    const res = await fetch(url + path, { headers: { authorization: `Bearer ${this.apiKey}` }, signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as T;
  }

  differentFinalAnswers(): number {
    let n = 0;
    for (const bodies of this.finals.values()) if (bodies.size > 1) n++;
    return n;
  }

  private async untilFinal(path: string, key: string, body: Record<string, unknown>): Promise<FinalAnswer> {
    const deadline = Date.now() + REQUEST_DEADLINE_MS;
    let sawPending = false;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) this.retries++;
      if (Date.now() > deadline) throw new GaveUp(`${key}: no final answer within ${REQUEST_DEADLINE_MS} ms`);
      const base = await this.door.url();
      this.sent++;
      this.inFlight++;
      this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
      let status: number;
      let text: string;
      let retryAfter: string | null;
      try {
        const res = await fetch(base + path, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.apiKey}`, 'idempotency-key': key, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(20_000),
        });
        status = res.status;
        retryAfter = res.headers.get('retry-after');
        text = await res.text();
      } catch {
        // Reset, refused (Idem was killed) or no answer in time: the same key again, later.
        this.retriedAfter.connection++;
        await delay(100);
        continue;
      } finally {
        this.inFlight--;
        const left = (this.pending.get(key) ?? 1) - 1;
        if (left === 0) this.pending.delete(key);
        else this.pending.set(key, left);
      }
      const json = parseJson(text);
      const retry = status === 202 || status >= 500 || (status === 409 && json.code === 'IDEM_IN_PROGRESS');
      if (retry) {
        if (status === 202) {
          sawPending = true;
          this.retriedAfter.pending++;
        } else if (status === 409) this.retriedAfter.inProgress++;
        else {
          this.retriedAfter.serverError++;
          if (this.serverErrors.length < 5) this.serverErrors.push(`${status} ${text.slice(0, 300)}`);
        }
        const afterMs = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : 0;
        await delay(Math.min(1_000, Math.max(afterMs > 0 ? 250 : 0, 100 * 2 ** Math.min(attempt, 4))));
        continue;
      }
      let seen = this.finals.get(key);
      if (!seen) this.finals.set(key, (seen = new Set()));
      seen.add(`${status} ${text}`);
      return { status, json, sawPending };
    }
  }
}

function parseJson(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

async function countInFlight(client: Client): Promise<number> {
  let n = 0;
  let cursor: string | null = null;
  do {
    const page: { data: Array<{ status: string }>; next_cursor: string | null } = await client.get(
      `/v1/payments?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    n += page.data.filter((p) => isInFlight(p.status)).length;
    cursor = page.next_cursor;
  } while (cursor !== null);
  return n;
}

// ─── metrics, proof, story ──────────────────────────────────────────────────────────────────

interface DemoMetrics {
  gate: Record<string, number>;
  recoveries: Record<string, number>;
}

async function readMetrics(url: string, timeoutMs: number): Promise<Record<string, number>> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(idem_gate_events_total|idem_recoveries_total)\{(?:event|result)="([a-z_]+)"\} (\d+)$/gm)) {
    out[`${m[1]}:${m[2]}`] = Number(m[3]);
  }
  return out;
}

function sumMetrics(snapshots: Array<Record<string, number>>): DemoMetrics {
  const gate: Record<string, number> = {};
  const recoveries: Record<string, number> = {};
  for (const s of snapshots) {
    for (const [k, v] of Object.entries(s)) {
      const [name, label] = k.split(':') as [string, string];
      const into = name === 'idem_gate_events_total' ? gate : recoveries;
      into[label] = (into[label] ?? 0) + v;
    }
  }
  return { gate, recoveries };
}

interface Story {
  id: string;
  why: string;
  timeline: string[];
}

/** A payment worth reading: cut by the crash, with an answer lost at the gateway if possible. */
async function interestingPayment(
  client: Client,
  outcomes: CheckoutOutcome[],
  crash: { cut: Set<string>; killedAt: number; backAt: number },
): Promise<Story | null> {
  const { cut } = crash;
  const wasCut = (o: CheckoutOutcome) => o.keys.some((k) => cut.has(k));
  const candidates = outcomes
    .filter((o) => o.paymentId !== null && (wasCut(o) || o.sawPending))
    .sort((a, b) => 2 * Number(wasCut(b)) + Number(b.sawPending) - (2 * Number(wasCut(a)) + Number(a.sawPending)))
    .slice(0, 8);
  let best: { o: CheckoutOutcome; events: Array<{ type: string; data: Record<string, unknown>; created_at: string }>; score: number } | null = null;
  for (const o of candidates) {
    const { data: events } = await client
      .get<{ data: Array<{ type: string; data: Record<string, unknown>; created_at: string }> }>(`/v1/payments/${o.paymentId}/events`)
      .catch(() => ({ data: [] }));
    const types = new Set(events.map((e) => e.type));
    const score = (wasCut(o) ? 3 : 0) + (types.has('attempt.unknown') ? 2 : 0) + (types.has('payment.failover') || types.has('attempt.not_processed') ? 1 : 0);
    if (best === null || score > best.score) best = { o, events, score };
  }
  if (best === null || best.events.length === 0) return null;
  const { o, events } = best;
  const types = new Set(events.map((e) => e.type));
  const why = [
    wasCut(o) ? 'a request of its was in flight when Idem was killed' : null,
    types.has('attempt.unknown') ? 'a gateway answer was lost after processing' : null,
    types.has('payment.failover') ? 'it failed over to another gateway' : null,
  ]
    .filter(Boolean)
    .join('; ');
  const t0 = Date.parse(events[0]!.created_at);
  const at = (ms: number) => `+${((ms - t0) / 1000).toFixed(3)} s`;
  // The crash, on the payment's own clock (Idem and the demo share this machine's clock).
  const marks = [
    { ms: crash.killedAt, text: '── Idem killed (SIGKILL) ──' },
    { ms: crash.backAt, text: '── Idem restarted on the same data folder ──' },
  ].filter((m) => m.ms > t0 && m.ms < Date.parse(events.at(-1)!.created_at));
  const timeline: string[] = [];
  for (const e of events) {
    while (marks.length > 0 && marks[0]!.ms <= Date.parse(e.created_at)) {
      const m = marks.shift()!;
      timeline.push(`${at(m.ms)}  ${m.text}`);
    }
    const d = e.data;
    const detail =
      e.type === 'attempt.started'
        ? `${String(d.operation)} #${String(d.attempt_no)} at ${String(d.gateway)}`
        : e.type.startsWith('attempt.')
          ? [d.operation, d.gateway, d.reason ?? d.decline_code].filter((x) => x !== undefined).map(String).join(' ')
          : e.type === 'payment.failover'
            ? `${String(d.from)} → ${String(d.to)}`
            : '';
    timeline.push(`${at(Date.parse(e.created_at))}  ${e.type}${detail ? `  ${detail}` : ''}`);
  }
  return { id: o.paymentId!, why: why || 'one of the payments with a retried request', timeline };
}

// ─── the Idem child process ─────────────────────────────────────────────────────────────────

/** `idem serve --port 0 --data-dir D` as a child process, killed only by its own pid. */
class IdemChild {
  private exitedFlag = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly pid: number,
    readonly url: string,
    readonly apiKey: string | null,
    private readonly exited: Promise<void>,
    readonly output: () => string,
  ) {
    void exited.then(() => (this.exitedFlag = true));
  }

  static async start(bin: string, dataDir: string, env: Record<string, string>): Promise<IdemChild> {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: build Idem first (npm run build)`);
    // Only what Idem needs: an ambient DATABASE_URL or REDIS_URL must not turn the demo into
    // a run against someone's real database.
    const childEnv: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir(), ...env };
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) throw new Error('could not start idem serve');
    const pid = child.pid;
    let out = '';
    const keep = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.length > 64_000) out = out.slice(-32_000);
    };
    child.stderr!.on('data', keep);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`idem serve (pid ${pid}) did not start within 30 s:\n${out}`)), 30_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        keep(chunk);
        const m = /Idem listening on (\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`idem serve (pid ${pid}) exited before listening:\n${out}`));
      });
    }).catch(async (err: unknown) => {
      killPid(pid, 'SIGKILL');
      await exited;
      throw err;
    });
    const key = /API key, shown once: (sk_\S+)/.exec(out);
    return new IdemChild(child, pid, url, key ? key[1]! : null, exited, () => out);
  }

  /** Sends `signal` to our child's pid and waits until it is gone. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (!this.exitedFlag) killPid(this.pid, signal);
    await this.exited;
  }

  /** SIGTERM (Idem closes its database cleanly), SIGKILL if it is not gone in 10 s. */
  async stop(): Promise<void> {
    if (this.exitedFlag) return;
    const timer = setTimeout(() => killPid(this.pid, 'SIGKILL'), 10_000);
    await this.kill('SIGTERM');
    clearTimeout(timer);
  }

  /** Synchronous last resort (SIGINT, process exit). */
  killNow(): void {
    if (!this.exitedFlag && this.child.exitCode === null && this.child.signalCode === null) killPid(this.pid, 'SIGKILL');
  }
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
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

// ─── output ─────────────────────────────────────────────────────────────────────────────────

/** One redrawn line on a terminal; elsewhere a plain line every ~2 s. */
class Progress {
  private timer: NodeJS.Timeout | null = null;
  private render: (() => string) | null = null;
  private readonly tty: boolean;
  private lastPlain = '';

  constructor(private readonly out: DemoOutput) {
    this.tty = out.isTTY === true;
  }

  start(render: () => string): void {
    this.stop();
    this.render = render;
    this.draw();
    this.timer = setInterval(() => this.draw(), this.tty ? 100 : 2_000);
  }

  /** Prints a line above the progress line. */
  line(text: string): void {
    if (this.tty && this.render) this.out.write('\r\x1b[K');
    this.out.write(text + '\n');
    if (this.tty && this.render) this.draw();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.render) {
      // The last state, kept on screen.
      if (this.tty) this.out.write(`\r\x1b[K${this.render()}\n`);
      else this.plain(this.render());
    }
    this.render = null;
  }

  private draw(): void {
    if (!this.render) return;
    if (this.tty) this.out.write(`\r\x1b[K${this.render()}`);
    else this.plain(this.render());
  }

  private plain(text: string): void {
    // Only the numbers matter in a log: the same line twice says nothing new.
    const numbers = text.replace(/ · [\d.]+ s$/, '');
    if (numbers === this.lastPlain) return;
    this.lastPlain = numbers;
    this.out.write(text + '\n');
  }
}

function bar(done: number, total: number, width = 24): string {
  const full = Math.round((done / total) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

function plural(n: number, word: string, words = `${word}s`): string {
  return `${n} ${n === 1 ? word : words}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
