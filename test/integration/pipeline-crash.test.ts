/**
 * The payment pipeline under crashes (docs/payments.md; invariants I1–I4 in docs/testing.md).
 *
 * Production mode: two `idem serve` processes on one fresh PostgreSQL database and one Redis,
 * two gateway simulators (real HTTP) that lose 10% of their answers after executing and refuse
 * 5% before executing, with latency. Seeded traffic — create (manual and automatic capture),
 * capture (full, partial), void, refund (full, partial), 20% of operations sent twice at once
 * to both instances — while each instance is SIGKILLed at least twice and restarted, each on
 * its own seeded schedule (so both may be down at once). The last 15% of payments wait until
 * every kill has happened, so the kills always land on live traffic. `IDEM_CRASH_SEED` replays
 * another plan.
 *
 *   clients ──┬── A ──╳──── A' ────╳──── A'' ──┐
 *             └── B ─────╳──── B' ───────╳─ B''┴── PostgreSQL (truth) + Redis
 *                                               └── sim-a, sim-b (their logs are the truth
 *                                                   about money that moved)
 *
 * Embedded mode: the same traffic (smaller) against one `idem serve --data-dir` process
 * (PGlite), killed and restarted on the same folder; checked by opening the folder afterwards.
 *
 * Then faults stop and, within the recovery bound: every payment is final (I3), the gateways
 * executed every operation once (I1), every key replays its final answer byte for byte (I2),
 * and the ledger matches states and gateway logs (I4).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { Database, Queryable } from '../../src/db/database.js';
import { openPglite } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import type { SimulatorFaults } from '../../src/gateways/simulator/processor.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { createHttpClient, type HttpClient } from '../support/httpClient.js';
import { startIdemServer, stopIdemServers } from '../support/idemServer.js';
import { waitUntil } from '../support/payments.js';
import {
  IN_FLIGHT,
  clientProblems,
  databaseChecks,
  line,
  planPayments,
  replayDifferences,
  trafficUnderKills,
  type InstanceSlot,
  type KillRecord,
  type TrafficResult,
} from '../support/pipelineTraffic.js';
import { REDIS_URL, createTestDatabase, postgresAvailable, redisAvailable } from '../support/services.js';

const SEED = Number(process.env.IDEM_CRASH_SEED ?? 20_240_611);
const LEASE_MS = 2_000;
const RECOVERY_BOUND_MS = 60_000;
const GATEWAYS = ['sim-a', 'sim-b'];

const CHAOS: Partial<SimulatorFaults> = {
  timeoutAfterProcessingRate: 0.1,
  errorBeforeProcessingRate: 0.05,
  latency: { minMs: 5, maxMs: 60 },
  retryAfterSeconds: 0,
};
const CALM: Partial<SimulatorFaults> = { timeoutAfterProcessingRate: 0, errorBeforeProcessingRate: 0, latency: { minMs: 0, maxMs: 5 } };

const serviceEnv = {
  IDEM_LEASE_MS: String(LEASE_MS),
  IDEM_HOLD_TIMEOUT_MS: '5000',
  IDEM_RELAY_INTERVAL_MS: '200',
};

function gatewaysEnv(sims: SimulatorServer[]): string {
  return JSON.stringify(sims.map((s, i) => ({ name: GATEWAYS[i], kind: 'http', base_url: s.url, timeout_ms: 600, priority: i })));
}

async function startSimulators(seed: number): Promise<SimulatorServer[]> {
  return Promise.all(GATEWAYS.map((_g, i) => startSimulatorServer({ seed: seed + i, faults: CHAOS })));
}

function summary(mode: string, states: Record<string, number>, kills: KillRecord[], traffic: TrafficResult, extra: string): string {
  const s = traffic.stats;
  return (
    `[pipeline-crash ${mode}] seed=${SEED} payments=${traffic.payments.length} keys=${traffic.keys.length} | states: ${line(states)} | ` +
    `kills=${kills.length} (${kills.map((k) => `${k.slot}@${k.atDone}/${k.inFlight}`).join(',')}) | requests=${s.requests} retries=${s.retries} ` +
    `duplicates=${s.duplicates} 202=${s.accepted202} 409=${s.inProgress409} 5xx=${s.serverErrors} conn_errors=${s.connectionErrors} ` +
    `walk_aways=${s.walkAways} | ${extra}`
  );
}

const pgReady = (await postgresAvailable()) && (await redisAvailable());

describe.skipIf(!pgReady)('pipeline under SIGKILL: 2 instances, PostgreSQL + Redis, 2 gateways with faults', () => {
  let database: { url: string; drop: () => Promise<void> } | undefined;
  let db: Database | undefined;
  let sims: SimulatorServer[] = [];
  let client: HttpClient | undefined;
  let merchantId: string | undefined;
  const slots: InstanceSlot[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('idem_pipecrash');
    sims = await startSimulators(SEED);
    client = createHttpClient(256);
    const env = { DATABASE_URL: database.url, REDIS_URL, IDEM_GATEWAYS: gatewaysEnv(sims), ...serviceEnv };
    for (const name of ['A', 'B']) {
      const slot: InstanceSlot = { name, server: null, history: [], start: () => startIdemServer({ env }) };
      slots.push(slot);
    }
    // One first, so the other does not race it through the migrations (both would be safe).
    for (const slot of slots) {
      slot.server = await slot.start();
      slot.history.push(slot.server);
    }
    db = openPostgres(database.url, { max: 4 });
  });

  afterAll(async () => {
    await stopIdemServers(slots.flatMap((s) => s.history));
    client?.close();
    await Promise.all(sims.map((s) => s.close()));
    await db?.close();
    if (merchantId) {
      const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        const keys = await redis.keys(`idem:?:${merchantId}:*`);
        for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
      } finally {
        redis.disconnect();
      }
    }
    await database?.drop();
  });

  it(
    '300 payments, each instance killed twice or more: every payment final, no operation twice, every key replays, ledger matches',
    async () => {
      const merchant = await createMerchant(new SqlStore(db!), cryptoRandom, 'pipeline-crash');
      merchantId = merchant.id;
      const plans = planPayments(SEED, 300, GATEWAYS);
      const { traffic, killed, trafficMs, cluster } = await trafficUnderKills({
        slots,
        plans,
        killsPerSlot: 2,
        seed: SEED,
        client: client!,
        apiKey: merchant.apiKey,
        concurrency: 24,
        keyPrefix: `pc${SEED}`,
      });

      // The clients are done (or walked away). Faults stop; recovery must finish the rest.
      for (const s of sims) s.processor.setFaults(CALM);
      const recoveryStarted = Date.now();
      await waitUntil(
        'every payment is final and every key completed',
        async () => {
          const { rows } = await db!.query<{ n: number }>(
            `SELECT (SELECT count(*) FROM payments WHERE status = ANY($1::text[]))
                  + (SELECT count(*) FROM idempotency_keys WHERE state <> 'completed') AS n`,
            [IN_FLIGHT],
          );
          return Number(rows[0]!.n) === 0;
        },
        RECOVERY_BOUND_MS,
        200,
      ).catch(() => {}); // the checks below say what is left
      const recoveryMs = Date.now() - recoveryStarted;

      const replays = await replayDifferences(client!, merchant.apiKey, cluster, traffic.keys);
      const checks = await databaseChecks(db!, merchant.id, sims, traffic);
      const problems = [...clientProblems(traffic), ...checks.differences, ...replays.differences.map((d) => `I2: ${d}`)];

      console.log(
        summary(
          'postgres+redis, 2 instances',
          checks.states,
          killed,
          traffic,
          `gateway_ops=${checks.gatewayOps} traffic=${trafficMs}ms recovery=${recoveryMs}ms replayed=${replays.replayed}`,
        ),
      );
      if (traffic.stats.serverErrorBodies.size > 0) console.log(`[pipeline-crash] 5xx bodies: ${[...traffic.stats.serverErrorBodies].slice(0, 5).join(' | ')}`);
      if (problems.length > 0) console.log(`[pipeline-crash] timelines:\n${await explain(db!, problems)}`);

      expect(killed.filter((k) => k.slot === 'A').length).toBeGreaterThanOrEqual(2);
      expect(killed.filter((k) => k.slot === 'B').length).toBeGreaterThanOrEqual(2);
      expect(killed.every((k) => k.signal === 'SIGKILL')).toBe(true);
      expect(problems, 'I1–I4 and what the clients saw').toEqual([]);
      expect(recoveryMs, 'recovery bound').toBeLessThan(RECOVERY_BOUND_MS);
      // The run really exercised what it claims to.
      expect(traffic.stats.accepted202).toBeGreaterThan(0);
      expect(traffic.stats.duplicates).toBeGreaterThan(0);
      expect(traffic.stats.walkAways).toBeGreaterThan(0);
      expect(Object.keys(checks.states)).toEqual(expect.arrayContaining(['voided', 'captured', 'partially_captured', 'refunded', 'partially_refunded']));
    },
    240_000,
  );
});

describe('pipeline under SIGKILL: embedded mode (PGlite), one process restarted on its data folder', () => {
  let sims: SimulatorServer[] = [];
  let client: HttpClient | undefined;
  let dataDir: string | undefined;
  const slot: InstanceSlot = { name: 'E', server: null, history: [], start: () => Promise.reject(new Error('not configured')) };

  beforeAll(async () => {
    sims = await startSimulators(SEED + 100);
    client = createHttpClient(256);
    dataDir = mkdtempSync(join(tmpdir(), 'idem-pipecrash-'));
    const dir = dataDir;
    const env = { IDEM_GATEWAYS: gatewaysEnv(sims), ...serviceEnv };
    slot.start = () => startIdemServer({ env, args: ['--data-dir', dir] });
    slot.server = await slot.start();
    slot.history.push(slot.server);
  });

  afterAll(async () => {
    await stopIdemServers(slot.history);
    client?.close();
    await Promise.all(sims.map((s) => s.close()));
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it(
    '120 payments, the process killed three times: every payment final, no operation twice, every key replays, ledger matches',
    async () => {
      const m = /API key, shown once: (sk_\S+)/.exec(slot.server!.output());
      if (!m) throw new Error(`embedded serve printed no API key:\n${slot.server!.output()}`);
      const apiKey = m[1]!;
      const plans = planPayments(SEED + 100, 120, GATEWAYS);
      const { traffic, killed, trafficMs, cluster } = await trafficUnderKills({
        slots: [slot],
        plans,
        killsPerSlot: 3,
        seed: SEED + 100,
        client: client!,
        apiKey,
        concurrency: 12,
        keyPrefix: `pe${SEED}`,
      });

      for (const s of sims) s.processor.setFaults(CALM);
      const recoveryStarted = Date.now();
      await waitUntil(
        'every payment is final',
        async () => {
          const statuses = await listStatuses(client!, slot.server!.url, apiKey);
          return statuses.length === plans.length && statuses.every((s) => !IN_FLIGHT.includes(s));
        },
        RECOVERY_BOUND_MS,
        250,
      ).catch(() => {});
      const recoveryMs = Date.now() - recoveryStarted;
      const replays = await replayDifferences(client!, apiKey, cluster, traffic.keys);

      // One process per data folder: stop the server before opening the folder here.
      await slot.server!.stop();
      slot.server = null;
      const db = await openPglite(dataDir!);
      let checks: Awaited<ReturnType<typeof databaseChecks>>;
      let problems: string[];
      let timelines = '';
      try {
        const { rows } = await db.query<{ id: string }>('SELECT id FROM merchants');
        expect(rows).toHaveLength(1);
        checks = await databaseChecks(db, rows[0]!.id, sims, traffic);
        problems = [...clientProblems(traffic), ...checks.differences, ...replays.differences.map((d) => `I2: ${d}`)];
        if (problems.length > 0) timelines = await explain(db, problems);
      } finally {
        await db.close();
      }

      console.log(
        summary('embedded PGlite, 1 instance', checks.states, killed, traffic, `gateway_ops=${checks.gatewayOps} traffic=${trafficMs}ms recovery=${recoveryMs}ms replayed=${replays.replayed}`),
      );
      if (traffic.stats.serverErrorBodies.size > 0) console.log(`[pipeline-crash] 5xx bodies: ${[...traffic.stats.serverErrorBodies].slice(0, 5).join(' | ')}`);
      if (timelines) console.log(`[pipeline-crash] timelines:\n${timelines}`);

      expect(killed.length).toBeGreaterThanOrEqual(2);
      expect(killed.every((k) => k.signal === 'SIGKILL')).toBe(true);
      expect(problems, 'I1–I4 and what the clients saw').toEqual([]);
      expect(recoveryMs, 'recovery bound').toBeLessThan(RECOVERY_BOUND_MS);
      expect(traffic.stats.accepted202).toBeGreaterThan(0);
      expect(traffic.stats.duplicates).toBeGreaterThan(0);
    },
    180_000,
  );
});

/**
 * The event timelines of the payments named in `problems` (a few), so a failure shows how a
 * payment got where it is, not only that it did.
 */
async function explain(db: Queryable, problems: string[], limit = 3): Promise<string> {
  const ids = [...new Set(problems.join(' ').match(/pay_[0-9a-z]+/g) ?? [])].slice(0, limit);
  const out: string[] = [];
  for (const id of ids) {
    const { rows } = await db.query<{ type: string; data: Record<string, unknown>; created_at: Date }>(
      'SELECT type, data, created_at FROM payment_events WHERE payment_id = $1 ORDER BY id',
      [id],
    );
    out.push(`${id}:\n` + rows.map((e) => `  ${e.created_at.toISOString()} ${e.type} ${JSON.stringify(e.data)}`).join('\n'));
  }
  return out.join('\n');
}

/** Every payment's status, through the API (the embedded database belongs to the server). */
async function listStatuses(client: HttpClient, baseUrl: string, apiKey: string): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await client.request('GET', `${baseUrl}/v1/payments?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    if (page.status !== 200) throw new Error(`GET /v1/payments answered ${page.status}`);
    const body = JSON.parse(page.text) as { data: Array<{ status: string }>; next_cursor: string | null };
    out.push(...body.data.map((p) => p.status));
    cursor = body.next_cursor;
  } while (cursor !== null);
  return out;
}
