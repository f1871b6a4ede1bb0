/**
 * Idem's events benchmark (docs/events.md, "Figures"): how fast committed events reach a
 * webhook receiver and NATS JetStream, and what webhooks cost the first request.
 *
 * 1. Paced: payments (automatic capture, 6 events each) sent at a steady rate for about
 *    `--rate` events/s; for every event, the time from its write (its `created_at`, taken by
 *    Idem's clock in the committing transaction) to its first arrival at a local receiver and
 *    at a JetStream subscriber: p50 / p99. Goal: p99 ≤ 250 ms at 500 events/s on loopback.
 * 2. Burst: `--burst` payments as fast as 32 connections go; events delivered per second to
 *    the receiver and to JetStream (first to last arrival).
 * 3. First request, webhooks on vs off: POST /v1/payments with a new key each time, for a
 *    merchant with a webhook endpoint (every event delivered) and for one with none, on the
 *    same server, alternated twice; the ratio on/off. Goal ≥ 0.9.
 *
 * 0. First a warm-up (`BENCH_EVENTS_WARMUP` payments, 300), drained, then `ANALYZE`: the
 *    state autovacuum leaves a running deployment in, not a database created a second ago.
 *
 * Idem runs as a child (`idem serve`, the built dist/) on a PostgreSQL database of its own,
 * with a private `nats-server -js`; this process generates load, receives webhooks and
 * subscribes to NATS.
 *
 *   npm run bench:events -- [--rate 500] [--seconds 10] [--burst 1000] [--duration 10] [--json]
 *
 * Environment: BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres),
 * BENCH_NATS_SERVER (default /usr/sbin/nats-server), BENCH_IDEM_NODE_OPTIONS (NODE_OPTIONS for Idem).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { IdemProcess } from '../src/cli/idemProcess.js';
import { openPostgres } from '../src/db/postgres.js';
import { EVENT_TYPES } from '../src/events/catalogue.js';
import { createMerchant } from '../src/merchants/merchants.js';
import { cryptoRandom } from '../src/ports/clock.js';
import { SqlStore } from '../src/store/sql/index.js';
import { clean, load, type LoadResult } from './load.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { values: args } = parseArgs({
  options: { rate: { type: 'string' }, seconds: { type: 'string' }, burst: { type: 'string' }, duration: { type: 'string' }, json: { type: 'boolean' } },
});
const RATE = Number(args.rate ?? 500);
const SECONDS = Number(args.seconds ?? 10);
const BURST = Number(args.burst ?? 1000);
const DURATION = Number(args.duration ?? 10);
const EVENTS_PER_PAYMENT = 6;
const WARMUP = Number(process.env.BENCH_EVENTS_WARMUP ?? 300);
const PG_ADMIN = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NATS_BIN = process.env.BENCH_NATS_SERVER ?? '/usr/sbin/nats-server';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** First arrival per event id, and when. */
class Arrivals {
  readonly first = new Map<string, { at: number; createdAt: number }>();
  note(body: string): void {
    const e = JSON.parse(body) as { id: string; created_at: string };
    if (!this.first.has(e.id)) this.first.set(e.id, { at: Date.now(), createdAt: Date.parse(e.created_at) });
  }
  since(t: number): Array<{ at: number; createdAt: number }> {
    return [...this.first.values()].filter((a) => a.createdAt >= t);
  }
}

async function main(): Promise<void> {
  const dbName = `idem_bench_events_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = Object.assign(new URL(PG_ADMIN), { pathname: `/${dbName}` }).toString();
  const natsDir = mkdtempSync(join(tmpdir(), 'idem-bench-nats-'));
  const natsPort = await freePort();
  const nats = spawn(NATS_BIN, ['-js', '-a', '127.0.0.1', '-p', String(natsPort), '-sd', natsDir], { stdio: 'ignore' });
  let idem: IdemProcess | undefined;
  const receiverHits = new Arrivals();
  const natsHits = new Arrivals();
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      receiverHits.note(body);
      res.writeHead(204).end();
    });
  });
  receiver.keepAliveTimeout = 30_000;
  try {
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    await sleep(500); // nats-server starts in a few ms; its port is checked by the connection below
    idem = await IdemProcess.start({
      bin: join(ROOT, 'dist', 'cli', 'main.js'),
      env: {
        LOG_LEVEL: 'warn',
        DATABASE_URL: dbUrl,
        IDEM_NATS_URL: `nats://127.0.0.1:${natsPort}`,
        IDEM_WEBHOOK_ALLOW_PRIVATE: '1',
        IDEM_GATEWAYS: JSON.stringify([{ name: 'sim', kind: 'simulator', latency_ms: 0 }]),
        // e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile Idem under this load.
        ...(process.env.BENCH_IDEM_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_IDEM_NODE_OPTIONS } : {}),
      },
      args: [],
      cwd: ROOT,
    });
    const db = openPostgres(dbUrl, { max: 2 });
    const store = new SqlStore(db);
    const withHooks = await createMerchant(store, cryptoRandom, 'with-webhooks');
    const without = await createMerchant(store, cryptoRandom, 'without-webhooks');
    const nc = await connect({ servers: `nats://127.0.0.1:${natsPort}` });
    const sub = nc.subscribe('idem.>');
    void (async () => {
      for await (const m of sub) natsHits.note(m.string());
    })();
    const base = idem.url;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const post = (path: string, key: string, body: unknown, apiKey: string) =>
      new Promise<number>((resolve, reject) => {
        const data = JSON.stringify(body);
        const req = http.request(`${base}${path}`, {
          method: 'POST',
          agent,
          headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': key, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(data);
      });
    // Every type, named, attempt.* included: the load this bench has always measured.
    const created = await post('/v1/webhook_endpoints', 'bench-endpoint', { url: receiverUrl, event_types: Object.keys(EVENT_TYPES) }, withHooks.apiKey);
    if (created !== 201) throw new Error(`could not create the endpoint: ${created}`);
    const payment = { amount: 1000, currency: 'EUR', capture_method: 'automatic', payment_method: { type: 'card', token: 'tok_visa' } };

    const waitFor = async (hits: Arrivals, n: number, since: number) => {
      const end = Date.now() + 60_000;
      while (hits.since(since).length < n && Date.now() < end) await sleep(50);
      return hits.since(since);
    };

    // 0. Warm-up: a running deployment has traffic in its tables and planner statistics on
    // them (autovacuum analyzes within a minute or so); a database created a second ago has
    // neither, and its first plans for the delivery queue assume it is empty. Send some
    // payments, let their events drain, and analyze, as autovacuum would have.
    const warmEvents = WARMUP * EVENTS_PER_PAYMENT;
    const warmStart = Date.now();
    await Promise.all(Array.from({ length: WARMUP }, (_, i) => post('/v1/payments', `warm-${i}`, payment, withHooks.apiKey)));
    const warmed = await waitFor(receiverHits, warmEvents, warmStart);
    if (warmed.length < warmEvents) throw new Error(`warm-up: ${warmed.length} of ${warmEvents} events delivered`);
    await db.query('ANALYZE');
    await sleep(1000);

    // 1. Paced.
    const perSecond = RATE / EVENTS_PER_PAYMENT;
    const pacedStart = Date.now();
    const sends: Array<Promise<number>> = [];
    for (let i = 0; i < perSecond * SECONDS; i++) {
      const due = pacedStart + (i * 1000) / perSecond;
      if (due > Date.now()) await sleep(due - Date.now());
      sends.push(post('/v1/payments', `paced-${i}`, payment, withHooks.apiKey));
    }
    const statuses = await Promise.all(sends);
    const pacedEvents = statuses.length * EVENTS_PER_PAYMENT;
    const pacedHooks = await waitFor(receiverHits, pacedEvents, pacedStart);
    const pacedNats = await waitFor(natsHits, pacedEvents, pacedStart);
    const lat = (xs: Array<{ at: number; createdAt: number }>) => xs.map((x) => x.at - x.createdAt);
    const paced = {
      payments: statuses.length,
      non201: statuses.filter((s) => s !== 201).length,
      events: pacedEvents,
      eventsPerSecond: pacedEvents / ((Date.now() - pacedStart) / 1000 || 1),
      webhook: { delivered: pacedHooks.length, p50Ms: pct(lat(pacedHooks), 50), p99Ms: pct(lat(pacedHooks), 99) },
      nats: { delivered: pacedNats.length, p50Ms: pct(lat(pacedNats), 50), p99Ms: pct(lat(pacedNats), 99) },
    };

    // 2. Burst.
    await sleep(1000);
    const burstStart = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < BURST) await post('/v1/payments', `burst-${next++}`, payment, withHooks.apiKey);
      }),
    );
    const burstEvents = BURST * EVENTS_PER_PAYMENT;
    const rateOf = (xs: Array<{ at: number }>) => {
      const ats = xs.map((x) => x.at);
      return xs.length / ((Math.max(...ats) - Math.min(...ats)) / 1000 || 1);
    };
    const burstHooks = await waitFor(receiverHits, burstEvents, burstStart);
    const burstNats = await waitFor(natsHits, burstEvents, burstStart);
    const burst = {
      payments: BURST,
      events: burstEvents,
      webhook: { delivered: burstHooks.length, perSecond: rateOf(burstHooks), p99Ms: pct(lat(burstHooks), 99) },
      nats: { delivered: burstNats.length, perSecond: rateOf(burstNats), p99Ms: pct(lat(burstNats), 99) },
    };

    // 3. First request, webhooks on vs off, alternated.
    const firstRequest = async (apiKey: string, prefix: string): Promise<LoadResult> =>
      load({
        url: base,
        path: '/v1/payments',
        connections: 32,
        durationS: DURATION,
        headers: { authorization: `Bearer ${apiKey}` },
        body: JSON.stringify(payment),
        uniqueKeyPrefix: prefix,
        check: ({ status }) => (status === 201 ? null : `status ${status}`),
      });
    await firstRequest(without.apiKey, `warm-${randomBytes(3).toString('hex')}-`);
    const runs: Array<{ on: boolean; r: LoadResult }> = [];
    for (const on of [false, true, false, true]) {
      runs.push({ on, r: await firstRequest(on ? withHooks.apiKey : without.apiKey, `fr-${on}-${runs.length}-`) });
      await sleep(2000); // let the deliveries of the "on" run drain before the next run
    }
    const mean = (on: boolean) => runs.filter((x) => x.on === on).reduce((a, x) => a + x.r.rps, 0) / 2;
    const first = { offRps: mean(false), onRps: mean(true), ratio: mean(true) / mean(false), clean: runs.every((x) => clean(x.r)) };

    const out = { paced, burst, firstRequest: first, rate: RATE, seconds: SECONDS };
    if (args.json) console.log(JSON.stringify(out, null, 2));
    else {
      const f = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : 'n/a');
      console.log(`Paced ${f(paced.eventsPerSecond)} events/s for ${SECONDS} s (${paced.payments} payments, ${paced.events} events, ${paced.non201} not 201)`);
      console.log(`  webhook   delivered ${paced.webhook.delivered}/${paced.events}  commit→first delivery p50 ${f(paced.webhook.p50Ms)} ms  p99 ${f(paced.webhook.p99Ms)} ms  (goal p99 ≤ 250)`);
      console.log(`  JetStream delivered ${paced.nats.delivered}/${paced.events}  commit→first delivery p50 ${f(paced.nats.p50Ms)} ms  p99 ${f(paced.nats.p99Ms)} ms`);
      console.log(`Burst ${BURST} payments (${burstEvents} events)`);
      console.log(`  webhook   ${f(burst.webhook.perSecond)} events/s delivered (${burst.webhook.delivered}/${burstEvents})`);
      console.log(`  JetStream ${f(burst.nats.perSecond)} events/s delivered (${burst.nats.delivered}/${burstEvents})`);
      console.log(`First request (new key, automatic capture), 32 connections, ${DURATION} s × 2 each`);
      console.log(`  webhooks off ${f(first.offRps)} req/s   on ${f(first.onRps)} req/s   ratio ${first.ratio.toFixed(2)} (goal ≥ 0.9)${first.clean ? '' : '   SOME RESPONSES WERE WRONG'}`);
    }
    await nc.close();
    await db.close();
    agent.destroy();
    if (!first.clean || paced.webhook.delivered < paced.events || paced.nats.delivered < paced.events) {
      process.exitCode = 1;
      console.error(`Idem's output (last lines):\n${idem.output().slice(-3000)}`);
    }
  } finally {
    await idem?.stop();
    receiver.close();
    if (nats.pid) process.kill(nats.pid, 'SIGKILL');
    rmSync(natsDir, { recursive: true, force: true });
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
