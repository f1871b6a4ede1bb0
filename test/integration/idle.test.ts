/**
 * An idle instance costs nothing (docs/architecture.md, "Background passes"): `idem serve` with
 * no traffic, after a first payment and its webhook, is left alone for a minute — 30 s to
 * settle, then 30 s measured: the CPU time of the child process (utime + stime from
 * /proc/<pid>/stat: the process's own CPU; beside the main suite it rose, beside a CPU hog it did
 * not, so `npm test` runs this file alone, vitest.idle.config.ts)
 * and the transactions it ran on its database (its `idem_db_transactions_total`, a count kept
 * by its pools; on PostgreSQL the server's own count for the database is printed beside it). Then one more payment: its webhook
 * must arrive within 250 ms — the relay is woken by the write, not found by a poll. On
 * PostgreSQL + Redis and embedded (PGlite), side by side.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createMerchant } from '../../src/merchants/merchants.js';
import { openPostgres } from '../../src/db/postgres.js';
import { migrate } from '../../src/db/migrate.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { startIdemServer, type IdemServer } from '../support/idemServer.js';
import { paymentBody, waitUntil } from '../support/payments.js';
import { createTestDatabase, PG_ADMIN_URL, postgresAvailable, redisAvailable, REDIS_URL } from '../support/services.js';
import { scaled } from '../support/timeScale.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver.js';

/**
 * The idle time before the measured window: at least SETTLE_MS, and past V8's one-time
 * memory-reducing collection after start-up. Once allocation goes quiet (40–90 s after start
 * here, later on a busy machine) V8 runs two `Mark-Compact (reduce)` passes over the ~45 MB
 * heap that cost 0.3–0.7 s of CPU in about a second (seen with `--trace-gc` and /proc); inside a
 * 30 s window that alone is 1–2 % of a core. It happens once, it is start-up, not idling, so the
 * settle waits for that burst (two seconds with ≥ REDUCER_BURST_MS of CPU between them and no
 * traffic: on a busy machine one collection spreads over two samples), at most SETTLE_MAX_MS,
 * and the window starts REDUCER_QUIET_MS after the last one. V8's memory reducer may collect up
 * to three times, 0.5–8 s apart; CI once saw a second burst (450 ms of CPU) land in a window
 * that started 5 s after the first.
 */
const SETTLE_MS = 30_000;
const SETTLE_MAX_MS = 180_000;
const REDUCER_BURST_MS = 150;
const REDUCER_QUIET_MS = 20_000;
const MEASURE_MS = 30_000;
/** Starting embedded PGlite takes a while on a crowded machine. */
const START_MS = scaled(240_000);
/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat on Linux. */
const TICKS_PER_SECOND = 100;

const linux = process.platform === 'linux';
const services = (await postgresAvailable()) && (await redisAvailable());
if (!services && process.env.CI === 'true') throw new Error('PostgreSQL and Redis are required (CI=true), so this is a failure');
if (!services) console.warn('\n!!! SKIPPING the PostgreSQL + Redis idle case: PostgreSQL or Redis is unreachable.\n');
if (!linux) console.warn('\n!!! SKIPPING the idle-cost test: it reads CPU time from /proc (Linux only).\n');

/** CPU time (ms) the process has used so far, user and system. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces, hence the last ')'): utime is the 14th field, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** Idles at least SETTLE_MS and until V8's post-start memory reducer has run (or SETTLE_MAX_MS); says which. */
async function settle(pid: number): Promise<string> {
  const start = Date.now();
  // CPU time at the last two samples, a second apart: a burst is ≥ REDUCER_BURST_MS over both.
  let twoAgo = cpuMs(pid);
  let before = twoAgo;
  let burstAt: number | null = null;
  for (;;) {
    const elapsed = Date.now() - start;
    const done =
      elapsed >= SETTLE_MAX_MS + REDUCER_QUIET_MS || (elapsed >= SETTLE_MS && (burstAt === null ? elapsed >= SETTLE_MAX_MS : elapsed - burstAt >= REDUCER_QUIET_MS));
    if (done) break;
    await new Promise((r) => setTimeout(r, 1_000));
    const now = cpuMs(pid);
    if (now - twoAgo >= REDUCER_BURST_MS) burstAt = Date.now() - start;
    twoAgo = before;
    before = now;
  }
  return burstAt === null ? `no collection burst in ${SETTLE_MAX_MS / 1000} s of idle` : `last collection burst ${(burstAt / 1000).toFixed(0)} s into the idle`;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`${name} not in /metrics`);
  return Number(line.split(' ')[1]);
}

interface Mode {
  title: string;
  start(): Promise<{ idem: IdemServer; apiKey: string; serverTransactions?: () => Promise<number> }>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const modes: Mode[] = [
  {
    title: 'PostgreSQL + Redis',
    async start() {
      const t = await createTestDatabase('idem_idle');
      cleanups.push(t.drop);
      const db = openPostgres(t.url, { max: 1 });
      await migrate(db);
      const { apiKey } = await createMerchant(new SqlStore(db), cryptoRandom, 'idle');
      await db.close();
      const idem = await startIdemServer({ env: { DATABASE_URL: t.url, REDIS_URL, IDEM_WEBHOOK_ALLOW_PRIVATE: '1' }, args: ['--sandbox'], startTimeoutMs: START_MS });
      cleanups.push(() => idem.stop());
      const dbName = new URL(t.url).pathname.slice(1);
      const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
      await admin.connect();
      cleanups.push(() => admin.end());
      const serverTransactions = async () => {
        // A fresh snapshot each read; backends report within seconds of going idle.
        await admin.query('SELECT pg_stat_clear_snapshot()');
        const { rows } = await admin.query<{ n: string }>('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1', [dbName]);
        return Number(rows[0]!.n);
      };
      return { idem, apiKey, serverTransactions };
    },
  },
  {
    title: 'embedded',
    async start() {
      const dataDir = mkdtempSync(join(tmpdir(), 'idem-idle-'));
      cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const idem = await startIdemServer({ env: { IDEM_WEBHOOK_ALLOW_PRIVATE: '1' }, args: ['--data-dir', dataDir], startTimeoutMs: START_MS });
      cleanups.push(() => idem.stop());
      const m = /API key, shown once: (sk_\S+)/.exec(idem.output());
      if (!m) throw new Error(`embedded serve printed no API key:\n${idem.output()}`);
      return { idem, apiKey: m[1]! };
    },
  },
].filter((m) => linux && (m.title === 'embedded' || services));

describe.concurrent.each(modes)('an idle instance ($title)', (mode) => {
  it(
    'uses under 1 % of a core and under 1 database transaction a second over 30 s, and delivers the first event after the idle minute within 250 ms',
    async () => {
      const { idem, apiKey, serverTransactions } = await mode.start();
      const receiver: WebhookReceiver = await startWebhookReceiver();
      cleanups.push(() => receiver.close());
      const api = (path: string, key: string, body: unknown) =>
        fetch(`${idem.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': key, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const endpoint = (await (await api('/v1/webhook_endpoints', 'idle-ep', { url: receiver.url, event_types: ['payment.authorized'] })).json()) as { secret: string };
      receiver.secret = endpoint.secret;
      const paid = async (key: string) => {
        const res = await api('/v1/payments', key, paymentBody());
        expect(res.status).toBe(201);
        return ((await res.json()) as { id: string }).id;
      };
      const first = await paid('idle-1');
      await waitUntil('the first payment’s webhook arrived', () => receiver.arrivals.some((a) => a.paymentId === first));

      // Idle: nothing is sent to the instance from here until the last payment. The settle and
      // the window are the measurement itself (a time to be idle), not a wait for a condition.
      const settled = await settle(idem.pid);
      const cpu0 = cpuMs(idem.pid);
      const tx0 = await metric(idem.url, 'idem_db_transactions_total');
      const server0 = await serverTransactions?.();
      await new Promise((r) => setTimeout(r, MEASURE_MS));
      const cpu = cpuMs(idem.pid) - cpu0;
      const tx = (await metric(idem.url, 'idem_db_transactions_total')) - tx0;
      const server = serverTransactions ? (await serverTransactions()) - server0! : null;
      const seconds = MEASURE_MS / 1000;
      console.log(
        `idle ${mode.title}: ${((cpu / MEASURE_MS) * 100).toFixed(2)} % of a core (${cpu} ms CPU in ${seconds} s), ` +
          `${(tx / seconds).toFixed(2)} transactions/s by the instance's count (${tx})` +
          (server === null ? '' : `, ${(server / seconds).toFixed(2)}/s by PostgreSQL's (${server})`) +
          ` (${settled})`,
      );
      expect(cpu / MEASURE_MS, 'share of a core used while idle').toBeLessThan(0.01);
      expect(tx / seconds, 'database transactions a second while idle').toBeLessThan(1);
      // PostgreSQL's own count is printed, not held to the bound: it also counts the server's
      // autovacuum and autoanalyze of the freshly written test database (measured 0.60–1.13/s
      // against the instance's 0.63–0.70).

      // The first event after the idle minute: written by the payment (committed before its
      // answer), delivered at once.
      const sent = Date.now();
      const last = await paid('idle-2');
      const answered = Date.now();
      await waitUntil('the webhook of the payment after the idle minute arrived', () => receiver.arrivals.some((a) => a.paymentId === last), 5_000, 5);
      const arrived = receiver.arrivals.find((a) => a.paymentId === last)!.at;
      console.log(`idle ${mode.title}: the first event after the idle minute arrived ${arrived - answered} ms after its payment was answered (${arrived - sent} ms after it was sent)`);
      expect(arrived - answered, 'ms from the payment’s answer to its webhook after the idle minute').toBeLessThanOrEqual(scaled(250));
    },
    SETTLE_MAX_MS + REDUCER_QUIET_MS + MEASURE_MS + START_MS + scaled(60_000),
  );
});
