/**
 * `npm run bench:reconcile` (docs/reconciliation.md, "Figures"): reconciliation matching,
 * measured.
 *
 * 1. Quality and matching speed, in memory: on seeded corpora with ground truth
 *    (test/support/reconciliationCorpus.ts), streamed in windows, three matchers side by side —
 *    exact keys only, first match with tolerance (the rule-based tools' approach) and Idem's
 *    scored global matcher — plus Idem's matcher on its priors alone (what learning adds).
 *    Idem's matcher starts from the evidence of a training corpus (another seed), as a running
 *    reconciliation carries its history.
 * 2. Calibration on held-out seeds: the model learned on the training seed, frozen, scores the
 *    quality seeds' candidate pairs; predicted probability against observed match rate.
 * 3. End to end from PostgreSQL: `--size` gateway records (and their Idem side) bulk-loaded
 *    into a fresh database, streamed back in time order through server-side cursors and matched
 *    window by window; peak RSS and heap sampled. Baselines from the same run: a bare read of
 *    the same rows, and the exact-key matcher over the same stream.
 *
 *   npm run bench:reconcile -- [--size 1000000] [--payments 50000] [--seeds 1,2,3]
 *     [--train-seed 1000] [--window-min 60] [--json] [--db postgres://…/a_database_to_keep]
 *
 * Environment: BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { GatewayOperation } from '../src/gateways/port.js';
import { exactMatcher } from '../src/reconciliation/match/exact.js';
import { firstMatchWithTolerance } from '../src/reconciliation/match/firstMatch.js';
import { modelFromCounts, PRIOR, PRIOR_MODEL, type ModelCounts } from '../src/reconciliation/match/model.js';
import { matchScored, scoredMatcher } from '../src/reconciliation/match/scored.js';
import { fromSorted, reconcileStream, type StreamOptions } from '../src/reconciliation/match/stream.js';
import type { GatewayRecord, IdemRecord, Matcher, MatchResult } from '../src/reconciliation/records.js';
import { addQuality, corpus, corpusChunks, finish, tally, type Quality, type Truth } from '../test/support/reconciliationCorpus.js';

export interface BenchOptions {
  size: number;
  payments: number;
  seeds: number[];
  trainSeed: number;
  windowMs: number;
  json: boolean;
  pgAdminUrl: string;
  /** A database to load once and reuse across runs (the load takes minutes at 1,000,000). */
  db?: string;
  log: (line: string) => void;
}

export interface MatcherRow extends Quality {
  matcher: string;
  /** Gateway records per second of wall time, and per second of this process's CPU time. */
  recordsPerS: number;
  recordsPerCpuS: number;
}

export interface CalibrationRow {
  from: number;
  to: number;
  pairs: number;
  predicted: number;
  observed: number;
}

export interface EndToEnd {
  gatewayRecords: number;
  idemRecords: number;
  loadS: number;
  bareReadS: number;
  bareReadCpuS: number;
  exactS: number;
  exactCpuS: number;
  scoredS: number;
  scoredRecordsPerS: number;
  scoredCpuS: number;
  ratioToBareRead: number;
  peakRssMb: number;
  peakHeapMb: number;
  /** Largest heap right after a full collection between windows: what the pipeline keeps. */
  liveHeapMb: number;
  quality: Quality;
  exactQuality: Quality;
}

export interface BenchReport {
  machine: { cores: number; loadAverage: number[] };
  options: { size: number; payments: number; seeds: number[]; trainSeed: number; windowMs: number };
  matchers: MatcherRow[];
  speedRatioToExact: number;
  calibration: CalibrationRow[];
  heldOut: Quality;
  endToEnd?: EndToEnd;
}

/**
 * A stream's matching, tallied against the truth; the time spent in it. With `forget`, each
 * window's truth is dropped once tallied and, every `liveHeapEvery` windows, a full collection
 * measures what the pipeline holds between windows (a collection per window would be a
 * measurable share of the time measured).
 */
async function runStream(
  gateway: AsyncIterable<GatewayRecord | readonly GatewayRecord[]>,
  idem: AsyncIterable<IdemRecord | readonly IdemRecord[]>,
  truth: ReadonlyMap<string, Truth> & { delete?(k: string): boolean },
  options: StreamOptions,
  forget = false,
  liveHeapEvery = 0,
) {
  const q = tally();
  const t0 = performance.now();
  let liveHeap = 0;
  let windows = 0;
  for await (const w of reconcileStream(gateway, idem, options)) {
    addQuality(q, w, truth);
    if (forget) for (const g of windowGateway(w)) (truth as Map<string, Truth>).delete(g.id);
    if (liveHeapEvery > 0 && ++windows % liveHeapEvery === 0 && global.gc) {
      global.gc();
      liveHeap = Math.max(liveHeap, process.memoryUsage().heapUsed);
    }
  }
  return { quality: finish(q), seconds: (performance.now() - t0) / 1000, liveHeapMb: liveHeap / 2 ** 20 };
}

function windowGateway(w: MatchResult): GatewayRecord[] {
  return [...w.matches.flatMap((m) => m.gateway), ...w.review.map((r) => r.gateway), ...w.unmatchedGateway];
}

/** What a corpus teaches Idem's matcher, streamed: the evidence a running reconciliation carries. */
async function train(seed: number, payments: number, windowMs: number): Promise<ModelCounts> {
  const c = corpus({ seed, payments });
  let last: ModelCounts = PRIOR;
  for await (const w of reconcileStream(fromSorted(c.gateway), fromSorted(c.idem), { windowMs })) if (w.scored && w.scored.model.fit.positives > 0) last = w.scored.model.counts;
  return last;
}

const BUCKETS = [0, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0000001];

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const log = o.json ? () => {} : o.log;
  log(`reconciliation matching: ${o.payments} payments per seed, seeds ${o.seeds.join(', ')}, windows of ${o.windowMs / 60_000} min, history from seed ${o.trainSeed}`);
  log(`machine: ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} (other work on the machine slows every figure, the baselines' as much)`);
  const history = await train(o.trainSeed, o.payments, o.windowMs);
  const frozen = modelFromCounts(history);

  const matchers: Array<{ name: string; options: StreamOptions }> = [
    { name: exactMatcher.name, options: { matcher: exactMatcher } },
    { name: 'first match with tolerance', options: { matcher: firstMatchWithTolerance() } },
    { name: 'idem, priors only (no learning)', options: { matcher: scoredMatcher({ model: PRIOR_MODEL }) } },
    { name: 'idem scored global (learned)', options: { prior: history } },
  ];
  const rows: MatcherRow[] = [];
  for (const m of matchers) {
    const q = tally();
    let seconds = 0;
    let cpu = 0;
    for (const seed of o.seeds) {
      const c = corpus({ seed, payments: o.payments });
      const t0 = performance.now();
      const u0 = process.cpuUsage();
      for await (const w of reconcileStream(fromSorted(c.gateway), fromSorted(c.idem), { ...m.options, windowMs: o.windowMs })) addQuality(q, w, c.truth);
      const u = process.cpuUsage(u0);
      cpu += (u.user + u.system) / 1e6;
      seconds += (performance.now() - t0) / 1000;
    }
    const f = finish(q);
    rows.push({ matcher: m.name, ...f, recordsPerS: f.gatewayRecords / seconds, recordsPerCpuS: f.gatewayRecords / cpu });
  }
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  log('\n| matcher | precision | recall (matchable) | recall, keyless | ties auto-matched | review | unmatched | records/s | records/CPU-s |');
  log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const n = (x: number) => Math.round(x).toLocaleString('en');
    log(`| ${r.matcher} | ${pct(r.precision)} | ${pct(r.recall)} | ${pct(r.strippedRecall)} | ${r.tiesAutoMatched} | ${r.review} | ${r.unmatched} | ${n(r.recordsPerS)} | ${n(r.recordsPerCpuS)} |`);
  }
  const idemRow = rows[rows.length - 1]!;
  const speedRatioToExact = idemRow.recordsPerS / rows[0]!.recordsPerS;
  log(`\n${rows[0]!.gatewayRecords.toLocaleString('en')} gateway records (${rows[0]!.matchable.toLocaleString('en')} matchable); Idem's matcher at ${speedRatioToExact.toFixed(2)}× the exact-key matcher's speed`);
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  log(`target: precision ≥ 99.9 % — ${pct(idemRow.precision)}: ${met(idemRow.precision >= 0.999)}`);
  log(`target: recall ≥ 99 % of the matchable — ${pct(idemRow.recall)}: ${met(idemRow.recall >= 0.99)}`);
  log(`target: no tie auto-matched — ${idemRow.tiesAutoMatched}: ${met(idemRow.tiesAutoMatched === 0)}`);
  log(`target: matching ≥ 50,000 gateway records/s — ${Math.round(idemRow.recordsPerS).toLocaleString('en')}/s (${Math.round(idemRow.recordsPerCpuS).toLocaleString('en')} per CPU-second; load average ${loadavg()[0]!.toFixed(1)}): ${met(idemRow.recordsPerS >= 50_000)}`);

  // Calibration: the frozen training model on the (held-out) quality seeds.
  const cal = BUCKETS.slice(0, -1).map((from, k) => ({ from, to: BUCKETS[k + 1]!, pairs: 0, predicted: 0, observed: 0 }));
  const heldOut = tally();
  for (const seed of o.seeds) {
    const c = corpus({ seed, payments: o.payments });
    const calibrating: Matcher = {
      name: 'calibration',
      match(idem, gateway) {
        const r = matchScored(idem, gateway, { model: frozen, collectCandidates: true });
        for (const p of r.candidates!) {
          // A constructed tie has two identical candidates and one truth: no pairwise
          // probability can be right for both, and review is what settles it.
          if (c.truth.get(p.gateway.id)!.ambiguous) continue;
          const b = cal.find((x) => p.probability >= x.from && p.probability < x.to)!;
          b.pairs++;
          b.predicted += p.probability;
          if (c.truth.get(p.gateway.id)!.idem === p.idem.id) b.observed++;
        }
        return r;
      },
    };
    for await (const w of reconcileStream(fromSorted(c.gateway), fromSorted(c.idem), { matcher: calibrating, windowMs: o.windowMs })) addQuality(heldOut, w, c.truth);
  }
  const calibration = cal.map((b) => ({ ...b, predicted: b.pairs ? b.predicted / b.pairs : NaN, observed: b.pairs ? b.observed / b.pairs : NaN }));
  log(`\ncalibration on held-out seeds (model learned on seed ${o.trainSeed}, frozen): candidate pairs by predicted probability (constructed ties left out)`);
  log('| predicted | pairs | mean predicted | observed match rate |');
  log('|---|---|---|---|');
  for (const b of calibration) log(`| [${b.from}, ${b.to > 1 ? 1 : b.to}${b.to > 1 ? ']' : ')'} | ${b.pairs} | ${b.pairs ? b.predicted.toFixed(4) : '–'} | ${b.pairs ? b.observed.toFixed(4) : '–'} |`);
  const ho = finish(heldOut);
  log(`frozen model's automatic matches on those seeds: precision ${pct(ho.precision)}, recall ${pct(ho.recall)}, ties auto-matched ${ho.tiesAutoMatched}`);

  const report: BenchReport = {
    machine: { cores: cpus().length, loadAverage: loadavg() },
    options: { size: o.size, payments: o.payments, seeds: o.seeds, trainSeed: o.trainSeed, windowMs: o.windowMs },
    matchers: rows,
    speedRatioToExact,
    calibration,
    heldOut: ho,
  };
  if (o.size > 0) report.endToEnd = await endToEnd(o, history, log);
  return report;
}

// ── End to end from PostgreSQL ─────────────────────────────────────────────────────────────

/**
 * A row of the gateway-records table as the matcher's `GatewayRecord` — the one place to
 * re-point when reading the reconciliation loop's staging table. Columns as selected by
 * {@link GATEWAY_SELECT} (`at` in ms since the epoch).
 */
export function gatewayRecordFromRow(row: unknown[]): GatewayRecord {
  // Every field set, absent ones as undefined: one object shape for every record, so the
  // matcher's property reads stay monomorphic.
  return {
    id: row[0] as string,
    gateway: row[1] as string,
    operation: row[2] as GatewayOperation,
    status: row[3] as GatewayRecord['status'],
    amount: row[4] as number,
    currency: row[5] as string,
    at: row[6] as number,
    gatewayKey: (row[7] ?? undefined) as string | undefined,
    transactionId: (row[8] ?? undefined) as string | undefined,
    authorizationId: (row[9] ?? undefined) as string | undefined,
    reference: (row[10] ?? undefined) as string | undefined,
    merchantId: (row[11] ?? undefined) as string | undefined,
  };
}

// Every column is text, boolean or float8 (amounts are exact in a float8 up to 2^53): types
// the client parses cheaply, with no bigint strings to convert.
const GATEWAY_SELECT = `SELECT id, gateway, operation, status, amount::float8, currency, (extract(epoch FROM at) * 1000)::float8,
  gateway_key, transaction_id, authorization_id, reference, merchant_id, truth_idem, truth_ambiguous, truth_stripped
  FROM bench_gateway_records ORDER BY at, gateway, id`;

export function idemRecordFromRow(row: unknown[]): IdemRecord {
  return {
    id: row[0] as string,
    paymentId: row[1] as string,
    merchantId: row[2] as string,
    gateway: row[3] as string,
    operation: row[4] as GatewayOperation,
    gatewayKey: row[5] as string,
    amount: row[6] as number,
    currency: row[7] as string,
    at: row[8] as number,
    status: row[9] as string,
    transactionId: (row[10] ?? undefined) as string | undefined,
    authorizationId: (row[11] ?? undefined) as string | undefined,
  };
}

const IDEM_SELECT = `SELECT id, payment_id, merchant_id, gateway, operation, gateway_key, amount::float8, currency,
  (extract(epoch FROM at) * 1000)::float8, status, transaction_id, authorization_id FROM bench_idem_operations ORDER BY at, id`;

/**
 * Rows of `sql` through a server-side cursor, a fetch of `batch` rows at a time, yielded as
 * batches (one await per fetch, not per row). `depth` fetches are queued on the connection, so
 * the server produces the next rows while the caller works on these.
 */
export async function* cursorBatches(url: string, sql: string, batch = 20_000, depth = 2): AsyncGenerator<unknown[][]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN READ ONLY');
    await client.query(`DECLARE rows NO SCROLL CURSOR FOR ${sql}`);
    const fetch = () => client.query<unknown[]>({ text: `FETCH ${batch} FROM rows`, rowMode: 'array' });
    const queued = Array.from({ length: depth }, fetch);
    for (;;) {
      const r = await queued.shift()!;
      if (r.rows.length === 0) break;
      queued.push(fetch());
      yield r.rows;
    }
    // Fetches queued past the end answer empty.
    await Promise.all(queued);
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

/** The row counts of a database `load` filled with the same corpus, or null (not loaded, or another one). */
async function loaded(url: string, size: number, seed: number): Promise<{ gateway: number; idem: number } | null> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ corpus: string | null }>(`SELECT obj_description('bench_gateway_records'::regclass) AS corpus`).catch(() => ({ rows: [] }));
    if (rows[0]?.corpus !== corpusLabel(size, seed)) {
      await client.query('DROP TABLE IF EXISTS bench_gateway_records, bench_idem_operations');
      return null;
    }
    const g = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM bench_gateway_records');
    const i = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM bench_idem_operations');
    return { gateway: g.rows[0]!.n, idem: i.rows[0]!.n };
  } finally {
    await client.end();
  }
}

const corpusLabel = (size: number, seed: number) => `reconciliation bench corpus: size ${size}, seed ${seed}`;

async function load(url: string, size: number, seed: number): Promise<{ gateway: number; idem: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE UNLOGGED TABLE bench_gateway_records (
      id text NOT NULL, gateway text NOT NULL, operation text NOT NULL, status text NOT NULL, amount bigint NOT NULL,
      currency text NOT NULL, at timestamptz NOT NULL, gateway_key text, transaction_id text, authorization_id text,
      reference text, merchant_id text, truth_idem text, truth_ambiguous boolean NOT NULL, truth_stripped boolean NOT NULL)`);
    await client.query(`CREATE UNLOGGED TABLE bench_idem_operations (
      id text NOT NULL, payment_id text NOT NULL, merchant_id text NOT NULL, gateway text NOT NULL, operation text NOT NULL,
      gateway_key text NOT NULL, amount bigint NOT NULL, currency text NOT NULL, at timestamptz NOT NULL, status text NOT NULL,
      transaction_id text, authorization_id text)`);
    let gw: GatewayRecord[] = [];
    let idem: IdemRecord[] = [];
    let truth: Truth[] = [];
    let gCount = 0;
    let iCount = 0;
    const flush = async () => {
      const col = <T,>(xs: T[], f: (x: T) => unknown) => xs.map(f);
      await client.query(
        `INSERT INTO bench_gateway_records SELECT id, gateway, operation, status, amount, currency, to_timestamp(at_ms / 1000.0),
           gateway_key, transaction_id, authorization_id, reference, merchant_id, truth_idem, truth_ambiguous, truth_stripped
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::float8[], $8::text[], $9::text[],
           $10::text[], $11::text[], $12::text[], $13::text[], $14::boolean[], $15::boolean[])
           AS t(id, gateway, operation, status, amount, currency, at_ms, gateway_key, transaction_id, authorization_id, reference,
             merchant_id, truth_idem, truth_ambiguous, truth_stripped)`,
        [
          col(gw, (g) => g.id), col(gw, (g) => g.gateway), col(gw, (g) => g.operation), col(gw, (g) => g.status), col(gw, (g) => g.amount),
          col(gw, (g) => g.currency), col(gw, (g) => g.at), col(gw, (g) => g.gatewayKey ?? null), col(gw, (g) => g.transactionId ?? null),
          col(gw, (g) => g.authorizationId ?? null), col(gw, (g) => g.reference ?? null), col(gw, (g) => g.merchantId ?? null),
          col(truth, (t) => t.idem), col(truth, (t) => t.ambiguous), col(truth, (t) => t.stripped),
        ],
      );
      await client.query(
        `INSERT INTO bench_idem_operations SELECT id, payment_id, merchant_id, gateway, operation, gateway_key, amount, currency,
           to_timestamp(at_ms / 1000.0), status, transaction_id, authorization_id
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::float8[],
           $10::text[], $11::text[], $12::text[])
           AS t(id, payment_id, merchant_id, gateway, operation, gateway_key, amount, currency, at_ms, status, transaction_id, authorization_id)`,
        [
          col(idem, (i) => i.id), col(idem, (i) => i.paymentId), col(idem, (i) => i.merchantId), col(idem, (i) => i.gateway),
          col(idem, (i) => i.operation), col(idem, (i) => i.gatewayKey), col(idem, (i) => i.amount), col(idem, (i) => i.currency),
          col(idem, (i) => i.at), col(idem, (i) => i.status), col(idem, (i) => i.transactionId ?? null), col(idem, (i) => i.authorizationId ?? null),
        ],
      );
      gw = [];
      idem = [];
      truth = [];
    };
    for (const chunk of corpusChunks({ seed, payments: Number.MAX_SAFE_INTEGER })) {
      if (gCount >= size) break;
      const keep = chunk.gateway.slice(0, size - gCount);
      const truthOf = new Map(chunk.truth);
      gw.push(...keep);
      truth.push(...keep.map((g) => truthOf.get(g.id)!));
      idem.push(...chunk.idem);
      gCount += keep.length;
      iCount += chunk.idem.length;
      if (gw.length >= 20_000) await flush();
    }
    await flush();
    await client.query('CREATE INDEX ON bench_gateway_records (at, gateway, id)');
    await client.query('CREATE INDEX ON bench_idem_operations (at, id)');
    await client.query('ANALYZE bench_gateway_records');
    await client.query('ANALYZE bench_idem_operations');
    await client.query(`COMMENT ON TABLE bench_gateway_records IS '${corpusLabel(size, seed)}'`);
    return { gateway: gCount, idem: iCount };
  } finally {
    await client.end();
  }
}

/** Peak RSS and heap while `work` runs, sampled every 50 ms. */
async function measured<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number; cpuS: number; peakRssMb: number; peakHeapMb: number }> {
  let rss = 0;
  let heap = 0;
  const sample = () => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss);
    heap = Math.max(heap, m.heapUsed);
  };
  const timer = setInterval(sample, 50);
  global.gc?.();
  const t0 = performance.now();
  const u0 = process.cpuUsage();
  try {
    const value = await work();
    sample();
    const u = process.cpuUsage(u0);
    return { value, seconds: (performance.now() - t0) / 1000, cpuS: (u.user + u.system) / 1e6, peakRssMb: rss / 2 ** 20, peakHeapMb: heap / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

/** Windows between two measurements of the live heap (a full collection each). */
const LIVE_HEAP_EVERY = 8;

async function endToEnd(o: BenchOptions, history: ModelCounts, log: (l: string) => void): Promise<EndToEnd> {
  const { createTestDatabase } = await import('../test/support/services.js');
  // `--db`: a database kept between runs (loaded by the first, reused while it holds the same
  // corpus); otherwise a fresh one, dropped at the end.
  const db = o.db !== undefined ? { url: o.db, drop: async () => {} } : await createTestDatabase('idem_bench_reconcile');
  try {
    const t0 = performance.now();
    let counts = await loaded(db.url, o.size, o.trainSeed + 1);
    if (counts === null) {
      log(`\nend to end from PostgreSQL: loading ${o.size.toLocaleString('en')} gateway records and their Idem side…`);
      counts = await load(db.url, o.size, o.trainSeed + 1);
      log(`loaded ${counts.gateway.toLocaleString('en')} gateway and ${counts.idem.toLocaleString('en')} Idem records in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } else log(`\nend to end from PostgreSQL: ${counts.gateway.toLocaleString('en')} gateway and ${counts.idem.toLocaleString('en')} Idem records already loaded in ${db.url.replace(/\/\/[^@]*@/, '//')}`);
    const loadS = (performance.now() - t0) / 1000;

    // The truth rides along in the gateway rows; it is dropped as each window is tallied.
    const streams = () => {
      const truth = new Map<string, Truth>();
      async function* gateway() {
        for await (const rows of cursorBatches(db.url, GATEWAY_SELECT)) {
          const batch = new Array<GatewayRecord>(rows.length);
          for (let k = 0; k < rows.length; k++) {
            const row = rows[k]!;
            const g = (batch[k] = gatewayRecordFromRow(row));
            truth.set(g.id, { idem: row[12] as string | null, ambiguous: row[13] as boolean, stripped: row[14] as boolean, split: false });
          }
          yield batch;
        }
      }
      async function* idem() {
        for await (const rows of cursorBatches(db.url, IDEM_SELECT)) yield rows.map(idemRecordFromRow);
      }
      return { truth, gateway: gateway(), idem: idem() };
    };
    const bare = await measured(async () => {
      const s = streams();
      let n = 0;
      const drain = async (it: AsyncIterable<readonly unknown[]>) => {
        for await (const batch of it) n += batch.length;
      };
      await Promise.all([drain(s.gateway), drain(s.idem)]);
      return n;
    });
    log(`bare read of both tables (${bare.value.toLocaleString('en')} rows): ${bare.seconds.toFixed(1)} s, ${bare.cpuS.toFixed(1)} s of CPU in this process`);
    const exact = await measured(async () => {
      const s = streams();
      return runStream(s.gateway, s.idem, s.truth, { matcher: exactMatcher, windowMs: o.windowMs }, true);
    });
    log(`exact-key matcher over the same stream: ${exact.seconds.toFixed(1)} s, ${exact.cpuS.toFixed(1)} s of CPU`);
    const scored = await measured(async () => {
      const s = streams();
      return runStream(s.gateway, s.idem, s.truth, { prior: history, windowMs: o.windowMs }, true, LIVE_HEAP_EVERY);
    });
    const q = scored.value.quality;
    const e: EndToEnd = {
      gatewayRecords: counts.gateway,
      idemRecords: counts.idem,
      loadS,
      bareReadS: bare.seconds,
      bareReadCpuS: bare.cpuS,
      exactS: exact.seconds,
      exactCpuS: exact.cpuS,
      scoredS: scored.seconds,
      scoredRecordsPerS: counts.gateway / scored.seconds,
      scoredCpuS: scored.cpuS,
      ratioToBareRead: scored.seconds / bare.seconds,
      peakRssMb: scored.peakRssMb,
      peakHeapMb: scored.peakHeapMb,
      liveHeapMb: scored.value.liveHeapMb,
      quality: q,
      exactQuality: exact.value.quality,
    };
    log(`Idem's matcher, end to end: ${e.scoredS.toFixed(1)} s, ${e.scoredCpuS.toFixed(1)} s of CPU in this process (${Math.round(e.scoredRecordsPerS).toLocaleString('en')} gateway records/s; ${e.ratioToBareRead.toFixed(2)}× the bare read), peak RSS ${e.peakRssMb.toFixed(0)} MB, peak heap ${e.peakHeapMb.toFixed(0)} MB (garbage included), live heap between windows at most ${e.liveHeapMb.toFixed(0)} MB`);
    log(`  precision ${pct(q.precision)}, recall ${pct(q.recall)} (keyless ${pct(q.strippedRecall)}), ties auto-matched ${q.tiesAutoMatched}, review ${q.review}, unmatched ${q.unmatched}; exact keys alone: recall ${pct(e.exactQuality.recall)}`);
    log(`target: ${o.size.toLocaleString('en')} gateway records end to end from PostgreSQL in < 60 s — ${e.scoredS.toFixed(1)} s (load average ${loadavg()[0]!.toFixed(1)}): ${e.scoredS < 60 ? 'met' : 'NOT met'}${o.size < 1_000_000 ? ' (the goal is set for 1,000,000)' : ''}`);
    return e;
  } finally {
    await db.drop();
  }
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

function options(): BenchOptions {
  const { values } = parseArgs({
    options: {
      size: { type: 'string' },
      payments: { type: 'string' },
      seeds: { type: 'string' },
      'train-seed': { type: 'string' },
      'window-min': { type: 'string' },
      json: { type: 'boolean' },
      db: { type: 'string' },
    },
  });
  const int = (name: string, raw: string | undefined, fallback: number, min: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min} (got "${raw}")`);
    return n;
  };
  return {
    size: int('size', values.size, 1_000_000, 0),
    payments: int('payments', values.payments, 30_000, 100),
    seeds: (values.seeds ?? '1,2,3').split(',').map((s) => int('seeds', s, 1, 0)),
    trainSeed: int('train-seed', values['train-seed'], 1000, 0),
    windowMs: int('window-min', values['window-min'], 60, 1) * 60_000,
    json: values.json ?? false,
    ...(values.db !== undefined ? { db: values.db } : {}),
    pgAdminUrl: process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    log: (l) => console.log(l),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const o = options();
  if (process.env.BENCH_PG_ADMIN_URL) process.env.IDEM_TEST_PG_URL = o.pgAdminUrl;
  runBench(o).then(
    (report) => {
      if (o.json) console.log(JSON.stringify(report, null, 2));
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
