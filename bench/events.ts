/**
 * Idem's events benchmark (docs/events.md, "Figures"): the capacity of the whole pipeline with
 * webhooks and NATS JetStream on, event latency along it, and what webhooks cost the first
 * request. One run, bounded (about three minutes), stopping by itself.
 *
 * 0. Warm-up (`BENCH_EVENTS_WARMUP` payments, 300, 16 at a time), drained, then `ANALYZE`: the
 *    state autovacuum leaves a running deployment in, not a database created a second ago.
 * 1. Backlog drain: `--backlog` payments (500) made and delivered, then their events queued
 *    again at once (`…/replay`): webhook events delivered per second while the queue drains.
 * 2. First request, webhooks on vs off: POST /v1/payments with a new key each time, 32
 *    connections, for a merchant with a webhook endpoint (every event delivered) and one with
 *    none, on the same server, alternated twice; payments answered 201 per second, on/off.
 *    Goal ≥ 0.9. Beside it, the floor of delivery on these cores: signed event-sized POSTs from
 *    this process to the same receiver (bench/eventsProbe.ts `deliveryFloor`), per second, and
 *    the ratio webhooks on would reach if a delivery cost only its HTTP exchange.
 * 3. Capacity: the highest paced payment rate (automatic capture, 6 events each) at which the
 *    API answers every payment (201, none shed, the last answer within 1 s of the last send) and
 *    both deliveries keep up (neither backlog grows over the step: bench/eventsProbe.ts). Steps
 *    of `--step` seconds, from the webhooks-on throughput of 2. down by 15 % until one holds
 *    (or up by 15 % while they hold), then one step halfway between the last that held and the
 *    first that did not; at most eight steps.
 * 4. Latency at 25 %, 50 %, 70 % and 90 % of that capacity, `--seconds` each: for every event,
 *    from its write (`created_at`, Idem's clock, in the committing transaction) to its first
 *    arrival at a local receiver and at a JetStream subscriber, p50 / p99. Goal: p99 ≤ 250 ms
 *    at 70 %, both.
 *
 * Idem runs as a child (`idem serve`, the built dist/, production defaults) on a PostgreSQL
 * database of its own and Redis, with a private `nats-server -js` on a free port; this process
 * generates load and subscribes to NATS, and receives webhooks on a thread of its own
 * (bench/webhookReceiver.ts: the merchant's server is not the load generator's event loop).
 *
 *   npm run bench:events -- [--seconds 8] [--step 6] [--duration 6] [--backlog 500] [--backlog-only] [--json]
 *
 * Environment: BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres),
 * BENCH_REDIS_URL (default redis://127.0.0.1:6379), BENCH_NATS_SERVER (default
 * /usr/sbin/nats-server), BENCH_IDEM_ENV (settings for Idem besides the defaults, `K=V K=V`),
 * BENCH_IDEM_BIN (another build's dist/cli/main.js, to compare), BENCH_IDEM_NODE_OPTIONS
 * (NODE_OPTIONS for Idem; `--cpu-prof` is refused there, an `--import` of a module that starts
 * `node:inspector`'s profiler and writes the profile on exit works).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
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
import { Arrivals, deliveryFloor, EVENTS_PER_PAYMENT, pacedStep, postPolitely, poster, sleep, until, type Counters, type Step } from './eventsProbe.js';
import { load, type LoadResult } from './load.js';
import { WebhookReceiver } from './webhookReceiver.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { values: args } = parseArgs({
  options: { seconds: { type: 'string' }, step: { type: 'string' }, duration: { type: 'string' }, backlog: { type: 'string' }, 'backlog-only': { type: 'boolean' }, json: { type: 'boolean' } },
});
const SECONDS = Number(args.seconds ?? 8);
const STEP = Number(args.step ?? 6);
const DURATION = Number(args.duration ?? 6);
const BACKLOG = Number(args.backlog ?? 500);
const WARMUP = Number(process.env.BENCH_EVENTS_WARMUP ?? 300);
const PG_ADMIN = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const NATS_BIN = process.env.BENCH_NATS_SERVER ?? '/usr/sbin/nats-server';
/** The most capacity steps (each `--step` s plus its drain). */
const MAX_STEPS = 7;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
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
  /** Every send's arrival time while `recording` (the backlog drain). */
  const sends: number[] = [];
  let recording = false;
  const natsHits = new Arrivals();
  let receiver: WebhookReceiver | undefined;
  const loadStart = loadavg()[0]!;
  try {
    // The merchant's receiver on a thread of its own, not on the load generator's event loop.
    receiver = await WebhookReceiver.start((a) => {
      if (recording) sends.push(a.at);
      receiverHits.noteArrival(a);
    });
    const receiverUrl = receiver.url;
    await sleep(500); // nats-server starts in a few ms; its port is checked by the connection below
    idem = await IdemProcess.start({
      bin: process.env.BENCH_IDEM_BIN ?? join(ROOT, 'dist', 'cli', 'main.js'),
      env: {
        LOG_LEVEL: 'warn',
        DATABASE_URL: dbUrl,
        REDIS_URL: REDIS,
        IDEM_NATS_URL: `nats://127.0.0.1:${natsPort}`,
        IDEM_WEBHOOK_ALLOW_PRIVATE: '1',
        IDEM_GATEWAYS: JSON.stringify([{ name: 'sim', kind: 'simulator', latency_ms: 0 }]),
        ...(process.env.BENCH_IDEM_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_IDEM_NODE_OPTIONS } : {}),
        // Settings to compare with the defaults, e.g. `IDEM_WEBHOOK_PER_ENDPOINT=32 IDEM_WEBHOOK_LANE=16`.
        ...Object.fromEntries((process.env.BENCH_IDEM_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
      },
      args: [],
      cwd: ROOT,
      maxOutputChars: 20_000,
    });
    const db = openPostgres(dbUrl, { max: 2 });
    const store = new SqlStore(db);
    const withHooks = await createMerchant(store, cryptoRandom, 'with-webhooks');
    const without = await createMerchant(store, cryptoRandom, 'without-webhooks');
    const nc = await connect({ servers: `nats://127.0.0.1:${natsPort}` });
    // The merchant with the endpoint only: both deliveries carry the same events.
    const sub = nc.subscribe(`idem.${withHooks.id}.>`);
    void (async () => {
      for await (const m of sub) natsHits.note(m.string());
    })();
    const base = idem.url;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    // Every type, named, attempt.* included: the load this bench has always measured.
    const call = (path: string, key: string, body: unknown) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const data = JSON.stringify(body);
        const req = http.request(`${base}${path}`, {
          method: 'POST',
          agent,
          headers: { authorization: `Bearer ${withHooks.apiKey}`, 'idempotency-key': key, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on('error', reject);
        req.end(data);
      });
    const created = await call('/v1/webhook_endpoints', 'bench-endpoint', { url: receiverUrl, event_types: Object.keys(EVENT_TYPES) });
    if (created.status !== 201) throw new Error(`could not create the endpoint: ${created.status}`);
    const endpointId = (JSON.parse(created.body) as { id: string }).id;
    const payment = { amount: 1000, currency: 'EUR', capture_method: 'automatic', payment_method: { type: 'card', token: 'tok_visa' } };
    const raw = poster(base, withHooks.apiKey, agent, payment);
    const post = raw;
    const counters: Counters = { webhook: receiverHits, nats: natsHits };
    // Every event positioned, delivered to the endpoint and published (from the database).
    const settled = async () => {
      const { rows } = await db.query<{ pending: number; unpositioned: number; behind: number }>(
        `SELECT (SELECT count(*) FROM webhook_deliveries WHERE state = 'pending')::int AS pending,
                (SELECT count(*) FROM payment_events WHERE position IS NULL)::int AS unpositioned,
                ((SELECT coalesce(max(position), 0) FROM payment_events) - (SELECT coalesce(max(position), 0) FROM event_publishers))::int AS behind`,
      );
      const r = rows[0]!;
      return r.pending === 0 && r.unpositioned === 0 && r.behind <= 0;
    };
    const log = (msg: string) => process.stderr.write(`[bench:events ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

    // 0. Warm-up: a running deployment has traffic in its tables and planner statistics on
    // them; a database created a second ago has neither, and its first plans for the delivery
    // queue assume it is empty. Send some payments, let their events drain, and analyze.
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < WARMUP) await postPolitely(post, `warm-${next++}`);
    }));
    if (!(await until(settled, 60_000))) throw new Error(`warm-up: ${receiverHits.count}/${natsHits.count} events delivered (webhook/JetStream) in 60 s`);
    await db.query('ANALYZE');
    log(`warm-up: ${WARMUP} payments, every event delivered`);

    // 1. Backlog drain: `--backlog` payments made and delivered, then all their events queued
    // again at once (`…/replay`, same ids) and a payment made to wake the worker: every send
    // the receiver gets per second, from the first after the replay to the last.
    const drain = { events: 0, perSecond: NaN };
    if (BACKLOG > 0) {
      const from = new Date(Date.now() - 1000).toISOString();
      next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next < BACKLOG) await postPolitely(post, `backlog-${next++}`);
      }));
      if (!(await until(settled, 60_000))) throw new Error('backlog: the payments\' events did not drain within 60 s');
      const to = new Date(Date.now() + 1000).toISOString();
      sends.length = 0;
      recording = true;
      const replayed = await call(`/v1/webhook_endpoints/${endpointId}/replay`, 'bench-replay', { from, to });
      if (replayed.status !== 202) throw new Error(`could not replay: ${replayed.status} ${replayed.body}`);
      await postPolitely(post, 'backlog-wake');
      if (!(await until(settled, 120_000))) throw new Error(`backlog: ${sends.length} sends in 120 s`);
      recording = false;
      drain.events = sends.length;
      drain.perSecond = sends.length / ((Math.max(...sends) - Math.min(...sends)) / 1000 || 1);
      log(`backlog: ${JSON.parse(replayed.body).queued ?? '?'} events queued again, ${drain.events} sends at ${drain.perSecond.toFixed(0)}/s`);
      if (args['backlog-only']) {
        await nc.close();
        await db.close();
        agent.destroy();
        return;
      }
    }

    // 2. First request, webhooks on vs off, alternated. Payments answered 201 per second: a
    // request the API shed (503, Retry-After) is not a payment.
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
        shed: ({ status }) => status === 503,
      });
    const runs: Array<{ on: boolean; r: LoadResult }> = [];
    for (const on of [false, true, false, true]) {
      const r = await firstRequest(on ? withHooks.apiKey : without.apiKey, `fr-${on}-${runs.length}-`);
      runs.push({ on, r });
      log(`first request, webhooks ${on ? 'on' : 'off'}: ${(r.ok / r.durationS).toFixed(0)} payments/s (${r.shed} shed, ${r.wrong} wrong)`);
      // The deliveries of an "on" run drain before the next run.
      if (!(await until(settled, 90_000))) throw new Error('the first-request run\'s events did not drain within 90 s');
    }
    const perSecond = (on: boolean) => runs.filter((x) => x.on === on).reduce((a, x) => a + x.r.ok / x.r.durationS, 0) / 2;
    // The floor of delivery: what its HTTP exchanges alone cost on these cores. If delivery cost
    // nothing else, webhooks on could reach floor / (floor + events per payment × off) of off.
    const floor = await deliveryFloor(receiverUrl, DURATION);
    log(`delivery floor: ${floor.toFixed(0)} bare signed webhook exchanges/s`);
    const first = {
      offPerSecond: perSecond(false),
      onPerSecond: perSecond(true),
      ratio: perSecond(true) / perSecond(false),
      floorExchangesPerSecond: floor,
      ratioBound: floor / (floor + EVENTS_PER_PAYMENT * perSecond(false)),
      clean: runs.every((x) => x.r.errors === 0 && x.r.timeouts === 0 && x.r.wrong === 0 && x.r.ok > 0),
      shed: runs.reduce((a, x) => a + x.r.shed, 0),
    };

    // 3. Capacity: down from the webhooks-on throughput until a step holds, then halfway back up.
    const steps: Step[] = [];
    let keys = 0;
    const step = async (rate: number, seconds: number) => {
      const s = await pacedStep(post, counters, rate, seconds, `p${keys++}-`, 60_000);
      steps.push(s);
      log(`${rate.toFixed(0)} payments/s: ${s.answered ? 'answered' : 'NOT answered'}, ${s.keptUp ? 'kept up' : 'fell behind'} (backlog webhook ${s.backlog.webhook.map((x) => x.toFixed(0)).join('→')}, JetStream ${s.backlog.nats.map((x) => x.toFixed(0)).join('→')}, ${s.shed} shed, drained in ${s.drainedMs} ms)`);
      return s;
    };
    const holds = (s: Step) => s.answered && s.keptUp;
    let rate = Math.max(5, Math.round(first.onPerSecond));
    let failedAt = Infinity;
    let capacity = 0;
    for (let i = 0; i < MAX_STEPS - 1 && capacity === 0; i++) {
      if (holds(await step(rate, STEP))) capacity = rate;
      else {
        failedAt = rate;
        rate = Math.max(1, Math.floor(rate * 0.85));
      }
    }
    // The first step held: up by 15 % while steps hold (a paced load may hold above what 32
    // closed-loop connections reached).
    for (let i = steps.length; i < MAX_STEPS && capacity > 0 && !Number.isFinite(failedAt); i++) {
      const up = Math.ceil(capacity * 1.15);
      if (holds(await step(up, STEP))) capacity = up;
      else failedAt = up;
    }
    if (capacity > 0 && Number.isFinite(failedAt) && failedAt - capacity >= 4 && steps.length < MAX_STEPS + 1) {
      const mid = Math.round((capacity + failedAt) / 2);
      if (holds(await step(mid, STEP))) capacity = mid;
    }
    if (capacity === 0) throw new Error(`no rate held in ${MAX_STEPS - 1} steps down to ${rate} payments/s`);

    // 4. Latency at fractions of the capacity.
    const curve: Array<{ fraction: number; s: Step }> = [];
    for (const fraction of [0.25, 0.5, 0.7, 0.9]) curve.push({ fraction, s: await step(Math.max(1, capacity * fraction), SECONDS) });
    const at70 = curve.find((x) => x.fraction === 0.7)!.s;

    const loadEnd = loadavg()[0]!;
    const out = { drain, capacity: { paymentsPerSecond: capacity, eventsPerSecond: capacity * EVENTS_PER_PAYMENT }, curve, steps, firstRequest: first, loadAverage: [loadStart, loadEnd] };
    if (args.json) console.log(JSON.stringify(out, null, 2));
    else {
      const f = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : 'n/a');
      console.log(`Load average ${loadStart.toFixed(1)} at the start, ${loadEnd.toFixed(1)} at the end (2 cores shared by Idem, PostgreSQL, Redis, NATS, this load and receiver${loadStart > 2.5 ? ', and others' : ''})`);
      if (BACKLOG > 0) console.log(`Backlog drain: ${drain.events} webhook events queued at once (replay of ${BACKLOG} payments): ${drain.perSecond.toFixed(0)} events/s delivered`);
      console.log(`Capacity: ${capacity} payments/s = ${capacity * EVENTS_PER_PAYMENT} events/s (API answers every payment, webhook and JetStream backlogs do not grow; ${steps.length - curve.length} steps of ${STEP} s)`);
      console.log(`Latency, event write → first arrival, ${SECONDS} s at each rate (goal: p99 ≤ 250 ms at 70 %):`);
      console.log('  of capacity  payments/s  events/s   webhook p50 / p99      JetStream p50 / p99    delivered');
      for (const { fraction, s } of curve) {
        console.log(
          `  ${String(fraction * 100).padStart(3)} %        ${f(s.rate).padStart(5)}     ${f(s.rate * EVENTS_PER_PAYMENT).padStart(5)}     ${f(s.webhook.p50Ms).padStart(5)} / ${f(s.webhook.p99Ms).padStart(5)} ms      ${f(s.nats.p50Ms).padStart(5)} / ${f(s.nats.p99Ms).padStart(5)} ms     ${s.webhook.delivered}/${s.nats.delivered} of ${s.created * EVENTS_PER_PAYMENT}${holds(s) ? '' : '  (step did not hold)'}`,
        );
      }
      console.log(`First request (new key, automatic capture), 32 connections, ${DURATION} s × 2 each: webhooks off ${f(first.offPerSecond)} payments/s, on ${f(first.onPerSecond)} payments/s, ratio ${first.ratio.toFixed(2)} (goal ≥ 0.9; bound by the HTTP exchanges alone: ${first.ratioBound.toFixed(2)}, from ${f(first.floorExchangesPerSecond)} bare signed exchanges/s)${first.shed ? `, ${first.shed} shed (503) and sent again` : ''}${first.clean ? '' : '   SOME RESPONSES WERE WRONG'}`);
      console.log(`Goals: webhook p99 at 70 % ${at70.webhook.p99Ms <= 250 ? 'met' : 'NOT met'}, JetStream p99 at 70 % ${at70.nats.p99Ms <= 250 ? 'met' : 'NOT met'}, ratio ${first.ratio >= 0.9 ? 'met' : 'NOT met'}`);
    }
    await nc.close();
    await db.close();
    agent.destroy();
    const lost = curve.some(({ s }) => s.webhook.delivered < s.created * EVENTS_PER_PAYMENT || s.nats.delivered < s.created * EVENTS_PER_PAYMENT);
    if (!first.clean || lost) {
      process.exitCode = 1;
      console.error(`Idem's output (last lines):\n${idem.output().slice(-3000)}`);
    }
  } catch (err) {
    process.exitCode = 1;
    console.error(`${(err as Error).stack ?? String(err)}\nIdem's output (last lines):\n${idem?.output().slice(-3000) ?? ''}`);
  } finally {
    await idem?.stop();
    await receiver?.close();
    if (nats.pid) process.kill(nats.pid, 'SIGKILL');
    rmSync(natsDir, { recursive: true, force: true });
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
