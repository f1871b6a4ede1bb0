/**
 * Memory at a steady rate (SPEC invariant I10, "memory stays flat at a steady rate"): `idem
 * serve --sandbox` as users run it, in a process of its own, on PostgreSQL + Redis, driven with
 * payments with automatic capture (authorize + capture at the in-process simulated gateway) at
 * a paced rate for many minutes. Every minute it reads the server's heap after a forced full GC
 * (`GET /debug/heap`, served because the bench sets IDEM_DEBUG_HEAP=1 and runs the child with
 * `--expose-gc`; the least of three samples 5 s apart, since one sample also holds whatever work
 * is in flight), its RSS, and the minute's latency and achieved rate.
 *
 * The verdict: the heap after GC at every minute from minute 5 on, against its own value at
 * minute 5 (the baseline, measured in this run): within ±10 %. Minute 5 is after the sandbox
 * gateways' retention (IDEM_SIMULATOR_RETENTION_MS, 3 min by default) has filled, so from then
 * on a bounded server holds a steady amount.
 *
 * Run: npm run bench:soak -- [--rate 100] [--minutes 30] [--connections 32]
 * Needs PostgreSQL (BENCH_PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres;
 * a fresh database is created and dropped) and Redis (BENCH_REDIS_URL, default
 * redis://127.0.0.1:6379; the run's keys are deleted at the end), and a build (`npm run build`).
 */
import { execFile } from 'node:child_process';
import { hash, randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { IdemProcess } from '../src/cli/idemProcess.js';
import { redact } from '../src/config/config.js';
import type { HeapReport } from '../src/observability/heap.js';
import { machineCpuMicros, processCpuMicros } from './machine.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');
const BASELINE_MINUTE = 5;
const TOLERANCE = 0.1;
const HEAP_SAMPLES = 3;
const HEAP_SAMPLE_GAP_MS = 5_000;
/** Requests in flight at most: past this the server is not keeping up, and the bench says so instead of queueing without end. */
const MAX_IN_FLIGHT = 2_000;

const BODY = JSON.stringify({
  amount: 1999,
  currency: 'EUR',
  capture_method: 'automatic',
  payment_method: { type: 'card', token: 'tok_soak_visa' },
  reference: 'soak',
});

interface Minute {
  minute: number;
  ok: number;
  failed: number;
  /** Requests not sent because MAX_IN_FLIGHT were open. */
  skipped: number;
  rate: number;
  p50: number;
  p99: number;
  /** Heap used after a forced GC: the least of HEAP_SAMPLES samples, and the most. */
  heapMb: number;
  heapMaxMb: number;
  rssMb: number;
  held: string;
  /** CPU of the server over the minute, in cores. */
  serverCores: number | null;
  /** CPU of the whole machine over the minute, in cores; and the 1-minute load average. */
  machineCores: number | null;
  load1: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function mb(bytes: number): number {
  return Math.round((bytes / 1_048_576) * 10) / 10;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '100' },
      minutes: { type: 'string', default: '30' },
      connections: { type: 'string', default: '32' },
    },
  });
  const rate = Number(values.rate);
  const minutes = Number(values.minutes);
  const connections = Number(values.connections);
  if (!(rate > 0 && rate <= 5_000)) throw new Error(`--rate must be in (0, 5000] (got ${values.rate})`);
  if (!Number.isInteger(minutes) || minutes < BASELINE_MINUTE + 1) throw new Error(`--minutes must be an integer ≥ ${BASELINE_MINUTE + 1} (got ${values.minutes})`);
  if (!Number.isInteger(connections) || connections < 1) throw new Error(`--connections must be a positive integer (got ${values.connections})`);

  const adminUrl = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const dbName = `idem_soak_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(adminUrl);
  dbUrl.pathname = '/' + dbName;
  const databaseUrl = dbUrl.toString();
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();

  let idem: IdemProcess | null = null;
  let merchantId: string | null = null;
  const stopping = new AbortController();
  const onSignal = () => stopping.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, LOG_LEVEL: 'warn' };
    const created = await promisify(execFile)(process.execPath, [BIN, 'merchant', 'create', 'soak'], { env: { ...env, PATH: process.env.PATH ?? '' } });
    merchantId = /merchant (\S+)/.exec(created.stdout)?.[1] ?? null;
    const apiKey = /api key (\S+)/.exec(created.stdout)?.[1];
    if (!apiKey || !merchantId) throw new Error(`merchant create printed no key:\n${created.stdout}`);
    idem = await IdemProcess.start({
      bin: BIN,
      // BENCH_SOAK_NODE_OPTIONS adds to the server's flags, e.g. `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=/tmp` to compare heap snapshots.
      env: { ...env, NODE_OPTIONS: `--expose-gc ${process.env.BENCH_SOAK_NODE_OPTIONS ?? ''}`.trim(), IDEM_DEBUG_HEAP: '1' },
      args: ['--sandbox'],
      cwd: ROOT,
      maxOutputChars: 20_000,
    });
    const url = new URL(idem.url);
    const server = idem;
    console.log(`soak: idem serve --sandbox (pid ${server.pid}) on PostgreSQL ${dbName} + Redis ${redact(redisUrl)}; ${rate} payments/s with automatic capture for ${minutes} min over ${connections} connections`);

    const agent = new Agent({ keepAlive: true, maxSockets: connections });
    const get = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path, agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path} answered ${res.statusCode}: ${body}`))));
        });
        req.on('error', reject);
        req.end();
      });
    const heap = async () => JSON.parse(await get('/debug/heap')) as HeapReport;
    const first = await heap();
    if (!first.gc) throw new Error('the server runs without --expose-gc: its heap figures would include garbage');

    let seq = 0;
    let inFlight = 0;
    let window = { ok: 0, failed: 0, skipped: 0, latencies: [] as number[], problems: [] as string[] };
    const pay = () => {
      if (inFlight >= MAX_IN_FLIGHT) {
        window.skipped++;
        return;
      }
      inFlight++;
      const key = `soak-${++seq}`;
      const started = performance.now();
      const w = window;
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: '/v1/payments',
          method: 'POST',
          agent,
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'idempotency-key': key, 'content-length': Buffer.byteLength(BODY) },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => {
            inFlight--;
            w.latencies.push(performance.now() - started);
            if (res.statusCode === 201 && body.includes('"status":"captured"')) w.ok++;
            else {
              w.failed++;
              if (w.problems.length < 3) w.problems.push(`${res.statusCode}: ${body.slice(0, 200)}`);
            }
          });
        },
      );
      req.on('error', (err) => {
        inFlight--;
        w.failed++;
        if (w.problems.length < 3) w.problems.push(err.message);
      });
      req.end(BODY);
    };

    // Paced: every 10 ms, send what is due by now, so the offered rate holds whatever the answers do.
    const startedAt = performance.now();
    let sent = 0;
    const pacer = setInterval(() => {
      const due = Math.floor(((performance.now() - startedAt) / 1000) * rate);
      while (sent < due) {
        sent++;
        pay();
      }
    }, 10);

    const rows: Minute[] = [];
    console.log('minute  ok/s   failed  skipped  p50 ms  p99 ms  heap after GC MB (least … most of 3)  RSS MB  server cores  machine cores  load1  simulators held (entries/keys/auths)');
    let lastServerCpu = processCpuMicros(server.pid);
    let lastMachineCpu = machineCpuMicros();
    let minuteStart = performance.now();
    for (let m = 1; m <= minutes && !stopping.signal.aborted; m++) {
      const until = startedAt + m * 60_000;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(t);
          stopping.signal.removeEventListener('abort', wake);
          resolve();
        };
        const t = setTimeout(wake, Math.max(0, until - performance.now()));
        stopping.signal.addEventListener('abort', wake);
      });
      const w = window;
      window = { ok: 0, failed: 0, skipped: 0, latencies: [], problems: [] };
      const elapsedS = (performance.now() - minuteStart) / 1000;
      minuteStart = performance.now();
      const serverCpu = processCpuMicros(server.pid);
      const machineCpu = machineCpuMicros();
      // A sample holds whatever work is in flight at that instant (a reconciliation pass stages
      // up to 10,000 log entries): the least of three, 5 s apart, is what the server keeps.
      const samples = [await heap()];
      for (let i = 1; i < HEAP_SAMPLES && !stopping.signal.aborted; i++) {
        await new Promise((r) => setTimeout(r, HEAP_SAMPLE_GAP_MS));
        samples.push(await heap());
      }
      const report = samples.reduce((a, b) => (b.heapUsed < a.heapUsed ? b : a));
      const heapMaxMb = mb(Math.max(...samples.map((x) => x.heapUsed)));
      const sorted = w.latencies.sort((a, b) => a - b);
      const sims = report.detail.simulators as Record<string, { entries: number; keys: number; authorizations: number }> | undefined;
      const row: Minute = {
        minute: m,
        ok: w.ok,
        failed: w.failed,
        skipped: w.skipped,
        rate: w.ok / elapsedS,
        p50: quantile(sorted, 0.5),
        p99: quantile(sorted, 0.99),
        heapMb: mb(report.heapUsed),
        heapMaxMb,
        rssMb: mb(report.rss),
        held: Object.values(sims ?? {})
          .map((s) => `${s.entries}/${s.keys}/${s.authorizations}`)
          .join(' '),
        serverCores: serverCpu !== null && lastServerCpu !== null ? (serverCpu - lastServerCpu) / 1e6 / elapsedS : null,
        machineCores: machineCpu !== null && lastMachineCpu !== null ? (machineCpu - lastMachineCpu) / 1e6 / elapsedS : null,
        load1: loadavg()[0]!,
      };
      lastServerCpu = serverCpu;
      lastMachineCpu = machineCpu;
      rows.push(row);
      console.log(
        `${String(m).padStart(6)}  ${row.rate.toFixed(1).padStart(5)}  ${String(row.failed).padStart(6)}  ${String(row.skipped).padStart(7)}  ${row.p50.toFixed(1).padStart(6)}  ${row.p99.toFixed(1).padStart(6)}  ${`${row.heapMb.toFixed(1)} … ${row.heapMaxMb.toFixed(1)}`.padStart(36)}  ${row.rssMb.toFixed(0).padStart(6)}  ${(row.serverCores ?? NaN).toFixed(2).padStart(12)}  ${(row.machineCores ?? NaN).toFixed(2).padStart(13)}  ${row.load1.toFixed(2).padStart(5)}  ${row.held}`,
      );
      for (const p of w.problems) console.log(`        failed: ${p}`);
    }
    clearInterval(pacer);
    const drainUntil = performance.now() + 30_000;
    while (inFlight > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 50));
    agent.destroy();

    const base = rows.find((r) => r.minute === BASELINE_MINUTE);
    if (!base) {
      console.log(`no verdict: the run stopped before minute ${BASELINE_MINUTE}`);
      process.exitCode = 1;
      return;
    }
    const later = rows.filter((r) => r.minute >= BASELINE_MINUTE);
    const worst = later.reduce((a, r) => (Math.abs(r.heapMb / base.heapMb - 1) > Math.abs(a.heapMb / base.heapMb - 1) ? r : a), base);
    const ratios = later.map((r) => r.heapMb / base.heapMb);
    const flat = ratios.every((x) => Math.abs(x - 1) <= TOLERANCE);
    const offered = rows.reduce((n, r) => n + r.ok + r.failed + r.skipped, 0);
    const okAll = rows.reduce((n, r) => n + r.ok, 0);
    console.log('');
    console.log(`baseline: heap after GC at minute ${BASELINE_MINUTE} = ${base.heapMb.toFixed(1)} MB (this run)`);
    console.log(`heap after GC, minutes ${BASELINE_MINUTE}–${rows.at(-1)!.minute} against the baseline: ${Math.min(...ratios).toFixed(3)}× … ${Math.max(...ratios).toFixed(3)}× (furthest: minute ${worst.minute}, ${worst.heapMb.toFixed(1)} MB)`);
    console.log(`RSS: ${rows[0]!.rssMb.toFixed(0)} MB at minute 1, ${base.rssMb.toFixed(0)} MB at minute ${BASELINE_MINUTE}, ${rows.at(-1)!.rssMb.toFixed(0)} MB at the end`);
    console.log(`payments: ${okAll} captured of ${offered} offered (${(okAll / ((rows.length * 60) || 1)).toFixed(1)}/s achieved against ${rate}/s offered)`);
    console.log(`verdict: ${flat ? 'FLAT' : 'NOT FLAT'} (goal: within ±${TOLERANCE * 100} % of the baseline at every minute from ${BASELINE_MINUTE} on)`);
    if (!flat || okAll < offered) process.exitCode = 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await idem?.stop(10_000);
    if (merchantId !== null) {
      const patterns = [`idem:{${merchantId}:*`, `idem:rl:merchant:${merchantId}*`];
      for (const pattern of patterns) {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await redis.unlink(...keys);
        } while (cursor !== '0');
      }
    }
    // The instance's gateway-observation stream is named after its database (src/idem.ts).
    await redis.unlink(`idem:gateway-observations:${hash('sha256', redact(databaseUrl)).slice(0, 16)}`);
    redis.disconnect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((err: Error) => console.error(`could not drop ${dbName}: ${err.message}`));
    await admin.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
