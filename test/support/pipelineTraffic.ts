/**
 * Seeded payment traffic for the pipeline crash tests: a plan of payments with mixed follow-up
 * operations, clients that retry the way a careful merchant's checkout does (same key, round-
 * robin over the instances that are up), a kill scheduler, and the checks of the invariants
 * (docs/testing.md) that only need HTTP. The plan, the duplicates, the walk-aways and the kill
 * moments come from the seed; the interleaving does not (real processes, real sockets).
 *
 *   client ─┬─ key k ──► instance A ──╳ SIGKILL ── restart (same env, new port)
 *           └─ key k ──► instance B (duplicate, at the same time)
 *   each sender (idem/client): 5xx / connection error / 409 IDEM_IN_PROGRESS / 202 → same key
 *   again, next instance; a 202 sometimes makes the client walk away and leave the rest to recovery.
 */
import { IdemApiError, IdemClient, IdemClientError, type CallMeta } from '../../src/client/index.js';
import type { Database } from '../../src/db/database.js';
import type { SimulatorLogEntry } from '../../src/gateways/simulator/processor.js';
import type { SimulatorServer } from '../../src/gateways/simulator/server.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { gatewayLogDifferences as checkGatewayLog } from '../../src/ledger/gatewayLog.js';
import { IN_FLIGHT_STATUSES } from '../../src/payments/states.js';
import { seededRandom } from '../../src/ports/seeded.js';
import type { Random } from '../../src/ports/clock.js';
import type { HttpAnswer, HttpClient } from './httpClient.js';
import type { IdemServer } from './idemServer.js';
import { paymentCall } from './sdkCheckouts.js';

export type OperationKind = 'create' | 'capture' | 'void' | 'refund';

/** What the client does after the payment is created (amounts are fractions of what is there). */
export type FollowUp =
  | { kind: 'capture'; share: number | null } // null: the whole authorization
  | { kind: 'void' }
  | { kind: 'refund'; share: number | null }; // null: all that is left

export interface OperationPlan {
  kind: OperationKind;
  /** Sent by two clients at once, one starting on each instance. */
  duplicate: boolean;
  /** On a 202 the client stops (for this payment) and leaves the rest to recovery. */
  walkAwayOn202: boolean;
}

export interface PaymentPlan {
  index: number;
  body: Record<string, unknown>;
  create: OperationPlan;
  followUps: Array<FollowUp & OperationPlan>;
}

/** The seeded mix: manual and automatic capture, full and partial captures and refunds, voids. */
export function planPayments(seed: number, count: number, gateways: string[], duplicateRate = 0.2, walkAwayRate = 0.25): PaymentPlan[] {
  const r = seededRandom(seed);
  const op = (kind: OperationKind): OperationPlan => ({ kind, duplicate: r.float() < duplicateRate, walkAwayOn202: r.float() < walkAwayRate });
  const share = (lo: number, hi: number) => Math.round((lo + r.float() * (hi - lo)) * 100) / 100;
  const refund = (): Array<FollowUp & OperationPlan> => {
    const u = r.float();
    if (u < 0.4) return [];
    return [{ ...op('refund'), kind: 'refund', share: u < 0.7 ? null : share(0.2, 0.8) }];
  };
  return Array.from({ length: count }, (_v, index) => {
    const automatic = r.float() < 0.35;
    const g = r.float();
    const body: Record<string, unknown> = {
      amount: 500 + Math.floor(r.float() * 9500),
      currency: 'EUR',
      capture_method: automatic ? 'automatic' : 'manual',
      payment_method: { type: 'card', token: 'tok_visa' },
      reference: `order-${seed}-${index}`,
      ...(g < 0.8 ? { gateway: gateways[Math.floor((g / 0.8) * gateways.length)] } : {}),
    };
    let followUps: Array<FollowUp & OperationPlan> = [];
    if (automatic) followUps = refund();
    else {
      const u = r.float();
      if (u < 0.25) followUps = [{ ...op('void'), kind: 'void' }];
      else if (u < 0.5) followUps = [{ ...op('capture'), kind: 'capture', share: null }, ...refund()];
      else if (u < 0.75) followUps = [{ ...op('capture'), kind: 'capture', share: share(0.3, 0.9) }, ...refund()];
      // else: left authorized
    }
    return { index, body, create: op('create'), followUps };
  });
}

/** One idempotency key the clients used, and every final answer they got for it. */
export interface KeyRecord {
  key: string;
  payment: number;
  kind: OperationKind;
  /** The payment id as soon as any answer named it. */
  paymentId: string | null;
  path: string;
  body: string;
  finals: HttpAnswer[];
  /** Some sender walked away after a 202 without a final answer. */
  walkedAway: boolean;
  /** Some sender ran out of time without a final answer (a liveness failure). */
  stuck: boolean;
}

export interface TrafficStats {
  requests: number;
  /** Requests on the wire right now (read by the kill scheduler). */
  inFlight: number;
  /** Requests beyond each sender's first. */
  retries: number;
  duplicates: number;
  connectionErrors: number;
  accepted202: number;
  inProgress409: number;
  serverErrors: number;
  /** 5xx answers that are not `503` with a `Retry-After` (what a client may retry on its own). */
  serverErrorsNotRetryable: number;
  walkAways: number;
  /** Distinct 5xx bodies seen, for the report. */
  serverErrorBodies: Set<string>;
  statuses: Record<string, number>;
}

/** Where a client sends requests: the URLs of the instances that are up right now. */
export interface Cluster {
  live(): string[];
}

export interface TrafficOptions {
  client: HttpClient;
  apiKey: string;
  cluster: Cluster;
  plans: PaymentPlan[];
  /** Payments driven at once. */
  concurrency: number;
  /** Seeds the client-side jitter. */
  seed: number;
  /** Prefix of every idempotency key (unique per run). */
  keyPrefix: string;
  /** A sender without a final answer after this long gives up (and the run fails). */
  operationDeadlineMs?: number;
  /** Called after every finished payment chain with how many are done. */
  onProgress?: (done: number) => void;
  /**
   * Payments from index `from` on start only once `until` settles: keeps traffic flowing until
   * every planned kill has happened, however fast the machine is.
   */
  holdBack?: { from: number; until: Promise<unknown> };
}

export interface TrafficResult {
  keys: KeyRecord[];
  /** Per payment: its id (once known) and the status in the last final answer the client got. */
  payments: Array<{ id: string | null; lastStatus: string | null; walkedAway: boolean }>;
  stats: TrafficStats;
}

/** Runs traffic; `stats` is live while it runs (the kill scheduler reads `inFlight`). */
export function startTraffic(o: TrafficOptions): { stats: TrafficStats; done: Promise<TrafficResult> } {
  const stats = newStats();
  return { stats, done: runTraffic(o, stats) };
}

/** Counters at zero, for traffic run in several rounds that share one set (`runTraffic(o, stats)`). */
export function newStats(): TrafficStats {
  return {
    requests: 0,
    inFlight: 0,
    retries: 0,
    duplicates: 0,
    connectionErrors: 0,
    accepted202: 0,
    inProgress409: 0,
    serverErrors: 0,
    serverErrorsNotRetryable: 0,
    walkAways: 0,
    serverErrorBodies: new Set(),
    statuses: {},
  };
}

const FINAL_STATUS = new Set([200, 201, 402]);

/** Runs every payment's chain of operations; resolves when each has ended, finished or walked away from. */
export async function runTraffic(o: TrafficOptions, stats: TrafficStats = newStats()): Promise<TrafficResult> {
  const jitter = seededRandom(o.seed ^ 0x5eed);
  const keys: KeyRecord[] = [];
  const payments: TrafficResult['payments'] = o.plans.map(() => ({ id: null, lastStatus: null, walkedAway: false }));
  let rotation = 0;
  let done = 0;
  let next = 0;

  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

  /**
   * One client sending one key until it has a final answer, walks away, or runs out of time:
   * `idem/client` with the key given, each attempt on the next live instance.
   */
  async function sender(rec: KeyRecord, plan: OperationPlan, startAt: number): Promise<HttpAnswer | 'walked_away' | 'stuck'> {
    let target = startAt;
    const walkAway = new AbortController();
    const idem = new IdemClient({
      baseUrl: async () => {
        for (let live = o.cluster.live(); ; live = o.cluster.live()) {
          if (live.length > 0) return live[target++ % live.length]!;
          await sleep(50);
        }
      },
      apiKey: o.apiKey,
      random: () => jitter.float(),
      retry: { maxAttempts: Infinity, deadlineMs: o.operationDeadlineMs ?? 60_000, baseMs: 50, capMs: 200 },
      timeoutMs: 20_000,
      hooks: {
        beforeAttempt: ({ attempt }) => {
          stats.requests++;
          if (attempt > 1) stats.retries++;
          stats.inFlight++;
        },
        afterAttempt: (a) => {
          stats.inFlight--;
          if (a.status === null) {
            stats.connectionErrors++;
            return;
          }
          stats.statuses[a.status] = (stats.statuses[a.status] ?? 0) + 1;
          rec.paymentId ??= paymentIdOf(a.body ?? '');
          if (a.status === 202) {
            stats.accepted202++;
            if (plan.walkAwayOn202) walkAway.abort();
          } else if (a.status >= 500) {
            stats.serverErrors++;
            if (a.status !== 503 || !a.headers?.has('retry-after')) stats.serverErrorsNotRetryable++;
            stats.serverErrorBodies.add(`${a.status} ${(a.body ?? '').slice(0, 300)}`);
          } else if (a.status === 409 && a.code === 'IDEM_IN_PROGRESS') stats.inProgress409++;
        },
      },
    });
    try {
      return answerOf((await paymentCall(idem, rec.path, JSON.parse(rec.body) as Record<string, unknown>, { idempotencyKey: rec.key, signal: walkAway.signal }).withMeta()).meta);
    } catch (err) {
      if (walkAway.signal.aborted) return 'walked_away';
      // A final refusal (400, 404, 409 PAYMENT_INVALID_STATE, 422) is a definitive answer too: the
      // test fails on it, since this traffic never asks for anything invalid.
      if (err instanceof IdemApiError && err.status < 500) return answerOf(err.meta);
      if (err instanceof IdemClientError) return 'stuck';
      throw err;
    }
  }

  async function operation(p: PaymentPlan, plan: OperationPlan, path: string, body: Record<string, unknown>): Promise<KeyRecord> {
    const rec: KeyRecord = {
      key: `${o.keyPrefix}-p${p.index}-${plan.kind}`,
      payment: p.index,
      kind: plan.kind,
      paymentId: payments[p.index]!.id,
      path,
      body: JSON.stringify(body),
      finals: [],
      walkedAway: false,
      stuck: false,
    };
    keys.push(rec);
    const start = rotation++;
    const senders = [sender(rec, plan, start)];
    if (plan.duplicate) {
      stats.duplicates++;
      // The twin starts on the other instance, a moment later or at once.
      senders.push(sleep(Math.floor(jitter.float() * 30)).then(() => sender(rec, plan, start + 1)));
    }
    for (const result of await Promise.all(senders)) {
      if (result === 'walked_away') rec.walkedAway = true;
      else if (result === 'stuck') rec.stuck = true;
      else rec.finals.push(result);
    }
    if (rec.walkedAway) stats.walkAways++;
    return rec;
  }

  async function drive(p: PaymentPlan): Promise<void> {
    const state = payments[p.index]!;
    const created = await operation(p, p.create, '/v1/payments', p.body);
    state.id = created.paymentId;
    let view = finalView(created);
    if (!view) {
      state.walkedAway = created.walkedAway;
      return;
    }
    state.lastStatus = view.status;
    for (const f of p.followUps) {
      let path: string;
      let body: Record<string, unknown>;
      if (f.kind === 'capture') {
        if (view.status !== 'authorized') return;
        path = `/v1/payments/${view.id}/capture`;
        body = f.share === null ? {} : { amount: Math.max(1, Math.floor(view.amount_authorized * f.share)) };
      } else if (f.kind === 'void') {
        if (view.status !== 'authorized') return;
        path = `/v1/payments/${view.id}/void`;
        body = {};
      } else {
        const left = view.amount_captured - view.amount_refunded;
        if (left <= 0) return;
        path = `/v1/payments/${view.id}/refunds`;
        body = f.share === null ? {} : { amount: Math.max(1, Math.floor(left * f.share)) };
      }
      const rec = await operation(p, f, path, body);
      view = finalView(rec);
      if (!view) {
        state.walkedAway = rec.walkedAway;
        return;
      }
      state.lastStatus = view.status;
    }
  }

  const workers = Array.from({ length: o.concurrency }, async () => {
    while (next < o.plans.length) {
      if (o.holdBack && next >= o.holdBack.from) await o.holdBack.until.catch(() => {});
      if (next >= o.plans.length) break;
      const p = o.plans[next++]!;
      await drive(p);
      o.onProgress?.(++done);
    }
  });
  await Promise.all(workers);
  return { keys, payments, stats };
}

interface ViewLike {
  id: string;
  status: string;
  amount_authorized: number;
  amount_captured: number;
  amount_refunded: number;
}

/** The payment in the key's first final 2xx answer, or null when there is none. */
function finalView(rec: KeyRecord): ViewLike | null {
  const answer = rec.finals[0];
  if (!answer || answer.status >= 300) return null;
  return JSON.parse(answer.text) as ViewLike;
}

/** The SDK's account of a final answer, as the checks read answers. */
function answerOf(meta: CallMeta): HttpAnswer {
  return { status: meta.status ?? 0, headers: { 'idempotent-replayed': String(meta.replayed) }, bytes: Buffer.from(meta.rawBody, 'utf8'), text: meta.rawBody };
}

function paymentIdOf(text: string): string | null {
  try {
    const body = JSON.parse(text) as { id?: unknown; object?: unknown; payment_id?: unknown };
    if (body.object === 'payment' && typeof body.id === 'string') return body.id;
    return typeof body.payment_id === 'string' ? body.payment_id : null;
  } catch {
    return null;
  }
}

/** An `idem serve` slot that the kill scheduler kills and restarts; `server` is null while down. */
export interface InstanceSlot {
  name: string;
  server: IdemServer | null;
  start(): Promise<IdemServer>;
  /** Every process this slot ever ran (to stop them all by pid at the end). */
  history: IdemServer[];
}

export function clusterOf(slots: InstanceSlot[]): Cluster {
  return { live: () => slots.flatMap((s) => (s.server ? [s.server.url] : [])) };
}

export interface KillPlan {
  slot: number;
  /** Kill once this many payment chains are done. */
  afterDone: number;
  /** …and this many milliseconds later. */
  delayMs: number;
  /** How long the slot stays down before its restart begins. */
  downMs: number;
}

/**
 * `perSlot` kills per slot at seeded moments spread over the run (by progress, so they land
 * while traffic is flowing), the sorted moments dealt to the slots in turn.
 */
export function planKills(seed: number, slots: number, perSlot: number, total: number, from = 0.08, to = 0.8): KillPlan[] {
  const r: Random = seededRandom(seed ^ 0xdead);
  const n = slots * perSlot;
  const points = Array.from({ length: n }, () => from + r.float() * (to - from)).sort((a, b) => a - b);
  return points.map((p, i) => ({
    slot: i % slots,
    afterDone: Math.floor(p * total),
    delayMs: Math.floor(r.float() * 400),
    downMs: 100 + Math.floor(r.float() * 700),
  }));
}

export interface KillRecord {
  slot: string;
  pid: number;
  atDone: number;
  /** Client requests on the wire (to any instance) at the moment of the kill. */
  inFlight: number;
  signal: NodeJS.Signals | null;
}

/**
 * Runs the kill plan against live traffic, one loop per slot (so slots are killed independently
 * and may be down together): waits for each moment, SIGKILLs the slot's process (by pid), keeps
 * it down a moment, restarts it with the same environment. A kill also waits until `minGap`
 * more chains finished after the slot's last restart, so it finds the process at work, but
 * never past `cap` chains (the traffic's hold-back point, which progress always reaches).
 * Resolves once every planned kill and restart happened.
 */
export async function runKills(
  slots: InstanceSlot[],
  plan: KillPlan[],
  progress: () => number,
  trafficDone: () => boolean,
  options: { minGap?: number; cap?: number; inFlight?: () => number } = {},
): Promise<KillRecord[]> {
  const { minGap = 3, cap = Infinity, inFlight = () => 0 } = options;
  const kills: KillRecord[] = [];
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  const loop = async (index: number) => {
    const slot = slots[index]!;
    let restartedAt = -Infinity;
    for (const k of plan.filter((x) => x.slot === index)) {
      const due = Math.min(Math.max(k.afterDone, restartedAt + minGap), cap);
      while (progress() < due && !trafficDone()) await sleep(20);
      if (trafficDone()) throw new Error(`traffic ended before the kill of ${slot.name} planned after ${k.afterDone} payments`);
      await sleep(k.delayMs);
      const victim = slot.server!;
      slot.server = null; // clients stop picking it before it dies
      const load = inFlight();
      await victim.kill('SIGKILL');
      const { signal } = await victim.exited;
      kills.push({ slot: slot.name, pid: victim.pid, atDone: progress(), inFlight: load, signal });
      await sleep(k.downMs);
      const fresh = await slot.start();
      slot.history.push(fresh);
      slot.server = fresh;
      restartedAt = progress();
    }
  };
  await Promise.all(slots.map((_s, i) => loop(i)));
  return kills;
}

/**
 * I2 for what the clients saw: per key, every final answer has one status and one body, byte
 * for byte, and at most one of them is not a replay. Returns readable differences.
 */
export function finalAnswerDifferences(keys: KeyRecord[]): string[] {
  const out: string[] = [];
  for (const rec of keys) {
    const [first, ...rest] = rec.finals;
    if (!first) continue;
    for (const a of rest) {
      if (a.status !== first.status || !a.bytes.equals(first.bytes)) out.push(`${rec.key}: two final answers differ (${first.status} vs ${a.status})`);
    }
    const firsts = rec.finals.filter((a) => a.headers['idempotent-replayed'] === 'false').length;
    if (firsts > 1) out.push(`${rec.key}: ${firsts} final answers say Idempotent-Replayed: false`);
  }
  return out;
}

/**
 * I2 at the end: every key sent once more (same route, same body) must replay its final
 * answer: `Idempotent-Replayed: true`, the status and the exact bytes a client got. A key the
 * clients walked away from takes its first replay as the final one and must replay it again.
 */
export async function replayDifferences(client: HttpClient, apiKey: string, cluster: Cluster, keys: KeyRecord[]): Promise<{ differences: string[]; replayed: number }> {
  const out: string[] = [];
  let replayed = 0;
  let turn = 0;
  const send = (rec: KeyRecord) => {
    const live = cluster.live();
    return client.request('POST', live[turn++ % live.length]! + rec.path, {
      headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': rec.key },
      body: rec.body,
      timeoutMs: 20_000,
    });
  };
  const queue = [...keys];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let rec = queue.shift(); rec; rec = queue.shift()) {
        const final = rec.finals[0] ?? (await send(rec));
        const again = await send(rec);
        replayed++;
        if (!FINAL_STATUS.has(final.status)) out.push(`${rec.key}: final answer is ${final.status} ${final.text.slice(0, 200)}`);
        if (again.headers['idempotent-replayed'] !== 'true') out.push(`${rec.key}: a later request was not a replay (${again.status}, ${again.text.slice(0, 200)})`);
        if (again.status !== final.status || !again.bytes.equals(final.bytes)) {
          out.push(`${rec.key}: replay differs from the final answer (${final.status} → ${again.status})`);
        }
      }
    }),
  );
  return { differences: out, replayed };
}

/**
 * I1 from the gateways' own logs alone (src/ledger/gatewayLog.ts): no gateway key executed
 * twice (across all gateways), at most one successful authorization per payment, captures
 * within the authorization and the amount, refunds within the captures.
 */
export function gatewayLogDifferences(log: SimulatorLogEntry[], amounts: Map<string, number>): string[] {
  return checkGatewayLog(log, [...amounts].map(([id, amount]) => ({ id, amount }))).map((d) => d.detail);
}

/** The in-flight payment statuses (src/payments/states.ts), as plain strings for SQL and JSON. */
export const IN_FLIGHT: string[] = [...IN_FLIGHT_STATUSES];

/** `{ status: n }` for the summary line. */
export function tally(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** A compact one-line rendering of a tally: `authorized=12 captured=30`. */
export function line(t: Record<string, number>): string {
  return Object.entries(t)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/**
 * Runs `plans` as client traffic against `slots` while each slot is SIGKILLed `killsPerSlot`
 * times and restarted; the last 15 % of payments wait until every kill has happened.
 */
export async function trafficUnderKills(o: {
  slots: InstanceSlot[];
  plans: PaymentPlan[];
  killsPerSlot: number;
  seed: number;
  client: HttpClient;
  apiKey: string;
  concurrency: number;
  keyPrefix: string;
}): Promise<{ traffic: TrafficResult; killed: KillRecord[]; stats: TrafficStats; trafficMs: number; cluster: Cluster }> {
  const started = Date.now();
  const killPlan = planKills(o.seed, o.slots.length, o.killsPerSlot, o.plans.length, 0.05, 0.7);
  const holdFrom = Math.floor(o.plans.length * 0.85);
  let done = 0;
  let trafficOver = false;
  const cluster = clusterOf(o.slots);
  let stats: TrafficStats | undefined; // the running traffic's, once started
  const kills = runKills(o.slots, killPlan, () => done, () => trafficOver, { cap: holdFrom, inFlight: () => stats?.inFlight ?? 0 });
  kills.catch(() => {}); // awaited below; a failure there must not be reported twice
  const run = startTraffic({
    holdBack: { from: holdFrom, until: kills },
    client: o.client,
    apiKey: o.apiKey,
    cluster,
    plans: o.plans,
    concurrency: o.concurrency,
    seed: o.seed,
    keyPrefix: o.keyPrefix,
    onProgress: (n) => (done = n),
  });
  stats = run.stats;
  const traffic = await run.done.finally(() => (trafficOver = true));
  const killed = await kills;
  return { traffic, killed, stats, trafficMs: Date.now() - started, cluster };
}

/** The invariants that need the database; `differences` empty means they hold. */
export async function databaseChecks(
  db: Database,
  merchantId: string,
  sims: SimulatorServer[],
  traffic: TrafficResult,
): Promise<{ differences: string[]; states: Record<string, number>; gatewayOps: number }> {
  const differences: string[] = [];
  const { rows: payments } = await db.query<{ id: string; status: string; amount: number }>(
    'SELECT id, status, amount FROM payments WHERE merchant_id = $1',
    [merchantId],
  );
  // I3: every accepted payment is final, and so is every request (no key left in progress).
  for (const p of payments) if (IN_FLIGHT.includes(p.status)) differences.push(`I3: ${p.id} is still ${p.status}`);
  const { rows: open } = await db.query<{ key: string; resource_id: string | null }>(
    `SELECT key, resource_id FROM idempotency_keys WHERE merchant_id = $1 AND state <> 'completed'`,
    [merchantId],
  );
  for (const k of open) differences.push(`I3: key ${k.key} (payment ${k.resource_id}) is still in progress`);

  // Each payment the clients drove to the end is in the state their last final answer showed.
  const byId = new Map(payments.map((p) => [p.id, p]));
  for (const [i, p] of traffic.payments.entries()) {
    if (p.id === null) {
      differences.push(`payment #${i}: no answer ever named it`);
      continue;
    }
    const row = byId.get(p.id);
    if (!row) differences.push(`payment #${i} (${p.id}): answered, but there is no payment row`);
    else if (!p.walkedAway && p.lastStatus !== null && row.status !== p.lastStatus) {
      differences.push(`${p.id}: the client's last final answer said ${p.lastStatus}, the payment is ${row.status}`);
    }
  }
  if (payments.length !== traffic.payments.length) differences.push(`${payments.length} payment rows for ${traffic.payments.length} create keys`);

  // I1 from the gateways' logs, then I4 (which also matches the ledger to those logs).
  const log = sims.flatMap((s) => s.processor.log());
  differences.push(...gatewayLogDifferences(log, new Map(payments.map((p) => [p.id, p.amount]))).map((d) => `I1: ${d}`));
  const report = await verifyLedger(new SqlStore(db), log);
  differences.push(...report.differences.map((d) => `I4: ${d}`));
  if (report.inFlight.length > 0) differences.push(`I3: verifyLedger lists ${report.inFlight.length} payments in flight`);
  return { differences, states: tally(payments.map((p) => p.status)), gatewayOps: log.length };
}

/** What the clients saw that they must not: no final answer in time, a refusal, or two finals that differ (I2). */
export function clientProblems(traffic: TrafficResult): string[] {
  return [
    ...traffic.keys.filter((k) => k.stuck).map((k) => `liveness: ${k.key} got no final answer within the client's deadline`),
    // This traffic never asks for anything invalid, so anything but 200/201 is a fault.
    ...traffic.keys.flatMap((k) => k.finals.filter((a) => a.status !== 200 && a.status !== 201).map((a) => `${k.key}: final answer ${a.status} ${a.text.slice(0, 240)}`)),
    ...finalAnswerDifferences(traffic.keys).map((d) => `I2: ${d}`),
  ];
}
