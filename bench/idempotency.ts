/**
 * Idem's idempotency benchmark: what the gate costs, each figure next to a baseline measured in
 * the same run on the same machine (docs/performance.md has the goals and the figures).
 *
 * - Replay: POST /v1/payments with a completed Idempotency-Key (the Redis replay cache), in
 *   alternating rounds against AWS Powertools idempotency (Redis persistence, on fastify,
 *   guarding the same body), and against a bare fastify route doing one Redis GET.
 * - First request and end to end: a new key on every request against a bare fastify route
 *   doing one PostgreSQL INSERT.
 * - Gateway latency (400 clients, 100 ms vs 0 ms), growth (millions of stored keys and
 *   payments vs empty tables), the key sweeper under load, and 1/2/3 instances.
 * - Overload: first requests with automatic capture at 50, 400 and 1,500 connections against
 *   one instance shedding with its default (adaptive) concurrency limit, and at 1,500 with
 *   shedding off for reference: admitted throughput and latency against the 50-connection
 *   figures of the same run, every other answer a clean 503 with Retry-After.
 *
 * Every server runs in its own child process (bench/server.ts); this process only generates
 * load. Same connections and duration for subject and baseline, one warm-up before each
 * measurement, every response checked, and after every first-request run an exactly-once
 * audit of the database. Exits 1 if anything failed.
 *
 *   npm run build && tsc -p bench/tsconfig.json && node dist-bench/bench/idempotency.js [--duration 10]
 *     [--connections 50] [--warmup 3] [--rounds 3] [--rate n] [--growth-rows n] [--sweep-rows n]
 *     [--only replay|first|e2e|latency|growth|sweeper|instances|overload] [--diagnose] [--cpu-prof] [--json]
 *     [--pg-pool-max n] [--redis-cluster] [--in-process] [--logger-off]
 *
 * Idem runs as `idem serve` (the built binary, its default logging into a file) unless
 * --in-process (or --diagnose, --logger-off, which need it) forks the bench's own child with
 * the same composition.
 *
 * Environment: BENCH_DURATION, BENCH_CONNECTIONS, BENCH_WARMUP, BENCH_ROUNDS, BENCH_RATE,
 * BENCH_GROWTH_ROWS, BENCH_SWEEP_ROWS, BENCH_PG_ADMIN_URL (default
 * postgres://postgres@127.0.0.1:5432/test; the bench creates and drops databases of its own
 * there), BENCH_REDIS_URL (default redis://127.0.0.1:6379), BENCH_PG_POOL_MAX (the instances
 * row's pool per instance; default: 20 if three such pools fit in PostgreSQL's free
 * connections, else what fits), BENCH_REDIS_CLUSTER=1 (the instances row on a private
 * three-node Redis Cluster: needs redis-server and redis-cli).
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { DEFAULT_PG_POOL_MAX, defaultServerLimits } from '../src/config/config.js';
import { migrate } from '../src/db/migrate.js';
import { startRedisCluster, type RedisCluster } from '../test/support/redisCluster.js';
import { openPostgres } from '../src/db/postgres.js';
import { clean, load as autocannonLoad, politeLoad, type CheckedResponse, type LoadResult, type LoadSpec } from './load.js';
import { machineCpuMicros, processCpuMicros } from './machine.js';
import { BASELINE_TABLE, idemEnv, type ParentMessage, type QueryCounts, type ServerEnv, type ServerMessage, type ServerMode } from './protocol.js';

interface Options {
  durationS: number;
  connections: number;
  warmupS: number;
  /** Alternating rounds of Idem's replay and Powertools' replay. */
  rounds: number;
  /** Fixed offered load (requests/s) instead of as fast as answered: CPU per response is then the figure. */
  rate: number | null;
  only: 'replay' | 'first' | 'e2e' | 'latency' | 'growth' | 'instances' | 'sweeper' | 'overload' | 'all';
  /** Expired keys the sweeper row loads and times the sweeper removing. */
  sweepRows: number;
  /** Completed keys and payments stored before the growth row's "grown" measurement. */
  growthRows: number;
  diagnose: boolean;
  cpuProf: boolean;
  /** Idem with its logger off, as runs before 7 December measured it; default: as `idem serve` logs. */
  loggerOff: boolean;
  /**
   * Idem as `createIdem` in a forked bench child (the same composition, logger and settings),
   * which can count its statements (--diagnose) or run with its logger off; default: the built
   * `idem serve` binary (dist/cli/main.js), as users run it.
   */
  inProcess: boolean;
  json: boolean;
  pgAdminUrl: string;
  redisUrl: string;
  /** The instances row: each instance's PostgreSQL pool; null: sized so 3 instances fit. */
  pgPoolMax: number | null;
  /** The instances row on a private three-node Redis Cluster instead of `redisUrl`. */
  redisCluster: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      rate: { type: 'string' },
      'growth-rows': { type: 'string' },
      'sweep-rows': { type: 'string' },
      only: { type: 'string' },
      diagnose: { type: 'boolean' },
      'cpu-prof': { type: 'boolean' },
      'logger-off': { type: 'boolean' },
      'in-process': { type: 'boolean' },
      json: { type: 'boolean' },
      'pg-pool-max': { type: 'string' },
      'redis-cluster': { type: 'boolean' },
    },
  });
  const env = process.env;
  const int = (name: string, raw: string | undefined, fallback: number, min: number, max: number) => {
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
    return n;
  };
  const durationS = int('--duration / BENCH_DURATION', values.duration ?? env.BENCH_DURATION, 10, 1, 3600);
  const only = values.only ?? 'all';
  if (!['replay', 'first', 'e2e', 'latency', 'growth', 'instances', 'sweeper', 'overload', 'all'].includes(only)) {
    throw new Error('--only must be replay, first, e2e, latency, growth, instances, sweeper, overload or all');
  }
  return {
    durationS,
    connections: int('--connections / BENCH_CONNECTIONS', values.connections ?? env.BENCH_CONNECTIONS, 50, 1, 10_000),
    warmupS: int('--warmup / BENCH_WARMUP', values.warmup ?? env.BENCH_WARMUP, Math.max(1, Math.round(durationS * 0.3)), 1, 3600),
    rounds: int('--rounds / BENCH_ROUNDS', values.rounds ?? env.BENCH_ROUNDS, 3, 1, 50),
    rate: (values.rate ?? env.BENCH_RATE) ? int('--rate / BENCH_RATE', values.rate ?? env.BENCH_RATE, 0, 1, 1_000_000) : null,
    only: only as Options['only'],
    sweepRows: int('--sweep-rows / BENCH_SWEEP_ROWS', values['sweep-rows'] ?? env.BENCH_SWEEP_ROWS, 1_000_000, 1, 100_000_000),
    growthRows: int('--growth-rows / BENCH_GROWTH_ROWS', values['growth-rows'] ?? env.BENCH_GROWTH_ROWS, 5_000_000, 1, 100_000_000),
    diagnose: values.diagnose ?? false,
    cpuProf: values['cpu-prof'] ?? false,
    loggerOff: values['logger-off'] ?? false,
    // Counting statements and a logger turned off need the bench's own child.
    inProcess: (values['in-process'] ?? false) || (values.diagnose ?? false) || (values['logger-off'] ?? false),
    json: values.json ?? false,
    pgAdminUrl: env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    redisUrl: env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
    pgPoolMax: (values['pg-pool-max'] ?? env.BENCH_PG_POOL_MAX) ? int('--pg-pool-max / BENCH_PG_POOL_MAX', values['pg-pool-max'] ?? env.BENCH_PG_POOL_MAX, 0, 4, 1000) : null,
    redisCluster: values['redis-cluster'] ?? env.BENCH_REDIS_CLUSTER === '1',
  };
}

const here = fileURLToPath(new URL('.', import.meta.url));
const serverScript = fileURLToPath(new URL('./server.js', import.meta.url));
/** The `idem` binary as `npm run build` makes it (package.json "bin"). */
const idemCli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const profileDir = fileURLToPath(new URL('../profiles/', import.meta.url));

/**
 * The bench build compiles src/ into dist-bench/src, whose migrate.ts looks for the migrations
 * two folders up, as in the package layout (dist/ beside migrations/): put a copy there.
 */
function provideMigrations(): void {
  const from = fileURLToPath(new URL('../../migrations/', import.meta.url));
  const to = fileURLToPath(new URL('../migrations/', import.meta.url));
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) if (f.endsWith('.sql')) copyFileSync(from + f, to + f);
}

// ——— child servers ———————————————————————————————————————————————————————————————————————

interface Server {
  url: string;
  apiKey?: string;
  merchantId?: string;
  snapshot(): Promise<{ cpuMicros: number; counts: QueryCounts | null }>;
  stop(): Promise<void>;
}

async function startServer(mode: ServerMode, env: Omit<ServerEnv, 'BENCH_MODE'>, o: Options, label: string): Promise<Server> {
  const execArgv = o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${label}-${Date.now()}.cpuprofile`] : [];
  const child: ChildProcess = fork(serverScript, [], {
    cwd: here,
    env: { ...process.env, ...env, BENCH_MODE: mode },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waiters: Array<(m: ServerMessage) => void> = [];
  child.on('message', (m: ServerMessage) => waiters.shift()?.(m));
  const next = () =>
    new Promise<ServerMessage>((resolve, reject) => {
      waiters.push(resolve);
      void exited.then((code) => reject(new Error(`${mode} server exited (code ${code})`)));
    });
  const ready = await next();
  if (ready.type === 'failed') throw new Error(`${mode} server failed to start:\n${ready.error}`);
  if (ready.type !== 'ready') throw new Error(`${mode} server said ${ready.type} first`);
  const ask = (m: ParentMessage) => child.send(m);
  return {
    url: ready.url,
    ...(ready.apiKey ? { apiKey: ready.apiKey } : {}),
    ...(ready.merchantId ? { merchantId: ready.merchantId } : {}),
    async snapshot() {
      const reply = next();
      ask({ type: 'snapshot' });
      const m = await reply;
      if (m.type !== 'snapshot') throw new Error(`${mode} server answered ${m.type} to a snapshot`);
      return m;
    },
    async stop() {
      ask({ type: 'stop' });
      const code = await exited;
      if (code !== 0) throw new Error(`${mode} server exited with code ${code}`);
    },
  };
}

/**
 * `idem serve` as users run it (docs/performance.md, "What is measured"): the built binary in a process of its own, PostgreSQL
 * and Redis from its environment, `--sandbox` for the simulated gateways, its default logging
 * (LOG_LEVEL info, a line per request) on stdout into `logFile`. A merchant is made first with
 * `idem merchant create`. CPU is read from `/proc` (Linux); it counts nothing (use --in-process
 * with --diagnose).
 */
async function startIdemServe(env: Omit<ServerEnv, 'BENCH_MODE'>, o: Options, label: string, logFile: string): Promise<Server & { apiKey: string; merchantId: string }> {
  const childEnv = { ...process.env, ...idemEnv(env) };
  delete childEnv.LOG_LEVEL;
  const made = execFileSync(process.execPath, [idemCli, 'merchant', 'create', `bench-${label}`], { env: childEnv, encoding: 'utf8' });
  const merchantId = /^merchant (\S+)$/m.exec(made)?.[1];
  const apiKey = /^api key (\S+)$/m.exec(made)?.[1];
  if (!merchantId || !apiKey) throw new Error(`idem merchant create printed no merchant and key:\n${made}`);
  const execArgv = o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${label}-${Date.now()}.cpuprofile`] : [];
  // Its output straight into the file, as `idem serve > file` (no pipe through this process,
  // which is the load generator); the address is read back from the file.
  const out = openSync(logFile, 'w');
  const child = spawn(process.execPath, [...execArgv, idemCli, 'serve', '--sandbox', '--host', '127.0.0.1', '--port', '0'], { env: childEnv, stdio: ['ignore', out, 'inherit'] });
  closeSync(out);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve((exitCode = code))));
  let url: string | undefined;
  for (const started = Date.now(); url === undefined; await new Promise((r) => setTimeout(r, 50))) {
    const head = readFileSync(logFile, 'utf8');
    url = /Idem listening on (http:\/\/\S+)/.exec(head)?.[1];
    if (url === undefined && exitCode !== undefined) throw new Error(`idem serve exited (code ${exitCode}) before listening:\n${head}`);
    if (url === undefined && Date.now() - started > 60_000) throw new Error(`idem serve did not listen within 60 s:\n${head}`);
  }
  const pid = child.pid!;
  return {
    url,
    apiKey,
    merchantId,
    async snapshot() {
      const cpuMicros = processCpuMicros(pid);
      if (cpuMicros === null) throw new Error('the CPU of idem serve is read from /proc: Linux only');
      return { cpuMicros, counts: null };
    },
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      await rm(logFile, { force: true });
      if (code !== 0) throw new Error(`idem serve exited with code ${code}`);
    },
  };
}

// ——— measurements ————————————————————————————————————————————————————————————————————————

interface Measurement {
  name: string;
  result: LoadResult;
  /** CPU (user + system) of the server process per response, in microseconds. */
  serverCpuMicros: number;
  /** CPU of the PostgreSQL backends the server is connected to, per response (µs); Linux only. */
  pgCpuMicros: number | null;
  /** CPU used meanwhile by everything else on the machine, in CPUs (of `cpus().length`). */
  otherCpus: number | null;
  /** With --diagnose, per response. */
  sql?: { autocommit: number; inTransaction: number; transactions: number; roundTrips: number; byText: Record<string, number> };
  redis?: { total: number; byCommand: Record<string, number> };
  /** What the run checked and found wrong. */
  problems: string[];
}

/** A point in time, for CPU accounting over a measurement. */
interface Tally {
  wallMicros: number;
  server: number;
  loadGenerator: number;
  pgBackends: Map<number, number>;
  /** PostgreSQL's own processes (WAL writer, checkpointer…) and Redis: shared, but ours to count. */
  services: number;
  machine: number | null;
}

/** This process's own connections to the bench database, told apart from the server's. */
const RUNNER_APP = 'idem-bench-runner';

const PAYMENT_BODY = JSON.stringify({
  amount: 1999,
  currency: 'EUR',
  capture_method: 'manual',
  payment_method: { type: 'card', token: 'tok_bench_visa' },
  reference: 'bench',
});

/** A first request's answer: 201, not replayed, this request's key, in `status`. */
function firstAnswerCheck(status: 'authorized' | 'captured'): (r: CheckedResponse) => string | null {
  return (r) =>
    r.status !== 201
      ? 'status is not 201'
      : r.headers['idempotent-replayed'] !== 'false'
        ? 'not a first response'
        : !r.body.includes(`"idempotency_key":${JSON.stringify(r.key)}`)
          ? 'answer is for another key'
          : !r.body.includes(`"status":"${status}"`)
            ? `payment is not ${status}`
            : null;
}

/** A first request with manual capture, answered: authorized. */
const firstRequestCheck = firstAnswerCheck('authorized');
/** A first request with automatic capture, answered: captured. */
const capturedCheck = firstAnswerCheck('captured');

/** The latency row: concurrent clients, and the gateways' latency against zero. */
const LATENCY_CLIENTS = 400;
const GATEWAY_LATENCY_MS = 100;

/** The same key with another body: both Idem and Powertools must refuse it (422). */
const CHANGED_BODY = JSON.stringify({ ...JSON.parse(PAYMENT_BODY), amount: 2000 });

/** End to end: create and capture in one request (authorize + capture at the gateway). */
const AUTOMATIC_BODY = JSON.stringify({ ...JSON.parse(PAYMENT_BODY), capture_method: 'automatic' });

/** The overload row's connection counts; the first is the baseline the others are held to. */
const OVERLOAD_CONNECTIONS = [50, 400, 1_500];

/** A clean shed: 503, problem+json with code UNAVAILABLE, and a Retry-After in seconds. */
function cleanShed(r: CheckedResponse): boolean {
  return (
    r.status === 503 &&
    /^\d+$/.test(r.headers['retry-after'] ?? '') &&
    (r.headers['content-type'] ?? '').startsWith('application/problem+json') &&
    r.body.includes('"code":"UNAVAILABLE"')
  );
}

class Bench {
  private readonly runId = randomBytes(4).toString('hex');
  readonly measurements: Measurement[] = [];
  /** Idem's replay and Powertools' replay, measured one after the other in each round. */
  readonly replayRounds: Array<{ idem: Measurement; peer: Measurement }> = [];
  /** First requests at 0 ms and at GATEWAY_LATENCY_MS of gateway latency, one pair per round. */
  readonly latencyRounds: Array<{ zero: Measurement; slow: Measurement }> = [];
  /** First requests on nearly empty tables and on grown ones, one pair per round. */
  readonly growthRounds: Array<{ empty: Measurement; grown: Measurement }> = [];
  /** First requests through 1, 2 and 3 instances, one triple per round. */
  /** The sweeper row: how long the expired keys took, and first requests meanwhile. */
  sweep: { keys: number; seconds: number; during: Measurement } | null = null;
  sweepQuiet: Measurement | null = null;
  readonly instanceRounds: Array<{ one: Measurement; two: Measurement; three: Measurement }> = [];
  /** The overload row: one run per connection count, shedding on, then 1,500 with it off. */
  readonly overloadRuns: Array<{ connections: number; shedding: boolean; polite: boolean; m: Measurement }> = [];
  /** The bare INSERT route in 1, 2 and 3 processes, in the same rounds. */
  readonly instanceBaselineRounds: Array<{ one: Measurement; two: Measurement; three: Measurement }> = [];
  /** The PostgreSQL pool each instance of the instances row had. */
  instancePoolMax: number | null = null;
  private admin!: pg.Client;
  private benchDb!: pg.Pool;
  private redis!: Redis;
  private redisPid: number | null = null;
  private readonly dbName = `idem_bench_${this.runId}`;
  /** Every database this run created (the growth row adds one). */
  private readonly dbNames = [this.dbName];
  private databaseUrl = '';
  private readonly merchants: string[] = [];

  constructor(readonly o: Options) {}

  async open(): Promise<void> {
    this.admin = new pg.Client({ connectionString: this.o.pgAdminUrl, application_name: RUNNER_APP });
    await this.admin.connect();
    await this.admin.query(`CREATE DATABASE ${this.dbName}`);
    const url = new URL(this.o.pgAdminUrl);
    url.pathname = '/' + this.dbName;
    this.databaseUrl = url.toString();
    this.benchDb = new pg.Pool({ connectionString: this.databaseUrl, max: 2, application_name: RUNNER_APP });
    // DROP DATABASE … WITH (FORCE) at the end may still find one of these connections.
    this.benchDb.on('error', () => {});
    await this.benchDb.query(`CREATE TABLE ${BASELINE_TABLE} (id text PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
    this.redis = new Redis(this.o.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await this.redis.connect();
    const pid = /^process_id:(\d+)/m.exec(await this.redis.info('server'))?.[1];
    // Only a Redis on this machine has its CPU in /proc.
    if (pid !== undefined && processCpuMicros(Number(pid)) !== null) this.redisPid = Number(pid);
  }

  async close(): Promise<void> {
    if (this.redis) {
      for (const m of this.merchants) await this.deleteRedisKeys(`idem:{${m}:*`);
      await this.deleteRedisKeys(`idem-bench:${this.runId}:*`);
      this.redis.disconnect();
    }
    await this.benchDb?.end();
    if (this.admin) {
      for (const name of this.dbNames) {
        await this.admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((err: Error) => console.error(`could not drop ${name}: ${err.message}`));
      }
      await this.admin.end();
    }
  }

  private async deleteRedisKeys(pattern: string): Promise<void> {
    let cursor = '0';
    do {
      const [nextCursor, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length > 0) await this.redis.unlink(...keys);
    } while (cursor !== '0');
  }

  private serverEnv(extra: Partial<ServerEnv> = {}): Omit<ServerEnv, 'BENCH_MODE'> {
    return {
      BENCH_DATABASE_URL: this.databaseUrl,
      BENCH_REDIS_URL: this.o.redisUrl,
      ...(this.o.diagnose ? { BENCH_COUNT_QUERIES: '1' as const } : {}),
      ...extra,
    };
  }

  private async tally(serverCpu: number): Promise<Tally> {
    const { rows } = await this.admin.query<{ pid: number; ours: boolean }>(
      `SELECT pid, datname IS NOT NULL AS ours FROM pg_stat_activity
        WHERE (datname = ANY($1::text[]) AND application_name <> $2) OR datname IS NULL`,
      [this.dbNames, RUNNER_APP],
    );
    const pgBackends = new Map<number, number>();
    let services = this.redisPid === null ? 0 : (processCpuMicros(this.redisPid) ?? 0);
    for (const { pid, ours } of rows) {
      const cpu = processCpuMicros(pid);
      if (cpu === null) continue;
      if (ours) pgBackends.set(pid, cpu);
      else services += cpu;
    }
    const own = process.cpuUsage();
    return {
      wallMicros: performance.now() * 1000,
      server: serverCpu,
      loadGenerator: own.user + own.system,
      pgBackends,
      services,
      machine: machineCpuMicros(),
    };
  }

  /** Warm-up, then the measured run, with where the CPU went per response. */
  private async measure(
    name: string,
    server: Server,
    spec: Omit<LoadSpec, 'durationS' | 'connections' | 'url'> & { connections?: number; polite?: boolean },
  ): Promise<{ m: Measurement; warm: LoadResult }> {
    const load = spec.polite ? politeLoad : autocannonLoad;
    process.stdout.write(`  ${name}: warm-up ${this.o.warmupS} s`);
    // A checkpoint now, so no measurement pays for the previous one's dirty pages.
    await this.admin.query('CHECKPOINT');
    const base = { url: server.url, connections: spec.connections ?? this.o.connections, ...(this.o.rate ? { rate: this.o.rate } : {}) };
    const warm = await load({ ...base, ...spec, durationS: this.o.warmupS, ...(spec.uniqueKeyPrefix ? { uniqueKeyPrefix: spec.uniqueKeyPrefix + 'w-' } : {}) });
    const problems: string[] = [];
    if (!clean(warm)) problems.push(`warm-up: ${describeFailures(warm)}`);
    process.stdout.write(`, measuring ${this.o.durationS} s`);
    const before = await server.snapshot();
    const t0 = await this.tally(before.cpuMicros);
    const result = await load({ ...base, ...spec, durationS: this.o.durationS });
    const after = await server.snapshot();
    const t1 = await this.tally(after.cpuMicros);
    process.stdout.write(`: ${Math.round(result.rps)} req/s\n`);
    if (!clean(result)) problems.push(describeFailures(result));

    const n = Math.max(1, result.responses);
    let pg = 0;
    for (const [pid, cpu] of t1.pgBackends) pg += cpu - (t0.pgBackends.get(pid) ?? 0);
    const ours = t1.server - t0.server + (t1.loadGenerator - t0.loadGenerator) + pg + (t1.services - t0.services);
    const m: Measurement = {
      name,
      result,
      serverCpuMicros: (after.cpuMicros - before.cpuMicros) / n,
      pgCpuMicros: t1.pgBackends.size > 0 ? pg / n : null,
      otherCpus: t0.machine !== null && t1.machine !== null ? Math.max(0, t1.machine - t0.machine - ours) / (t1.wallMicros - t0.wallMicros) : null,
      problems,
    };
    if (before.counts && after.counts) {
      const b = before.counts;
      const a = after.counts;
      const perText = (x: Record<string, number>, y: Record<string, number>) => {
        const out: Record<string, number> = {};
        for (const [k, c] of Object.entries(y)) if (c > (x[k] ?? 0)) out[k] = (c - (x[k] ?? 0)) / n;
        return out;
      };
      const autocommit = (a.autocommit - b.autocommit) / n;
      const inTransaction = (a.inTransaction - b.inTransaction) / n;
      const transactions = (a.transactions - b.transactions) / n;
      m.sql = { autocommit, inTransaction, transactions, roundTrips: autocommit + inTransaction + 2 * transactions, byText: perText(b.byText, a.byText) };
      const byCommand = perText(b.redis, a.redis);
      m.redis = { total: Object.values(byCommand).reduce((s, v) => s + v, 0), byCommand };
    }
    this.measurements.push(m);
    return { m, warm };
  }

  private async startIdem(label: string, extra: Partial<ServerEnv> = {}): Promise<Server & { apiKey: string; merchantId: string }> {
    // Each Idem server logs as `idem serve` does into a file of its own (removed when it stops).
    const logFile = join(tmpdir(), `idem-bench-${this.runId}-${label}-${process.hrtime.bigint()}.log`);
    if (!this.o.inProcess) {
      const served = await startIdemServe(this.serverEnv(extra), this.o, label, logFile);
      this.merchants.push(served.merchantId);
      return served;
    }
    const log = this.o.loggerOff ? {} : { BENCH_IDEM_LOG_FILE: logFile };
    const server = await startServer('idem', this.serverEnv({ ...log, ...extra }), this.o, label);
    if (!server.apiKey || !server.merchantId) throw new Error('idem server did not hand over a merchant');
    this.merchants.push(server.merchantId);
    return server as Server & { apiKey: string; merchantId: string };
  }

  /**
   * Replay through Idem and through AWS Powertools idempotency (Redis persistence) in
   * alternating rounds, both servers up throughout; then the Redis GET baseline sending the
   * same bytes. Both subjects are first shown to refuse another body under the same key (422).
   */
  async replay(): Promise<void> {
    const idem = await this.startIdem('idem-replay');
    let storedBody: string;
    let peer: Server | undefined;
    try {
      const key = `bench-${this.runId}-replay`;
      const headers = { authorization: `Bearer ${idem.apiKey}`, 'idempotency-key': key };
      const first = await post(idem.url, headers, PAYMENT_BODY);
      if (first.status !== 201 || first.replayed !== 'false') throw new Error(`setup: first request answered ${first.status} (replayed ${first.replayed}): ${first.body}`);
      const again = await post(idem.url, headers, PAYMENT_BODY);
      if (again.status !== 201 || again.replayed !== 'true' || again.body !== first.body) {
        throw new Error(`setup: the replay is not the stored response (${again.status}, replayed ${again.replayed})`);
      }
      const changed = await post(idem.url, headers, CHANGED_BODY);
      if (changed.status !== 422) throw new Error(`setup: Idem answered ${changed.status} to another body under the same key`);
      storedBody = first.body;

      peer = await startServer('powertools', this.serverEnv({ BENCH_RESPONSE_BODY: storedBody, BENCH_REDIS_KEY: `idem-bench:${this.runId}:powertools` }), this.o, 'powertools');
      const peerHeaders = { authorization: 'Bearer sk_unused', 'idempotency-key': key };
      const p1 = await post(peer.url, peerHeaders, PAYMENT_BODY);
      const p2 = await post(peer.url, peerHeaders, PAYMENT_BODY);
      const p3 = await post(peer.url, peerHeaders, CHANGED_BODY);
      if (p1.status !== 201 || p1.body !== storedBody || p2.status !== 201 || p2.body !== storedBody) {
        throw new Error(`setup: Powertools did not store and replay the response (${p1.status}, ${p2.status}): ${p2.body.slice(0, 200)}`);
      }
      if (p3.status !== 422) throw new Error(`setup: Powertools answered ${p3.status} to another body under the same key`);

      const idemSpec = {
        path: '/v1/payments',
        headers,
        body: PAYMENT_BODY,
        check: (r: CheckedResponse) =>
          r.status !== 201
            ? 'status is not 201'
            : r.headers['idempotent-replayed'] !== 'true'
              ? 'not marked replayed'
              : r.body !== storedBody
                ? 'body differs from the stored response'
                : null,
      };
      const peerSpec = {
        path: '/v1/payments',
        headers: peerHeaders,
        body: PAYMENT_BODY,
        check: (r: CheckedResponse) => (r.status !== 201 ? 'status is not 201' : r.body !== storedBody ? 'body differs from the stored response' : null),
      };
      for (let round = 1; round <= this.o.rounds; round++) {
        // Alternate which goes first, so neither always runs on the warmer (or busier) machine.
        const idemFirst = round % 2 === 1;
        const run = async (which: 'idem' | 'peer') =>
          which === 'idem'
            ? (await this.measure(`replay (Redis cache) #${round}`, idem, idemSpec)).m
            : (await this.measure(`Powertools idempotency replay #${round}`, peer!, peerSpec)).m;
        const a = await run(idemFirst ? 'idem' : 'peer');
        const b = await run(idemFirst ? 'peer' : 'idem');
        this.replayRounds.push(idemFirst ? { idem: a, peer: b } : { idem: b, peer: a });
      }
    } finally {
      await idem.stop();
      await peer?.stop();
    }

    const redisKey = `idem-bench:${this.runId}:replay`;
    await this.redis.set(redisKey, storedBody);
    const baseline = await startServer('redis-get', this.serverEnv({ BENCH_REDIS_KEY: redisKey }), this.o, 'baseline-redis-get');
    try {
      await this.measure('baseline: fastify + 1 Redis GET', baseline, {
        path: '/v1/payments',
        headers: { authorization: 'Bearer sk_unused', 'idempotency-key': 'unused' },
        body: PAYMENT_BODY,
        check: (r) => (r.status !== 201 ? 'status is not 201' : r.body !== storedBody ? 'body differs from the value in Redis' : null),
      });
    } finally {
      await baseline.stop();
    }
  }

  /** The INSERT baseline, then first requests through Idem, then an exactly-once audit. */
  async first(): Promise<void> {
    const baseline = await startServer('pg-insert', this.serverEnv(), this.o, 'baseline-pg-insert');
    try {
      await this.measure('baseline: fastify + 1 PG INSERT', baseline, {
        path: '/v1/payments',
        headers: { authorization: 'Bearer sk_unused' },
        body: PAYMENT_BODY,
        uniqueKeyPrefix: `bench-${this.runId}-insert-`,
        check: (r) => (r.status !== 201 ? 'status is not 201' : r.body !== JSON.stringify({ id: r.key }) ? 'answer is for another request' : null),
      });
    } finally {
      await baseline.stop();
    }

    // The data model's floor (docs/performance.md, "What is measured"): the rows a first request writes, in two statements.
    const sameWrites = await startServer('same-writes', this.serverEnv(), this.o, 'baseline-same-writes');
    try {
      await this.measure('baseline: fastify + the same writes', sameWrites, {
        path: '/v1/payments',
        headers: { authorization: 'Bearer sk_unused' },
        body: PAYMENT_BODY,
        uniqueKeyPrefix: `bench-${this.runId}-same-`,
        check: (r) =>
          r.status !== 201 ? 'status is not 201' : !r.body.includes(`"idempotency_key":${JSON.stringify(r.key)}`) ? 'answer is for another key' : !r.body.includes('"status":"authorized"') ? 'payment is not authorized' : null,
      });
    } finally {
      await sameWrites.stop();
    }

    const idem = await this.startIdem('idem-first');
    let measured: { m: Measurement; warm: LoadResult };
    try {
      measured = await this.measure('first request (full gate)', idem, {
        path: '/v1/payments',
        headers: { authorization: `Bearer ${idem.apiKey}` },
        body: PAYMENT_BODY,
        uniqueKeyPrefix: `bench-${this.runId}-first-`,
        check: firstRequestCheck,
        // Idem as users run it sheds what its adaptive limit does not admit: a clean 503 is counted apart, and the ratio is of answers admitted.
        shed: cleanShed,
      });
      // Requests the load generator stopped waiting for at the end are still running.
      await this.drain(idem.merchantId);
    } finally {
      await idem.stop();
    }
    measured.m.problems.push(...(await this.auditExactlyOnce(idem.merchantId, measured.m.result.ok + measured.warm.ok)));
  }

  /**
   * End-to-end payments per second: create + automatic capture (two gateway operations through
   * the in-process simulator with zero latency, two journal entries) against the same INSERT
   * baseline, measured in this run by `first()`.
   */
  async endToEnd(): Promise<void> {
    const idem = await this.startIdem('idem-e2e');
    let measured: { m: Measurement; warm: LoadResult };
    try {
      measured = await this.measure('end to end (create + capture)', idem, {
        path: '/v1/payments',
        headers: { authorization: `Bearer ${idem.apiKey}` },
        body: AUTOMATIC_BODY,
        uniqueKeyPrefix: `bench-${this.runId}-e2e-`,
        check: capturedCheck,
        // Idem as users run it sheds what its adaptive limit does not admit: a clean 503 is counted apart, and the ratio is of answers admitted.
        shed: cleanShed,
      });
      await this.drain(idem.merchantId);
    } finally {
      await idem.stop();
    }
    const q = async (sql: string) => Number((await this.benchDb.query<{ n: string }>(sql, [idem.merchantId])).rows[0]!.n);
    const duplicated = await q(`SELECT count(*) AS n FROM (SELECT idempotency_key FROM payments WHERE merchant_id = $1 GROUP BY 1 HAVING count(*) > 1) d`);
    const notCaptured = await q(`SELECT count(*) AS n FROM payments WHERE merchant_id = $1 AND status <> 'captured'`);
    if (duplicated > 0) measured.m.problems.push(`${duplicated} idempotency keys created more than one payment`);
    if (notCaptured > 0) measured.m.problems.push(`${notCaptured} payments are not captured`);
  }

  /**
   * Realistic gateways: first requests with 400 concurrent clients against simulated gateways
   * answering after 0 ms and after 100 ms, in alternating rounds. While a call is in flight the
   * request holds no database connection and no lock but its key's, so the 100 ms figure should
   * stay near the 0 ms one (goal ≥ 0.8); every answer checked and every payment audited.
   */
  async latency(): Promise<void> {
    const clients = LATENCY_CLIENTS;
    for (let round = 1; round <= this.o.rounds; round++) {
      const order = round % 2 === 1 ? [0, GATEWAY_LATENCY_MS] : [GATEWAY_LATENCY_MS, 0];
      const got: Record<number, Measurement> = {};
      for (const ms of order) {
        const idem = await this.startIdem(`idem-latency-${ms}`, { BENCH_GATEWAY_LATENCY_MS: String(ms) });
        let measured: { m: Measurement; warm: LoadResult };
        try {
          measured = await this.measure(`first request, ${clients} clients, gateway ${ms} ms #${round}`, idem, {
            path: '/v1/payments',
            headers: { authorization: `Bearer ${idem.apiKey}` },
            body: PAYMENT_BODY,
            connections: clients,
            uniqueKeyPrefix: `bench-${this.runId}-lat${ms}-${round}-`,
            check: firstRequestCheck,
            shed: cleanShed,
          });
          await this.drain(idem.merchantId);
        } finally {
          await idem.stop();
        }
        measured.m.problems.push(...(await this.auditExactlyOnce(idem.merchantId, measured.m.result.ok + measured.warm.ok, clients)));
        got[ms] = measured.m;
      }
      this.latencyRounds.push({ zero: got[0]!, slow: got[GATEWAY_LATENCY_MS]! });
    }
  }

  /**
   * Costs that stay flat as tables grow: first requests against the bench database (nearly
   * empty) and against a second one holding `--growth-rows` completed keys and payments
   * (bulk-loaded with generate_series, then analysed), in alternating rounds. Goal ≥ 0.9.
   */
  async growth(): Promise<void> {
    // Two databases of the row's own, migrated: the bench database has taken the other rows'
    // traffic by now (and its events wait for the relay), so it is not the empty one.
    const fresh = async (suffix: string) => {
      const name = `${this.dbName}_${suffix}`;
      await this.admin.query(`CREATE DATABASE ${name}`);
      this.dbNames.push(name);
      const url = new URL(this.o.pgAdminUrl);
      url.pathname = '/' + name;
      const db = openPostgres(url.toString());
      try {
        await migrate(db);
      } finally {
        await db.close();
      }
      const pool = new pg.Pool({ connectionString: url.toString(), max: 2, application_name: RUNNER_APP });
      pool.on('error', () => {});
      return { url: url.toString(), pool };
    };
    const { url: emptyUrl, pool: empty } = await fresh('empty');
    const { url: grownUrl, pool: grown } = await fresh('grown');
    try {
      const n = this.o.growthRows;
      process.stdout.write(`  growth: loading ${n.toLocaleString('en-US')} completed keys and payments`);
      const t0 = Date.now();
      await grown.query(`INSERT INTO merchants (id, name) VALUES ('mer_growth', 'growth')`);
      await grown.query(
        `INSERT INTO payments (id, merchant_id, amount, currency, capture_method, status, token, idempotency_key, amount_authorized, created_at, updated_at)
         SELECT 'pay_growth_' || g, 'mer_growth', 1999, 'EUR', 'manual', 'authorized', 'tok_bench_visa', 'growth-' || g, 1999,
                now() - interval '1 hour', now() - interval '1 hour'
           FROM generate_series(1, $1::int) g`,
        [n],
      );
      await grown.query(
        `INSERT INTO idempotency_keys (merchant_id, key, fingerprint, method, path, state, fence, resource_id,
                                       response_status, response_type, response_body, created_at, completed_at, expires_at)
         SELECT 'mer_growth', 'growth-' || g, md5(g::text), 'POST', '/v1/payments', 'completed', nextval('idempotency_fence_seq'), 'pay_growth_' || g,
                201, 'application/json', '{}', now() - interval '1 hour', now() - interval '1 hour', now() + interval '1 day'
           FROM generate_series(1, $1::int) g`,
        [n],
      );
      await grown.query('VACUUM ANALYZE');
      process.stdout.write(` (${Math.round((Date.now() - t0) / 1000)} s)\n`);

      for (let round = 1; round <= this.o.rounds; round++) {
        const order: Array<'empty' | 'grown'> = round % 2 === 1 ? ['empty', 'grown'] : ['grown', 'empty'];
        const got: Partial<Record<'empty' | 'grown', Measurement>> = {};
        for (const which of order) {
          const pool = which === 'empty' ? empty : grown;
          const idem = await this.startIdem(`idem-growth-${which}`, { BENCH_DATABASE_URL: which === 'grown' ? grownUrl : emptyUrl });
          let measured: { m: Measurement; warm: LoadResult };
          try {
            measured = await this.measure(
              which === 'empty' ? `first request, empty tables #${round}` : `first request, ${n.toLocaleString('en-US')} keys and payments stored #${round}`,
              idem,
              { path: '/v1/payments', headers: { authorization: `Bearer ${idem.apiKey}` }, body: PAYMENT_BODY, uniqueKeyPrefix: `bench-${this.runId}-g${which}-${round}-`, check: firstRequestCheck, shed: cleanShed },
            );
            await this.drain(idem.merchantId, pool);
          } finally {
            await idem.stop();
          }
          measured.m.problems.push(...(await this.auditExactlyOnce(idem.merchantId, measured.m.result.ok + measured.warm.ok, this.o.connections, pool)));
          got[which] = measured.m;
        }
        this.growthRounds.push({ empty: got.empty!, grown: got.grown! });
      }
    } finally {
      await grown.end();
      await empty.end();
    }
  }

  /**
   * Scale-out: 1, 2 and 3 Idem instances on the same PostgreSQL and Redis, the same total
   * connections split between them, first requests (new keys) as fast as answered; aggregate
   * throughput against one instance's (goal ≥ 0.9 for every count), every answer checked and
   * every instance's payments audited exactly-once. Rounds alternate the order of the counts.
   */
  async instances(): Promise<void> {
    const pool = await this.instancePool(3);
    this.instancePoolMax = pool;
    let cluster: RedisCluster | null = null;
    if (this.o.redisCluster) {
      cluster = await startRedisCluster(3);
      process.stdout.write(`  instances: on a private three-node Redis Cluster (${cluster.url})\n`);
    }
    const redis = cluster ? { BENCH_REDIS_URL: cluster.url } : {};
    try {
      await this.measureInstanceCounts(pool, redis);
    } finally {
      await cluster?.stop();
    }
  }

  /**
   * Each instance's PostgreSQL pool for the instances row: `--pg-pool-max`, or Idem's default
   * (20) if `n` such pools fit in what PostgreSQL has free now (max_connections less the
   * superuser reserve, the client connections already open and a margin of 10 for other work
   * that starts meanwhile), else the largest pool that fits. Fails, saying why, below 4.
   */
  private async instancePool(n: number): Promise<number> {
    const setting = async (name: string) => Number((await this.admin.query<{ setting: string }>('SELECT setting FROM pg_settings WHERE name = $1', [name])).rows[0]!.setting);
    const max = await setting('max_connections');
    const reserved = await setting('superuser_reserved_connections');
    const used = Number((await this.admin.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend'`)).rows[0]!.n);
    const free = max - reserved - used - 10;
    const size = this.o.pgPoolMax ?? Math.min(DEFAULT_PG_POOL_MAX, Math.floor(free / n));
    const why = `max_connections ${max}, ${reserved} reserved, ${used} in use, margin 10: ${free} free for ${n} instances`;
    if (size < 4) throw new Error(`the instances row needs a PostgreSQL pool of at least 4 per instance; ${why}. Raise max_connections or stop other work.`);
    if (size * n > free) process.stdout.write(`  instances: warning: --pg-pool-max ${size} x ${n} is more than PostgreSQL has free (${why})\n`);
    process.stdout.write(`  instances: PostgreSQL pool of ${size} per instance (${why})\n`);
    return size;
  }

  private async measureInstanceCounts(pool: number, redis: Partial<ServerEnv>): Promise<void> {
    for (let round = 1; round <= this.o.rounds; round++) {
      const counts = round % 2 === 1 ? [1, 2, 3] : [3, 2, 1];
      const got: Record<number, Measurement> = {};
      const base: Record<number, Measurement> = {};
      for (const n of counts) {
        const servers: Array<Server & { apiKey: string; merchantId: string }> = [];
        try {
          for (let i = 0; i < n; i++) servers.push(await this.startIdem(`idem-x${n}-${i}`, { BENCH_PG_POOL_MAX: String(pool), ...redis }));
          const name = `first request, ${n} instance${n > 1 ? 's' : ''} #${round}`;
          process.stdout.write(`  ${name}: warm-up ${this.o.warmupS} s`);
          await this.admin.query('CHECKPOINT');
          const per = Math.max(1, Math.floor(this.o.connections / n));
          const spec = (sv: Server & { apiKey: string }, i: number, durationS: number, tag: string): LoadSpec => ({
            url: sv.url,
            path: '/v1/payments',
            connections: per,
            durationS,
            headers: { authorization: `Bearer ${sv.apiKey}` },
            body: PAYMENT_BODY,
            uniqueKeyPrefix: `bench-${this.runId}-x${n}-${round}-${i}-${tag}-`,
            check: firstRequestCheck,
            shed: cleanShed,
          });
          const { warm, results, result, cpuMicros } = await this.loadSplit(servers, spec);
          const problems: string[] = [];
          // A warm-up is judged on what it answered, not on answering within its seconds: a cold
          // instance (new pool, statements not yet prepared) on a busy machine may not.
          warm.forEach((w, i) => {
            if (w.errors + w.timeouts + (w.non2xx - w.shed) + w.wrong > 0) problems.push(`instance ${i + 1} warm-up: ${describeFailures(w)}`);
          });
          if (!clean(result)) problems.push(describeFailures(result));
          results.forEach((r, i) => {
            if (r.ok === 0) problems.push(`instance ${i + 1} answered nothing in the measured ${this.o.durationS} s`);
          });
          for (const sv of servers) await this.drain(sv.merchantId);
          for (let i = 0; i < n; i++) {
            problems.push(...(await this.auditExactlyOnce(servers[i]!.merchantId, results[i]!.ok + warm[i]!.ok, per)).map((p) => `instance ${i + 1}: ${p}`));
          }
          const m: Measurement = { name, result, serverCpuMicros: cpuMicros / Math.max(1, result.responses), pgCpuMicros: null, otherCpus: null, problems };
          this.measurements.push(m);
          got[n] = m;
        } finally {
          for (const sv of servers) await sv.stop();
        }
        base[n] = await this.baselineSplit(n, round);
      }
      this.instanceRounds.push({ one: got[1]!, two: got[2]!, three: got[3]! });
      this.instanceBaselineRounds.push({ one: base[1]!, two: base[2]!, three: base[3]! });
    }
  }

  /**
   * One load split over several servers at once: a warm-up, then the measured run; rates and
   * counts summed, latencies the worst server's, and the servers' CPU over the measured run.
   */
  private async loadSplit<S extends Server>(
    servers: S[],
    spec: (sv: S, i: number, durationS: number, tag: string) => LoadSpec,
  ): Promise<{ warm: LoadResult[]; results: LoadResult[]; result: LoadResult; cpuMicros: number }> {
    const warm = await Promise.all(servers.map((sv, i) => autocannonLoad(spec(sv, i, this.o.warmupS, 'w'))));
    process.stdout.write(`, measuring ${this.o.durationS} s`);
    const before = await Promise.all(servers.map((sv) => sv.snapshot()));
    const results = await Promise.all(servers.map((sv, i) => autocannonLoad(spec(sv, i, this.o.durationS, 'm'))));
    const after = await Promise.all(servers.map((sv) => sv.snapshot()));
    const sum = (f: (r: LoadResult) => number) => results.reduce((t, r) => t + f(r), 0);
    const result: LoadResult = {
      rps: sum((r) => r.rps),
      responses: sum((r) => r.responses),
      ok: sum((r) => r.ok),
      durationS: this.o.durationS,
      latencyP50Ms: Math.max(...results.map((r) => r.latencyP50Ms)),
      latencyP99Ms: Math.max(...results.map((r) => r.latencyP99Ms)),
      non2xx: sum((r) => r.non2xx),
      errors: sum((r) => r.errors),
      timeouts: sum((r) => r.timeouts),
      wrong: sum((r) => r.wrong),
      shed: sum((r) => r.shed),
      samples: results.flatMap((r) => r.samples).slice(0, 3),
    };
    process.stdout.write(`: ${Math.round(result.rps)} req/s\n`);
    return { warm, results, result, cpuMicros: after.reduce((t, a, i) => t + a.cpuMicros - before[i]!.cpuMicros, 0) };
  }

  /**
   * The instances row's baseline: the bare INSERT route in `n` processes, the same connections
   * split between them, so the row shows what splitting one load over more processes than
   * cores costs a route that does almost nothing.
   */
  private async baselineSplit(n: number, round: number): Promise<Measurement> {
    const servers: Server[] = [];
    try {
      for (let i = 0; i < n; i++) servers.push(await startServer('pg-insert', this.serverEnv(), this.o, `baseline-x${n}-${i}`));
      const name = `bare INSERT route, ${n} process${n > 1 ? 'es' : ''} #${round}`;
      process.stdout.write(`  ${name}: warm-up ${this.o.warmupS} s`);
      const per = Math.max(1, Math.floor(this.o.connections / n));
      const spec = (sv: Server, i: number, durationS: number, tag: string): LoadSpec => ({
        url: sv.url,
        path: '/v1/payments',
        connections: per,
        durationS,
        headers: { authorization: 'Bearer sk_unused' },
        body: PAYMENT_BODY,
        uniqueKeyPrefix: `bench-${this.runId}-bx${n}-${round}-${i}-${tag}-`,
        check: (r) => (r.status !== 201 ? 'status is not 201' : null),
      });
      const { result, cpuMicros } = await this.loadSplit(servers, spec);
      const m: Measurement = { name, result, serverCpuMicros: cpuMicros / Math.max(1, result.responses), pgCpuMicros: null, otherCpus: null, problems: clean(result) ? [] : [describeFailures(result)] };
      this.measurements.push(m);
      return m;
    } finally {
      for (const sv of servers) await sv.stop();
    }
  }

  /**
   * The key sweeper under load: `--sweep-rows` completed keys already expired are loaded, then
   * first requests run against an instance whose sweeper starts at once (a 100 ms interval);
   * the row reports how fast the expired keys went and first-request p99 meanwhile, against a
   * run of the same length with nothing to sweep (goals: ≥ 20,000 keys/s, p99 ≤ 1.2 ×).
   */
  async sweeper(): Promise<void> {
    const run = async (label: string, expired: number) => {
      if (expired > 0) {
        await this.benchDb.query(`INSERT INTO merchants (id, name) VALUES ('mer_sweep', 'sweep') ON CONFLICT DO NOTHING`);
        await this.benchDb.query(
          `INSERT INTO idempotency_keys (merchant_id, key, fingerprint, method, path, state, fence, response_status, response_type, response_body,
                                         created_at, completed_at, expires_at)
           SELECT 'mer_sweep', 'expired-' || g, md5(g::text), 'POST', '/v1/payments', 'completed', nextval('idempotency_fence_seq'), 201, 'application/json', '{}',
                  now() - interval '2 days', now() - interval '2 days', now() - interval '1 day'
             FROM generate_series(1, $1::int) g`,
          [expired],
        );
        await this.benchDb.query('ANALYZE idempotency_keys');
      }
      const idem = await this.startIdem(`idem-sweep-${expired}`, { BENCH_SWEEP_INTERVAL_MS: '100' });
      const left = async () => Number((await this.benchDb.query<{ n: string }>(`SELECT count(*) AS n FROM idempotency_keys WHERE merchant_id = 'mer_sweep'`)).rows[0]!.n);
      // Watched with one index probe every 250 ms: a count over a million rows every 50 ms
      // took more of the machine than the sweeper did, and showed as other load.
      const anyLeft = async () => (await this.benchDb.query(`SELECT 1 FROM idempotency_keys WHERE merchant_id = 'mer_sweep' LIMIT 1`)).rows.length > 0;
      const started = Date.now();
      let sweptAt: number | null = null;
      const watch = (async () => {
        if (expired === 0) return;
        while (Date.now() - started < (this.o.durationS + 60) * 1000) {
          if (!(await anyLeft())) {
            sweptAt = Date.now();
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      })();
      let measured: { m: Measurement; warm: LoadResult };
      try {
        measured = await this.measure(label, idem, {
          path: '/v1/payments',
          headers: { authorization: `Bearer ${idem.apiKey}` },
          body: PAYMENT_BODY,
          uniqueKeyPrefix: `bench-${this.runId}-sweep${expired}-`,
          check: firstRequestCheck,
          shed: cleanShed,
        });
        await watch;
        await this.drain(idem.merchantId);
      } finally {
        await idem.stop();
      }
      measured.m.problems.push(...(await this.auditExactlyOnce(idem.merchantId, measured.m.result.ok + measured.warm.ok)));
      if (expired > 0) {
        if (sweptAt === null) measured.m.problems.push(`${await left()} of ${expired} expired keys still there after ${this.o.durationS + 60} s`);
        else this.sweep = { keys: expired, seconds: (sweptAt - started) / 1000, during: measured.m };
      }
      return measured.m;
    };
    this.sweepQuiet = await run('first request, nothing to sweep', 0);
    await run(`first request while ${this.o.sweepRows.toLocaleString('en-US')} expired keys are swept`, this.o.sweepRows);
  }

  /**
   * Shedding overload (SPEC I10): first requests with automatic capture against a fresh
   * instance (PostgreSQL + Redis) per connection count, with its default concurrency limit;
   * then 1,500 connections with shedding off, for reference. Two kinds of client: autocannon,
   * which re-sends at once on every connection, a shed one too (with a new key) — the harshest
   * client there is, since it ignores Retry-After — and clients that wait out Retry-After and
   * send the same key again (`politeLoad`), as Idem's own do. Every answer is checked (a
   * capture for its own key, or a clean 503), and every run audited: no key shed left a row,
   * every admitted key made one payment.
   */
  async overload(): Promise<void> {
    const limit = openFilesLimit();
    const most = Math.max(...OVERLOAD_CONNECTIONS);
    if (limit !== null && limit < most + 200) throw new Error(`the overload row opens ${most} connections in this process and in the server's: raise ulimit -n (${limit}) to at least ${most + 200}`);
    process.stdout.write(`  overload: ulimit -n ${limit ?? 'unknown'}; the server's IDEM_MAX_CONNECTIONS is ${defaultServerLimits.maxConnections}\n`);
    const runs: Array<{ connections: number; shedding: boolean; polite: boolean }> = [
      ...OVERLOAD_CONNECTIONS.map((connections) => ({ connections, shedding: true, polite: false })),
      { connections: most, shedding: false, polite: false },
      ...OVERLOAD_CONNECTIONS.map((connections) => ({ connections, shedding: true, polite: true })),
    ];
    for (const { connections, shedding, polite } of runs) {
      const idem = await this.startIdem(`idem-overload-${connections}${shedding ? '' : '-off'}${polite ? '-polite' : ''}`, shedding ? {} : { BENCH_CONCURRENCY_LIMIT: 'off' });
      let measured: { m: Measurement; warm: LoadResult };
      try {
        measured = await this.measure(`overload, ${connections} ${polite ? 'clients honouring Retry-After' : 'connections (autocannon)'}${shedding ? '' : ', shedding off'}`, idem, {
          polite,
          path: '/v1/payments',
          headers: { authorization: `Bearer ${idem.apiKey}` },
          body: AUTOMATIC_BODY,
          connections,
          uniqueKeyPrefix: `bench-${this.runId}-ov${connections}${shedding ? '' : 'off'}${polite ? 'p' : ''}-`,
          check: capturedCheck,
          shed: cleanShed,
        });
        await this.drain(idem.merchantId);
      } finally {
        await idem.stop();
      }
      const q = async (sql: string) => Number((await this.benchDb.query<{ n: string }>(sql, [idem.merchantId])).rows[0]!.n);
      const payments = await q(`SELECT count(*) AS n FROM payments WHERE merchant_id = $1`);
      const keys = await q(`SELECT count(*) AS n FROM idempotency_keys WHERE merchant_id = $1`);
      const duplicated = await q(`SELECT count(*) AS n FROM (SELECT idempotency_key FROM payments WHERE merchant_id = $1 GROUP BY 1 HAVING count(*) > 1) d`);
      const notCaptured = await q(`SELECT count(*) AS n FROM payments WHERE merchant_id = $1 AND status <> 'captured'`);
      const answered = measured.m.result.ok + measured.warm.ok;
      const problems = measured.m.problems;
      if (duplicated > 0) problems.push(`${duplicated} idempotency keys created more than one payment`);
      if (notCaptured > 0) problems.push(`${notCaptured} payments are not captured`);
      // A shed request leaves nothing: every key stored is a payment made, and no more payments
      // than captures answered, but for those still in flight when the load generator stopped.
      if (keys !== payments) problems.push(`${keys} keys but ${payments} payments`);
      if (payments < answered || payments > answered + 2 * connections) problems.push(`${payments} payments for ${answered} answered 201`);
      this.overloadRuns.push({ connections, shedding, polite, m: measured.m });
    }
  }

  private async drain(merchantId: string, pool: pg.Pool = this.benchDb): Promise<void> {
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      const { rows } = await pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM idempotency_keys WHERE merchant_id = $1 AND state = 'in_progress'`,
        [merchantId],
      );
      if (rows[0]!.n === '0') return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * After the load: one payment per key, every key completed, every payment authorized with
   * one attempt, and at least as many payments as 201s seen (a few more only for requests still
   * in flight when the load generator stopped counting).
   */
  private async auditExactlyOnce(merchantId: string, answered: number, connections = this.o.connections, pool: pg.Pool = this.benchDb): Promise<string[]> {
    const q = async (sql: string) => Number((await pool.query<{ n: string }>(sql, [merchantId])).rows[0]!.n);
    const problems: string[] = [];
    const payments = await q(`SELECT count(*) AS n FROM payments WHERE merchant_id = $1`);
    const duplicated = await q(`SELECT count(*) AS n FROM (SELECT idempotency_key FROM payments WHERE merchant_id = $1 GROUP BY 1 HAVING count(*) > 1) d`);
    const open = await q(`SELECT count(*) AS n FROM idempotency_keys WHERE merchant_id = $1 AND state <> 'completed'`);
    const keys = await q(`SELECT count(*) AS n FROM idempotency_keys WHERE merchant_id = $1`);
    const notAuthorized = await q(`SELECT count(*) AS n FROM payments WHERE merchant_id = $1 AND status <> 'authorized'`);
    const attempts = await q(`SELECT count(*) AS n FROM payment_attempts a JOIN payments p ON p.id = a.payment_id WHERE p.merchant_id = $1`);
    if (duplicated > 0) problems.push(`${duplicated} idempotency keys created more than one payment`);
    if (open > 0) problems.push(`${open} idempotency keys were left in progress`);
    if (keys !== payments) problems.push(`${keys} keys but ${payments} payments`);
    if (notAuthorized > 0) problems.push(`${notAuthorized} payments are not authorized`);
    if (attempts !== payments) problems.push(`${attempts} attempts for ${payments} payments`);
    if (payments < answered || payments > answered + 2 * connections) problems.push(`${payments} payments for ${answered} answered 201`);
    return problems;
  }
}

async function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; replayed: string | null; body: string }> {
  const res = await fetch(url + '/v1/payments', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, replayed: res.headers.get('idempotent-replayed'), body: await res.text() };
}

/** This process's open-files limit (its children inherit it); null where the shell cannot say. */
function openFilesLimit(): number | null {
  try {
    const out = execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out) || null;
  } catch {
    return null;
  }
}

function describeFailures(r: LoadResult): string {
  const parts = [`${r.wrong} wrong answers`, `${r.non2xx - r.shed} non-2xx other than clean sheds`, `${r.errors} socket errors`, `${r.timeouts} timeouts`];
  if (r.ok === 0) parts.push('no right answer at all');
  return parts.join(', ') + (r.samples.length ? `; e.g. ${r.samples.join(' | ')}` : '');
}

// ——— report ——————————————————————————————————————————————————————————————————————————————

const GOALS = { replayVsPowertools: 1.2, replay: 0.7, first: 0.12, firstVsSameWrites: 0.8, endToEnd: 0.08, latency: 0.8, growth: 0.9, instances: 0.9, sweepKeysPerSecond: 20_000, sweepP99: 1.2 };

/**
 * Answers admitted per second: the right answers (a shed, a clean 503 from Idem's default
 * adaptive limit, is not a payment; a wrong answer fails the run).
 */
function admitted(m: Measurement): number {
  return m.result.ok / m.result.durationS;
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** More than this much CPU used by other processes meanwhile makes a figure suspect. */
const BUSY_MACHINE_CPUS = 0.25;

function report(bench: Bench): boolean {
  const o = bench.o;
  const ms = bench.measurements;
  const byName = (prefix: string) => ms.find((m) => m.name.startsWith(prefix));
  const cpu = cpus();
  console.log(
    `\nIdem idempotency benchmark: ${o.connections} connections, ${o.durationS} s measured after a ${o.warmupS} s warm-up, loopback; ` +
      `Idem ${o.loggerOff ? 'with its logger off (--logger-off)' : 'logging as idem serve does (LOG_LEVEL info, a line per request, to a file)'}; ` +
      `${cpu.length} CPUs (${cpu[0]?.model.trim() ?? '?'}), Node ${process.version}\n`,
  );
  const cols = ['', 'req/s', 'shed', 'p50 ms', 'p99 ms', 'server CPU/req', 'PG CPU/req', 'other load'];
  if (o.diagnose) cols.push('SQL stmts/req', 'SQL round trips/req', 'SQL xacts/req', 'Redis cmds/req');
  // The overload row has a table of its own: its req/s and latencies mix answers and sheds.
  const rows = ms.filter((m) => !bench.overloadRuns.some((r) => r.m === m)).map((m) => {
    const row = [
      m.name,
      fmt(admitted(m), 0),
      m.result.shed > 0 ? `${fmt((100 * m.result.shed) / Math.max(1, m.result.responses), 1)} %` : '-',
      fmt(m.result.latencyP50Ms, 0),
      fmt(m.result.latencyP99Ms, 0),
      `${fmt(m.serverCpuMicros, 0)} µs`,
      m.pgCpuMicros === null ? '-' : `${fmt(m.pgCpuMicros, 0)} µs`,
      m.otherCpus === null ? '-' : `${fmt(m.otherCpus, 2)} CPU`,
    ];
    if (o.diagnose) {
      row.push(
        m.sql ? fmt(m.sql.autocommit + m.sql.inTransaction, 1) : '-',
        m.sql ? fmt(m.sql.roundTrips, 1) : '-',
        m.sql ? fmt(m.sql.autocommit + m.sql.transactions, 1) : '-',
        m.redis ? fmt(m.redis.total, 1) : '-',
      );
    }
    return row;
  });
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(cols));
  for (const r of rows) console.log(line(r));
  console.log('(CPU per response; PG = the PostgreSQL backends serving that server; other load = CPU used meanwhile by unrelated processes)');

  if (o.diagnose) {
    for (const m of ms) {
      if (m.sql && Object.values(m.sql.byText).some((per) => per >= 0.005)) {
        console.log(`\n${m.name}: SQL statements per response (tx = inside one of ${fmt(m.sql.transactions, 2)} BEGIN…COMMIT)`);
        for (const [text, per] of Object.entries(m.sql.byText).sort((a, b) => b[1] - a[1])) {
          // Below that it is background work (relay, sweeper), not part of the request.
          if (per >= 0.005) console.log(`  ${fmt(per, 2).padStart(6)}  ${text}`);
        }
      }
      if (m.redis && m.redis.total > 0) {
        const list = Object.entries(m.redis.byCommand).sort((a, b) => b[1] - a[1]).map(([c, per]) => `${c} ${fmt(per, 2)}`);
        console.log(`${m.name}: Redis commands per response: ${list.join(', ')}`);
      }
    }
  }

  const ratios: Record<string, { ratio: number; goal: number; met: boolean }> = {};
  /** Ratios of the baselines themselves, no goal: what the machine does to a bare route. */
  const references: Record<string, number> = {};
  const ratio = (label: string, subject: Measurement | undefined, baseline: Measurement | undefined, goal: number) => {
    if (!subject || !baseline) return;
    const value = admitted(subject) / admitted(baseline);
    ratios[label] = { ratio: value, goal, met: value >= goal };
    console.log(`${label}: ${fmt(value, 3)} (goal ≥ ${goal}) ${value >= goal ? 'met' : 'MISSED'}`);
  };
  console.log('');
  if (bench.replayRounds.length > 0) {
    const per = bench.replayRounds.map((r) => admitted(r.idem) / admitted(r.peer));
    const value = median(per);
    ratios['replay / Powertools idempotency'] = { ratio: value, goal: GOALS.replayVsPowertools, met: value >= GOALS.replayVsPowertools };
    console.log(
      `replay / Powertools idempotency (median of ${per.length} alternating rounds: ${per.map((r) => fmt(r, 2)).join(', ')}): ${fmt(value, 3)} (goal ≥ ${GOALS.replayVsPowertools}) ${value >= GOALS.replayVsPowertools ? 'met' : 'MISSED'}`,
    );
    const idemMedian = median(bench.replayRounds.map((r) => admitted(r.idem)));
    const get = byName('baseline: fastify + 1 Redis');
    if (get) {
      const v = idemMedian / admitted(get);
      ratios['replay / Redis GET'] = { ratio: v, goal: GOALS.replay, met: v >= GOALS.replay };
      console.log(`replay (median of rounds) / Redis GET: ${fmt(v, 3)} (goal ≥ ${GOALS.replay}) ${v >= GOALS.replay ? 'met' : 'MISSED'}`);
    }
  }
  ratio('first request / PG INSERT', byName('first'), byName('baseline: fastify + 1 PG'), GOALS.first);
  ratio('first request / the same writes', byName('first'), byName('baseline: fastify + the same writes'), GOALS.firstVsSameWrites);
  ratio('end to end / PG INSERT', byName('end to end'), byName('baseline: fastify + 1 PG'), GOALS.endToEnd);
  if (bench.latencyRounds.length > 0) {
    const per = bench.latencyRounds.map((r) => admitted(r.slow) / admitted(r.zero));
    const value = median(per);
    ratios['first request: gateway 100 ms / 0 ms'] = { ratio: value, goal: GOALS.latency, met: value >= GOALS.latency };
    console.log(
      `first request with ${LATENCY_CLIENTS} clients, gateway ${GATEWAY_LATENCY_MS} ms / 0 ms (median of ${per.length} alternating rounds: ${per.map((r) => fmt(r, 2)).join(', ')}): ${fmt(value, 3)} (goal ≥ ${GOALS.latency}) ${value >= GOALS.latency ? 'met' : 'MISSED'}`,
    );
  }
  if (bench.growthRounds.length > 0) {
    const per = bench.growthRounds.map((r) => admitted(r.grown) / admitted(r.empty));
    const value = median(per);
    ratios['first request: grown / empty tables'] = { ratio: value, goal: GOALS.growth, met: value >= GOALS.growth };
    console.log(
      `first request with ${o.growthRows.toLocaleString('en-US')} keys and payments stored / empty tables (median of ${per.length} alternating rounds: ${per.map((r) => fmt(r, 2)).join(', ')}): ${fmt(value, 3)} (goal ≥ ${GOALS.growth}) ${value >= GOALS.growth ? 'met' : 'MISSED'}`,
    );
  }
  if (bench.sweep && bench.sweepQuiet) {
    const rate = bench.sweep.keys / bench.sweep.seconds;
    const p99 = bench.sweep.during.result.latencyP99Ms / Math.max(1, bench.sweepQuiet.result.latencyP99Ms);
    ratios['sweeper keys/s'] = { ratio: rate, goal: GOALS.sweepKeysPerSecond, met: rate >= GOALS.sweepKeysPerSecond };
    ratios['first request p99: sweeping / not'] = { ratio: p99, goal: GOALS.sweepP99, met: p99 <= GOALS.sweepP99 };
    console.log(
      `sweeper: ${bench.sweep.keys.toLocaleString('en-US')} expired keys in ${fmt(bench.sweep.seconds, 1)} s = ${fmt(rate, 0)} keys/s (goal ≥ ${GOALS.sweepKeysPerSecond}) ${rate >= GOALS.sweepKeysPerSecond ? 'met' : 'MISSED'}; ` +
        `first-request p99 while sweeping / not: ${fmt(p99, 2)} (goal ≤ ${GOALS.sweepP99}) ${p99 <= GOALS.sweepP99 ? 'met' : 'MISSED'}`,
    );
  }
  if (bench.instanceRounds.length > 0) {
    console.log(`instances: each with a PostgreSQL pool of ${bench.instancePoolMax}${bench.o.redisCluster ? ', on a three-node Redis Cluster' : ''}`);
    for (const [label, pick] of [
      ['2 instances / 1', (r: { one: Measurement; two: Measurement; three: Measurement }) => r.two],
      ['3 instances / 1', (r: { one: Measurement; two: Measurement; three: Measurement }) => r.three],
    ] as const) {
      const per = bench.instanceRounds.map((r) => admitted(pick(r)) / admitted(r.one));
      const value = median(per);
      ratios[`first request: ${label}`] = { ratio: value, goal: GOALS.instances, met: value >= GOALS.instances };
      console.log(
        `first request, aggregate of ${label} instance (median of ${per.length} rounds: ${per.map((r) => fmt(r, 2)).join(', ')}): ${fmt(value, 3)} (goal ≥ ${GOALS.instances}) ${value >= GOALS.instances ? 'met' : 'MISSED'}`,
      );
      const basePer = bench.instanceBaselineRounds.map((r) => admitted(pick(r)) / admitted(r.one));
      if (basePer.length > 0) {
        references[`bare INSERT route: ${label}`] = median(basePer);
        console.log(`  the bare INSERT route, aggregate of ${label.replace('instances', 'processes')} (median of ${basePer.length} rounds: ${basePer.map((r) => fmt(r, 2)).join(', ')}): ${fmt(median(basePer), 3)}`);
      }
    }
  }
  if (bench.overloadRuns.length > 0) reportOverload(bench, ratios);
  const busy = ms.filter((m) => m.otherCpus !== null && m.otherCpus > BUSY_MACHINE_CPUS);
  if (busy.length > 0) {
    console.log(`warning: other processes used more than ${BUSY_MACHINE_CPUS} CPU during: ${busy.map((m) => m.name).join('; ')}; those figures are suspect`);
  }

  let failed = false;
  for (const m of ms) {
    for (const p of m.problems) {
      failed = true;
      console.error(`FAILED ${m.name}: ${p}`);
    }
  }
  if (o.json) {
    console.log(
      JSON.stringify({
        connections: o.connections,
        durationS: o.durationS,
        warmupS: o.warmupS,
        rounds: o.rounds,
        measurements: ms.map((m) => ({
          name: m.name,
          rps: m.result.rps,
          responses: m.result.responses,
          p50Ms: m.result.latencyP50Ms,
          p99Ms: m.result.latencyP99Ms,
          serverCpuMicros: m.serverCpuMicros,
          pgCpuMicros: m.pgCpuMicros,
          otherCpus: m.otherCpus,
          ...(m.sql ? { sql: m.sql } : {}),
          ...(m.redis ? { redis: m.redis } : {}),
        })),
        ratios,
        references,
      }),
    );
  }
  return !failed;
}

/**
 * The overload row: admitted (201) throughput and latency, the share shed, and anything that
 * was neither; goals against the 50-connection run of the same bench: at 1,500 connections
 * admitted p99 ≤ 2 × and admitted throughput ≥ 0.9 ×, and nothing but clean sheds besides.
 */
function reportOverload(bench: Bench, ratios: Record<string, { ratio: number; goal: number; met: boolean }>): void {
  const runs = bench.overloadRuns;
  const cols = ['overload (first request, automatic capture)', 'admitted req/s', 'admitted p50 ms', 'admitted p99 ms', 'shed', 'other failures', 'server CPU/answer', 'other load'];
  const rows = runs.map(({ m }) => {
    const r = m.result;
    // `errors` counts timeouts too (autocannon's way, kept by politeLoad).
    const other = r.errors + r.wrong + (r.non2xx - r.shed);
    return [
      m.name,
      fmt(r.ok / r.durationS, 0),
      fmt(r.admitted?.p50Ms ?? r.latencyP50Ms, 0),
      fmt(r.admitted?.p99Ms ?? r.latencyP99Ms, 0),
      `${fmt((100 * r.shed) / Math.max(1, r.responses), 1)} %`,
      String(other),
      `${fmt(m.serverCpuMicros, 0)} µs`,
      m.otherCpus === null ? '-' : `${fmt(m.otherCpus, 2)} CPU`,
    ];
  });
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log('');
  console.log(line(cols));
  for (const r of rows) console.log(line(r));
  console.log('(admitted = answered 201 captured; shed = clean 503 UNAVAILABLE with Retry-After, share of all answers; other failures = socket errors and timeouts, wrong answers, other non-2xx)');
  for (const polite of [false, true]) {
    const label = polite ? 'clients honouring Retry-After' : 'autocannon';
    const base = runs.find((r) => r.shedding && r.polite === polite && r.connections === OVERLOAD_CONNECTIONS[0]);
    const top = runs.find((r) => r.shedding && r.polite === polite && r.connections === OVERLOAD_CONNECTIONS.at(-1));
    if (!base || !top) continue;
    const rps = (m: Measurement) => m.result.ok / m.result.durationS;
    const p99 = (m: Measurement) => m.result.admitted?.p99Ms ?? m.result.latencyP99Ms;
    const p99Ratio = p99(top.m) / Math.max(1, p99(base.m));
    const rpsRatio = rps(top.m) / Math.max(1, rps(base.m));
    const failures = runs.filter((r) => r.shedding && r.polite === polite).reduce((t, { m: { result: r } }) => t + r.errors + r.wrong + (r.non2xx - r.shed), 0);
    ratios[`overload (${label}): admitted p99 at 1,500 / 50`] = { ratio: p99Ratio, goal: 2, met: p99Ratio <= 2 };
    ratios[`overload (${label}): admitted req/s at 1,500 / 50`] = { ratio: rpsRatio, goal: 0.9, met: rpsRatio >= 0.9 };
    console.log(`overload (${label}): admitted p99 at ${top.connections} / ${base.connections}: ${fmt(p99Ratio, 2)} (goal ≤ 2) ${p99Ratio <= 2 ? 'met' : 'MISSED'}`);
    console.log(`overload (${label}): admitted req/s at ${top.connections} / ${base.connections}: ${fmt(rpsRatio, 3)} (goal ≥ 0.9) ${rpsRatio >= 0.9 ? 'met' : 'MISSED'}`);
    console.log(`overload (${label}): answers neither admitted nor a clean shed, all shedding runs: ${failures} (goal 0) ${failures === 0 ? 'met' : 'MISSED'}`);
  }
}

function fmt(n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

async function main(): Promise<void> {
  const o = options();
  provideMigrations();
  if (o.cpuProf) mkdirSync(profileDir, { recursive: true });
  const bench = new Bench(o);
  let ok = false;
  try {
    await bench.open();
    if (o.only === 'all' || o.only === 'replay') await bench.replay();
    if (o.only === 'all' || o.only === 'first' || o.only === 'e2e') await bench.first();
    if (o.only === 'all' || o.only === 'e2e') await bench.endToEnd();
    if (o.only === 'all' || o.only === 'latency') await bench.latency();
    if (o.only === 'all' || o.only === 'growth') await bench.growth();
    if (o.only === 'all' || o.only === 'instances') await bench.instances();
    if (o.only === 'all' || o.only === 'sweeper') await bench.sweeper();
    if (o.only === 'all' || o.only === 'overload') await bench.overload();
    ok = report(bench);
  } finally {
    await bench.close();
  }
  if (o.cpuProf) console.log(`\nCPU profiles of the server processes: ${profileDir}`);
  process.exitCode = ok ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
