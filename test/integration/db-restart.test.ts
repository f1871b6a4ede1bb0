/**
 * The stores restarted under Idem (SPEC I10; docs/scale-out.md, "When a store restarts"). A
 * private PostgreSQL (initdb + pg_ctl in a temporary folder), a private Redis and a private
 * three-node Redis Cluster — never the shared servers —, two HTTP gateway simulators keeping
 * their own logs, and two `idem serve` processes under clients that retry 202, 409, 5xx and
 * connection errors with the same key.
 *
 *   stage 1   A, B ── private PostgreSQL ─ restarted 10×: -m fast, -m immediate, fast, …
 *                  └─ private Redis ────── SIGKILLed and restarted 3×
 *   stage 2   C, D ── private PostgreSQL (another database), no Redis: held requests woken
 *                     by LISTEN/NOTIFY ─ restarted 2× (fast, immediate)
 *   stage 3   E, F ── private PostgreSQL (another database) ─ restarted 1× (fast)
 *                  └─ Redis Cluster ──── one node SIGKILLed, restarted, cluster ok again
 *
 * Each fault waits until the store is back and traffic has succeeded again before the next.
 * Then faults stop and: both processes of the stage never exited and still answer, every 5xx a
 * client saw was 503 with Retry-After, every key has its final answer (and replays it byte for
 * byte), every payment is final, the gateways' own logs show nothing executed twice (at most
 * one authorization per payment, captures within the amount), the ledger matches, and the
 * background loops resumed (events positioned, reconciliation passes after the last fault).
 *
 * A checked-out pg client without an `error` listener (a transaction between statements, a
 * LISTEN client) ended the process at a restart before the fix: this test caught it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { createHttpClient, type HttpClient } from '../support/httpClient.js';
import { startIdemServer, stopIdemServers, type IdemServer } from '../support/idemServer.js';
import { waitUntil } from '../support/payments.js';
import { pgServerInstalled, startPgServer, type PgServer } from '../support/pgServer.js';
import {
  IN_FLIGHT,
  clientProblems,
  databaseChecks,
  line,
  newStats,
  planPayments,
  replayDifferences,
  runTraffic,
  type Cluster,
  type TrafficResult,
} from '../support/pipelineTraffic.js';
import { redisClusterToolsInstalled, startRedisCluster, type RedisCluster } from '../support/redisCluster.js';
import { startRedisServer, type RedisServer } from '../support/redisServer.js';

const SEED = Number(process.env.IDEM_RESTART_SEED ?? 20_261_207);
const GATEWAYS = ['sim-a', 'sim-b'];
const RECOVERY_BOUND_MS = 60_000;

const ready = pgServerInstalled() && (await redisClusterToolsInstalled());
if (!ready && process.env.CI === 'true') throw new Error('initdb/pg_ctl, redis-server or redis-cli is not installed; CI=true, so this is a failure');
if (!ready) console.warn('\n!!! SKIPPING the store restart test: initdb/pg_ctl (IDEM_TEST_PG_BIN), redis-server or redis-cli is not installed.\n');

/** Two instances on one database, the gateways they call, and what became of their processes. */
interface Stage {
  name: string;
  db: Database;
  sims: SimulatorServer[];
  servers: IdemServer[];
  merchant: { id: string; apiKey: string };
  /** One line per process that exited while the stage ran, with the end of its output. */
  deaths: string[];
  /** Set once the test stops the stage: exits from then on are its own doing. */
  stopping: boolean;
}

describe.skipIf(!ready)('stores restarted under traffic: two idem serve stay up, nothing twice', () => {
  let pgServer: PgServer | undefined;
  let redis: RedisServer | undefined;
  let cluster: RedisCluster | undefined;
  let client: HttpClient;
  const stages: Stage[] = [];

  beforeAll(async () => {
    pgServer = await startPgServer();
    client = createHttpClient(256);
  }, 120_000);

  afterAll(async () => {
    for (const s of stages) await closeStage(s);
    client?.close();
    await redis?.kill('SIGKILL');
    await cluster?.stop();
    await pgServer?.stop();
  });

  /** Stops the stage's processes (SIGTERM) and gateways: the next stage runs on a quieter machine. */
  async function closeStage(stage: Stage): Promise<void> {
    if (stage.stopping) return;
    stage.stopping = true;
    await stopIdemServers(stage.servers);
    await Promise.all(stage.sims.map((sim) => sim.close()));
    await stage.db.close().catch(() => {});
  }

  /** A database of its own on the private server, two sims, a merchant, two `idem serve` (Redis if given). */
  async function openStage(name: string, redisUrl: string | null, seed: number): Promise<Stage> {
    const admin = new pg.Client({ connectionString: pgServer!.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(pgServer!.url);
    url.pathname = `/${name}`;
    const sims = await Promise.all(GATEWAYS.map((_g, i) => startSimulatorServer({ seed: seed + i, faults: { latency: { minMs: 2, maxMs: 25 } } })));
    const env = {
      DATABASE_URL: url.toString(),
      ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
      IDEM_GATEWAYS: JSON.stringify(sims.map((s, i) => ({ name: GATEWAYS[i], kind: 'http', base_url: s.url, timeout_ms: 2_000, priority: i }))),
      IDEM_LEASE_MS: '2000',
      IDEM_HOLD_TIMEOUT_MS: '5000',
      IDEM_RELAY_INTERVAL_MS: '200',
      IDEM_RECONCILE_INTERVAL_MS: '1000',
      IDEM_PG_POOL_MAX: '10',
    };
    const stage: Stage = { name, db: openPostgres(url.toString(), { max: 3 }), sims, servers: [], merchant: { id: '', apiKey: '' }, deaths: [], stopping: false };
    stages.push(stage);
    // One first, so the other does not race it through the migrations (both would be safe).
    for (const label of ['first', 'second']) {
      const server = await startIdemServer({ env });
      stage.servers.push(server);
      void server.exited.then(({ code, signal }) => {
        if (!stage.stopping) stage.deaths.push(`${name} ${label} instance (pid ${server.pid}) exited: code ${code}, signal ${signal}\n${server.output().slice(-3_000)}`);
      });
    }
    stage.merchant = await createMerchant(new SqlStore(stage.db), cryptoRandom, name);
    return stage;
  }

  /**
   * Retrying traffic against the stage, in rounds of fresh payments, until `faults` has run;
   * `faults` gets `recovered(what)`, which resolves once clients have had 20 more final answers.
   */
  async function trafficDuring(
    stage: Stage,
    seed: number,
    faults: (recovered: (what: string) => Promise<void>) => Promise<void>,
  ): Promise<TrafficResult & { rounds: number; timeline: string[] }> {
    const stats = newStats();
    const finals = () => (stats.statuses['200'] ?? 0) + (stats.statuses['201'] ?? 0);
    // Clients go to the processes that are alive: a dead one must fail the test, not the traffic.
    const live: Cluster = { live: () => stage.servers.filter((s) => stage.deaths.every((d) => !d.includes(`(pid ${s.pid})`))).map((s) => s.url) };
    const all: TrafficResult = { keys: [], payments: [], stats };
    let faultsOver = false;
    let rounds = 0;
    const traffic = (async () => {
      while (!faultsOver) {
        const round = await runTraffic(
          {
            client,
            apiKey: stage.merchant.apiKey,
            cluster: live,
            plans: planPayments(seed + rounds, 24, GATEWAYS, 0.2, 0),
            concurrency: 12,
            seed: seed + rounds,
            keyPrefix: `${stage.name}-r${rounds}`,
            operationDeadlineMs: 45_000,
          },
          stats,
        );
        rounds++;
        all.keys.push(...round.keys);
        all.payments.push(...round.payments);
      }
    })();
    const started = Date.now();
    const timeline: string[] = [];
    const recovered = async (what: string) => {
      const before = finals();
      const at = Date.now();
      await waitUntil(`traffic succeeds again after ${what}`, () => {
        if (stage.deaths.length > 0) throw new Error(`an instance died at ${what}:\n${stage.deaths.join('\n')}`);
        return finals() >= before + 20;
      }, 60_000, 50);
      timeline.push(`${what} at ${((at - started) / 1000).toFixed(1)}s, traffic back in ${Date.now() - at}ms`);
    };
    try {
      await recovered('the start');
      await faults(recovered);
    } finally {
      faultsOver = true;
      await traffic;
    }
    return { ...all, rounds, timeline };
  }

  /** After the faults: the loops finish what is in flight; then every check of the header. */
  async function settleAndCheck(stage: Stage, traffic: TrafficResult & { rounds: number; timeline: string[] }, passesAtLastFault: number, what: string): Promise<void> {
    const recoveryStarted = Date.now();
    await waitUntil(
      'every payment and key final, every event positioned, a reconciliation pass after the last fault',
      async () => {
        const { rows } = await stage.db.query<{ open: number; unpositioned: number; passes: number }>(
          `SELECT (SELECT count(*) FROM payments WHERE status = ANY($1::text[]))
                + (SELECT count(*) FROM idempotency_keys WHERE state <> 'completed') AS open,
                  (SELECT count(*) FROM payment_events WHERE position IS NULL) AS unpositioned,
                  (SELECT coalesce(sum(passes), 0) FROM reconciliation_cursors) AS passes`,
          [IN_FLIGHT],
        );
        const r = rows[0]!;
        return Number(r.open) === 0 && Number(r.unpositioned) === 0 && Number(r.passes) > passesAtLastFault;
      },
      RECOVERY_BOUND_MS,
      200,
    ).catch(() => {}); // the checks below say what is left
    const recoveryMs = Date.now() - recoveryStarted;
    const cluster: Cluster = { live: () => stage.servers.map((s) => s.url) };
    const replays = await replayDifferences(client, stage.merchant.apiKey, cluster, traffic.keys);
    const checks = await databaseChecks(stage.db, stage.merchant.id, stage.sims, traffic);
    const { rows } = await stage.db.query<{ unpositioned: number }>('SELECT count(*) AS unpositioned FROM payment_events WHERE position IS NULL');
    const s = traffic.stats;
    console.log(
      `[db-restart ${stage.name}] seed=${SEED} ${what} | payments=${traffic.payments.length} keys=${traffic.keys.length} rounds=${traffic.rounds} | states: ${line(checks.states)} | ` +
        `requests=${s.requests} retries=${s.retries} 503=${s.statuses['503'] ?? 0} other_5xx=${s.serverErrors - (s.statuses['503'] ?? 0)} conn_errors=${s.connectionErrors} ` +
        `202=${s.accepted202} 409=${s.inProgress409} | gateway_ops=${checks.gatewayOps} recovery=${recoveryMs}ms replayed=${replays.replayed}`,
    );
    console.log(`[db-restart ${stage.name}] timeline: ${traffic.timeline.join('; ')}`);
    if (s.serverErrorBodies.size > 0) console.log(`[db-restart ${stage.name}] 5xx bodies: ${[...s.serverErrorBodies].slice(0, 5).join(' | ')}`);

    expect(stage.deaths, 'processes that exited').toEqual([]);
    for (const server of stage.servers) expect((await client.request('GET', `${server.url}/readyz`)).status, `${server.url}/readyz`).toBe(200);
    expect(s.serverErrorsNotRetryable, `5xx answers other than 503 with Retry-After: ${[...s.serverErrorBodies].join(' | ')}`).toBe(0);
    expect([...clientProblems(traffic), ...checks.differences, ...replays.differences.map((d) => `I2: ${d}`)], 'I1–I4 and what the clients saw').toEqual([]);
    expect(Number(rows[0]!.unpositioned), 'events the event relay never positioned').toBe(0);
    expect(recoveryMs, 'recovery bound').toBeLessThan(RECOVERY_BOUND_MS);
  }

  async function reconciliationPasses(db: Database): Promise<number> {
    const { rows } = await db.query<{ passes: number }>('SELECT coalesce(sum(passes), 0) AS passes FROM reconciliation_cursors');
    return Number(rows[0]!.passes);
  }

  it(
    'PostgreSQL restarted 10 times (fast and immediate in turn), Redis killed and restarted 3 times',
    async () => {
      redis = await startRedisServer();
      const stage = await openStage('idem_restart_single', redis.url, SEED);
      const faults: string[] = [];
      let passes = 0;
      const traffic = await trafficDuring(stage, SEED, async (recovered) => {
        for (let i = 0; i < 10; i++) {
          const mode = i % 2 === 0 ? 'fast' : 'immediate';
          const before = pgServer!.pid();
          await pgServer!.restart(mode);
          expect(pgServer!.pid(), 'a new postmaster').not.toBe(before);
          faults.push(`pg-${mode}`);
          await recovered(`PostgreSQL restart ${i + 1} (-m ${mode})`);
        }
        for (let i = 0; i < 3; i++) {
          const port = redis!.port;
          await redis!.kill('SIGKILL');
          redis = await startRedisServer(port);
          faults.push('redis-kill');
          await recovered(`Redis restart ${i + 1}`);
        }
        passes = await reconciliationPasses(stage.db);
      });
      await settleAndCheck(stage, traffic, passes, `faults: ${faults.join(',')}`);
      await closeStage(stage);
      expect(faults.filter((f) => f.startsWith('pg-'))).toHaveLength(10);
      // The faults landed on traffic: some requests failed and were retried.
      expect(traffic.stats.serverErrors + traffic.stats.connectionErrors).toBeGreaterThan(0);
    },
    300_000,
  );

  it(
    'PostgreSQL alone (held requests woken by LISTEN/NOTIFY) restarted twice, fast then immediate',
    async () => {
      const stage = await openStage('idem_restart_pg_only', null, SEED + 2000);
      let passes = 0;
      const traffic = await trafficDuring(stage, SEED + 2000, async (recovered) => {
        for (const mode of ['fast', 'immediate'] as const) {
          await pgServer!.restart(mode);
          await recovered(`PostgreSQL restart (-m ${mode}) under LISTEN`);
        }
        passes = await reconciliationPasses(stage.db);
      });
      await settleAndCheck(stage, traffic, passes, 'faults: pg-fast,pg-immediate (no Redis)');
      // Both instances listen again (PgKeyEvents re-dials its LISTEN client after a loss).
      await waitUntil('both instances LISTEN again', async () => {
        const { rows } = await stage.db.query<{ n: number }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'idem-listen' AND datname = current_database()`);
        return Number(rows[0]!.n) === 2;
      }, 30_000, 100);
      await closeStage(stage);
    },
    180_000,
  );

  it(
    'a Redis Cluster node SIGKILLed and restarted, and PostgreSQL restarted once, under traffic',
    async () => {
      cluster = await startRedisCluster(3);
      const stage = await openStage('idem_restart_cluster', cluster.url, SEED + 1000);
      let passes = 0;
      const traffic = await trafficDuring(stage, SEED + 1000, async (recovered) => {
        await cluster!.nodes[1]!.kill('SIGKILL');
        await recovered('a cluster node SIGKILLed');
        await cluster!.restart(1);
        await cluster!.waitUntilOk();
        await recovered('the cluster node restarted');
        await pgServer!.restart('fast');
        await recovered('a PostgreSQL restart (-m fast) on the cluster');
        passes = await reconciliationPasses(stage.db);
      });
      await settleAndCheck(stage, traffic, passes, 'faults: cluster-node-kill,cluster-node-restart,pg-fast');
      await closeStage(stage);
    },
    240_000,
  );
});
