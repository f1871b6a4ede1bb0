/**
 * Idem's idempotency benchmark: what the gate costs, each figure next to a baseline measured in
 * the same run on the same machine.
 *
 * 1. Replay: POST /v1/payments with a completed Idempotency-Key (served from the Redis replay
 *    cache) against a bare fastify route doing one Redis GET. Goal: ratio ≥ 0.8.
 * 2. First request: a new key on every request (claim, create, authorize on the in-process
 *    simulator with zero latency, store the response) against a bare fastify route doing one
 *    PostgreSQL INSERT. Goal: ratio ≥ 0.4.
 *
 * Every server runs in its own child process (bench/server.ts); this process only generates
 * load. Same connections and duration for subject and baseline, one warm-up before each
 * measurement, every response checked, and after the first-request run an exactly-once audit
 * of the database. Exits 1 if anything failed.
 *
 *   tsc -p bench/tsconfig.json && node dist-bench/bench/idempotency.js [--duration 10]
 *     [--connections 50] [--warmup 3] [--only replay|first|e2e] [--diagnose] [--cpu-prof] [--json]
 *
 * Environment: BENCH_DURATION, BENCH_CONNECTIONS, BENCH_WARMUP, BENCH_PG_ADMIN_URL
 * (default postgres://postgres@127.0.0.1:5432/test; the bench creates and drops a database of
 * its own there), BENCH_REDIS_URL (default redis://127.0.0.1:6379).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { clean, load, type LoadResult, type LoadSpec } from './load.js';
import { machineCpuMicros, processCpuMicros } from './machine.js';
import { BASELINE_TABLE, type ParentMessage, type QueryCounts, type ServerEnv, type ServerMessage, type ServerMode } from './protocol.js';

interface Options {
  durationS: number;
  connections: number;
  warmupS: number;
  only: 'replay' | 'first' | 'e2e' | 'all';
  diagnose: boolean;
  cpuProf: boolean;
  json: boolean;
  pgAdminUrl: string;
  redisUrl: string;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      warmup: { type: 'string' },
      only: { type: 'string' },
      diagnose: { type: 'boolean' },
      'cpu-prof': { type: 'boolean' },
      json: { type: 'boolean' },
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
  if (only !== 'replay' && only !== 'first' && only !== 'e2e' && only !== 'all') throw new Error('--only must be replay, first, e2e or all');
  return {
    durationS,
    connections: int('--connections / BENCH_CONNECTIONS', values.connections ?? env.BENCH_CONNECTIONS, 50, 1, 10_000),
    warmupS: int('--warmup / BENCH_WARMUP', values.warmup ?? env.BENCH_WARMUP, Math.max(1, Math.round(durationS * 0.3)), 1, 3600),
    only,
    diagnose: values.diagnose ?? false,
    cpuProf: values['cpu-prof'] ?? false,
    json: values.json ?? false,
    pgAdminUrl: env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    redisUrl: env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  };
}

const here = fileURLToPath(new URL('.', import.meta.url));
const serverScript = fileURLToPath(new URL('./server.js', import.meta.url));
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

/** End to end: create and capture in one request (authorize + capture at the gateway). */
const AUTOMATIC_BODY = JSON.stringify({ ...JSON.parse(PAYMENT_BODY), capture_method: 'automatic' });

class Bench {
  private readonly runId = randomBytes(4).toString('hex');
  readonly measurements: Measurement[] = [];
  private admin!: pg.Client;
  private benchDb!: pg.Pool;
  private redis!: Redis;
  private redisPid: number | null = null;
  private readonly dbName = `idem_bench_${this.runId}`;
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
      for (const m of this.merchants) await this.deleteRedisKeys(`idem:*:${m}:*`);
      await this.deleteRedisKeys(`idem-bench:${this.runId}:*`);
      this.redis.disconnect();
    }
    await this.benchDb?.end();
    if (this.admin) {
      await this.admin.query(`DROP DATABASE IF EXISTS ${this.dbName} WITH (FORCE)`).catch((err: Error) => console.error(`could not drop ${this.dbName}: ${err.message}`));
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
        WHERE (datname = $1 AND application_name <> $2) OR datname IS NULL`,
      [this.dbName, RUNNER_APP],
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
  private async measure(name: string, server: Server, spec: Omit<LoadSpec, 'durationS' | 'connections' | 'url'>): Promise<{ m: Measurement; warm: LoadResult }> {
    process.stdout.write(`  ${name}: warm-up ${this.o.warmupS} s`);
    // A checkpoint now, so no measurement pays for the previous one's dirty pages.
    await this.admin.query('CHECKPOINT');
    const base = { url: server.url, connections: this.o.connections };
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

  private async startIdem(label: string): Promise<Server & { apiKey: string; merchantId: string }> {
    const server = await startServer('idem', this.serverEnv(), this.o, label);
    if (!server.apiKey || !server.merchantId) throw new Error('idem server did not hand over a merchant');
    this.merchants.push(server.merchantId);
    return server as Server & { apiKey: string; merchantId: string };
  }

  /** Replay through Idem, then the Redis GET baseline sending the same bytes. */
  async replay(): Promise<void> {
    const idem = await this.startIdem('idem-replay');
    let storedBody: string;
    try {
      const key = `bench-${this.runId}-replay`;
      const headers = { authorization: `Bearer ${idem.apiKey}`, 'idempotency-key': key };
      const first = await post(idem.url, headers, PAYMENT_BODY);
      if (first.status !== 201 || first.replayed !== 'false') throw new Error(`setup: first request answered ${first.status} (replayed ${first.replayed}): ${first.body}`);
      const again = await post(idem.url, headers, PAYMENT_BODY);
      if (again.status !== 201 || again.replayed !== 'true' || again.body !== first.body) {
        throw new Error(`setup: the replay is not the stored response (${again.status}, replayed ${again.replayed})`);
      }
      storedBody = first.body;
      await this.measure('replay (Redis cache)', idem, {
        path: '/v1/payments',
        headers,
        body: PAYMENT_BODY,
        check: (r) =>
          r.status !== 201
            ? 'status is not 201'
            : r.headers['idempotent-replayed'] !== 'true'
              ? 'not marked replayed'
              : r.body !== storedBody
                ? 'body differs from the stored response'
                : null,
      });
    } finally {
      await idem.stop();
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

    const idem = await this.startIdem('idem-first');
    let measured: { m: Measurement; warm: LoadResult };
    try {
      measured = await this.measure('first request (full gate)', idem, {
        path: '/v1/payments',
        headers: { authorization: `Bearer ${idem.apiKey}` },
        body: PAYMENT_BODY,
        uniqueKeyPrefix: `bench-${this.runId}-first-`,
        check: (r) =>
          r.status !== 201
            ? 'status is not 201'
            : r.headers['idempotent-replayed'] !== 'false'
              ? 'not a first response'
              : !r.body.includes(`"idempotency_key":${JSON.stringify(r.key)}`)
                ? 'answer is for another key'
                : !r.body.includes('"status":"authorized"')
                  ? 'payment is not authorized'
                  : null,
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
        check: (r) =>
          r.status !== 201
            ? 'status is not 201'
            : !r.body.includes(`"idempotency_key":${JSON.stringify(r.key)}`)
              ? 'answer is for another key'
              : !r.body.includes('"status":"captured"')
                ? 'payment is not captured'
                : null,
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

  private async drain(merchantId: string): Promise<void> {
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      const { rows } = await this.benchDb.query<{ n: string }>(
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
  private async auditExactlyOnce(merchantId: string, answered: number): Promise<string[]> {
    const q = async (sql: string) => Number((await this.benchDb.query<{ n: string }>(sql, [merchantId])).rows[0]!.n);
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
    if (payments < answered || payments > answered + 2 * this.o.connections) problems.push(`${payments} payments for ${answered} answered 201`);
    return problems;
  }
}

async function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; replayed: string | null; body: string }> {
  const res = await fetch(url + '/v1/payments', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, replayed: res.headers.get('idempotent-replayed'), body: await res.text() };
}

function describeFailures(r: LoadResult): string {
  const parts = [`${r.wrong} wrong answers`, `${r.non2xx} non-2xx`, `${r.errors} socket errors`, `${r.timeouts} timeouts`];
  if (r.ok === 0) parts.push('no right answer at all');
  return parts.join(', ') + (r.samples.length ? `; e.g. ${r.samples.join(' | ')}` : '');
}

// ——— report ——————————————————————————————————————————————————————————————————————————————

const GOALS = { replay: 0.8, first: 0.4 };

/** More than this much CPU used by other processes meanwhile makes a figure suspect. */
const BUSY_MACHINE_CPUS = 0.25;

function report(bench: Bench): boolean {
  const o = bench.o;
  const ms = bench.measurements;
  const byName = (prefix: string) => ms.find((m) => m.name.startsWith(prefix));
  const cpu = cpus();
  console.log(
    `\nIdem idempotency benchmark: ${o.connections} connections, ${o.durationS} s measured after a ${o.warmupS} s warm-up, loopback; ` +
      `${cpu.length} CPUs (${cpu[0]?.model.trim() ?? '?'}), Node ${process.version}\n`,
  );
  const cols = ['', 'req/s', 'p50 ms', 'p99 ms', 'server CPU/req', 'PG CPU/req', 'other load'];
  if (o.diagnose) cols.push('SQL stmts/req', 'SQL round trips/req', 'SQL xacts/req', 'Redis cmds/req');
  const rows = ms.map((m) => {
    const row = [
      m.name,
      fmt(m.result.rps, 0),
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
  const ratio = (label: string, subject: Measurement | undefined, baseline: Measurement | undefined, goal: number) => {
    if (!subject || !baseline) return;
    const value = subject.result.rps / baseline.result.rps;
    ratios[label] = { ratio: value, goal, met: value >= goal };
    console.log(`${label}: ${fmt(value, 3)} (goal ≥ ${goal}) ${value >= goal ? 'met' : 'MISSED'}`);
  };
  console.log('');
  ratio('replay / Redis GET', byName('replay'), byName('baseline: fastify + 1 Redis'), GOALS.replay);
  ratio('first request / PG INSERT', byName('first'), byName('baseline: fastify + 1 PG'), GOALS.first);
  const e2e = byName('end to end');
  const insert = byName('baseline: fastify + 1 PG');
  if (e2e && insert) console.log(`end-to-end payments / PG INSERT: ${fmt(e2e.result.rps / insert.result.rps, 3)} (${fmt(e2e.result.rps, 0)} payments/s created and captured; no goal set)`);
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
      }),
    );
  }
  return !failed;
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
