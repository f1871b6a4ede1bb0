import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { openPostgres } from '../../src/db/postgres.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { execFile } from 'node:child_process';
import { gatewayLogDifferences } from '../../src/ledger/gatewayLog.js';
import { IDEM_BIN, startIdemServer, stopIdemServers, type IdemServer } from '../support/idemServer.js';
import { redisServerInstalled, startRedisServer, type RedisServer } from '../support/redisServer.js';
import { createTestDatabase, postgresAvailable, redisAvailable, REDIS_URL } from '../support/services.js';
import { scaled } from '../support/timeScale.js';
import { probeBoundViolations } from '../support/probeWindows.js';
import { defaultHealthPriors } from '../../src/resilience/health.js';

/**
 * The adaptive policy over real sockets (docs/resilience.md): two HTTP gateway simulators, two
 * `idem serve` instances on one PostgreSQL and Redis. The preferred gateway is switched to a
 * hard outage with `PUT /v1/faults`; payments keep being authorized, almost none of them call
 * the dead gateway once it is known down, both instances report it down (one shared model),
 * and after the outage ends new payments go back to it. Run twice: on the shared Redis, and on a
 * private `redis-server` SIGKILLed mid-outage — the instances fall back to PostgreSQL for the
 * shared model and for the gate, and nothing executes twice at either gateway.
 */
const up = (await postgresAvailable()) && (await redisAvailable());
const privateRedis = up && (await redisServerInstalled());
if (up && !privateRedis && process.env.CI === 'true') throw new Error('redis-server is not installed; CI=true, so this is a failure');
if (up && !privateRedis) console.warn('\n!!! SKIPPING the Redis-killed-mid-outage case: redis-server is not installed.\n');

function idemCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [IDEM_BIN, ...args], { env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe.each([
  { killRedis: false, title: 'on the shared Redis' },
  { killRedis: true, title: 'with Redis killed mid-outage' },
])('adaptive resilience: a hard outage of the preferred gateway, two instances, $title', ({ killRedis }) => {
  if (!up || (killRedis && !privateRedis)) return void it.skip('services unavailable', () => {});
  let db: Database;
  let redis: RedisServer | undefined;
  let dropDb: () => Promise<void>;
  let sims: SimulatorServer[] = [];
  let servers: IdemServer[] = [];
  let apiKey = '';
  let seq = 0;

  beforeAll(async () => {
    const t = await createTestDatabase();
    dropDb = t.drop;
    db = openPostgres(t.url, { max: 2 });
    await migrate(db);
    apiKey = (await createMerchant(new SqlStore(db), cryptoRandom, 'resilience')).apiKey;
    sims = await Promise.all([startSimulatorServer({ seed: 1 }), startSimulatorServer({ seed: 2 })]);
    const gateways = JSON.stringify([
      { name: 'gw-a', kind: 'http', base_url: sims[0]!.url, priority: 0, timeout_ms: 2000 },
      { name: 'gw-b', kind: 'http', base_url: sims[1]!.url, priority: 1, timeout_ms: 2000 },
    ]);
    redis = killRedis ? await startRedisServer() : undefined;
    const env = { DATABASE_URL: t.url, REDIS_URL: redis?.url ?? REDIS_URL, IDEM_GATEWAYS: gateways, IDEM_AUTH_FAILURES_PER_MINUTE: '0' };
    servers = await Promise.all([startIdemServer({ env, startTimeoutMs: 90_000 }), startIdemServer({ env, startTimeoutMs: 90_000 })]);
  }, 120_000);

  afterAll(async () => {
    await stopIdemServers(servers);
    await Promise.all(sims.map((s) => s.close()));
    await redis?.kill('SIGKILL');
    await db?.close();
    await dropDb?.();
  });

  async function pay(server: IdemServer): Promise<{ status: number; gateway: string | null; state: string }> {
    const res = await fetch(`${server.url}/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': `res-${process.pid}-${++seq}`, 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 1000, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } }),
    });
    const body = (await res.json()) as { gateway?: string | null; status?: string };
    return { status: res.status, gateway: body.gateway ?? null, state: body.status ?? '' };
  }

  async function gatewayState(server: IdemServer, name: string): Promise<{ state: string; breaker: string }> {
    const res = await fetch(`${server.url}/v1/gateways`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { policy: string; data: Array<{ name: string; state: string; breaker: string }> };
    expect(body.policy).toBe('adaptive');
    return body.data.find((g) => g.name === name)!;
  }

  async function setOutage(sim: SimulatorServer, outage: boolean) {
    const res = await fetch(`${sim.url}/v1/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ outage }) });
    expect(res.status).toBe(200);
  }

  it('authorizes every payment through the outage, barely touching the dead gateway, and returns to it after', async () => {
    for (let i = 0; i < 10; i++) expect((await pay(servers[i % 2]!)).gateway).toBe('gw-a');

    await setOutage(sims[0]!, true);
    const outageAt = Date.now();
    const startedAt = performance.now();
    // When every instance routes away from gw-a: both report it down (one learned it, the
    // other through the shared log). Asked one request at a time while the payments run.
    let routedAwayAt: number | null = null;
    let paying = true;
    const watch = (async () => {
      while (paying && routedAwayAt === null) {
        // The moment the answer is back: any probe sent before it counts as a learning call.
        if ((await Promise.all(servers.map((s) => gatewayState(s, 'gw-a')))).every((g) => g.state === 'down')) routedAwayAt = Date.now();
        else await new Promise((r) => setTimeout(r, 5));
      }
    })();
    // 200 payments from four clients (two an instance): enough traffic that both instances
    // have payments in flight while the outage is learned.
    const answers: Awaited<ReturnType<typeof pay>>[] = [];
    let next = 0;
    const took: number[] = [];
    await Promise.all(
      [0, 1, 2, 3].map(async (c) => {
        while (next < 200) {
          const i = next++;
          if (killRedis && i === 60) await redis!.kill('SIGKILL');
          const t0 = performance.now();
          answers.push(await pay(servers[c % 2]!));
          took.push(performance.now() - t0);
        }
      }),
    );
    const endedAt = Date.now();
    paying = false;
    await watch;
    // The dark gateway's own log: every send (POST /v1/authorize) and lookup (GET /v1/operations/…)
    // it received during the outage; its transaction-log reads (reconciliation) are not payment calls.
    const calls = sims[0]!
      .calls()
      .filter((c) => c.at >= outageAt && c.at <= endedAt && (c.path === '/v1/authorize' || c.path.startsWith('/v1/operations/')));
    const lookups = calls.filter((c) => c.method === 'GET').length;
    // A send routed just before the second instance flipped reaches the gateway a little after
    // both answered `down` (CI saw one 5 ms after): calls within IN_FLIGHT_MS of that moment
    // count as learning, not probes. One schedule never puts two probes that close together, so
    // at most one real probe moves, into the learning count, which has its own bound.
    const IN_FLIGHT_MS = 100;
    const learning = routedAwayAt === null ? calls : calls.filter((c) => c.at <= routedAwayAt! + IN_FLIGHT_MS);
    const probes = routedAwayAt === null ? [] : calls.filter((c) => c.at > routedAwayAt! + IN_FLIGHT_MS);
    const seconds = (performance.now() - startedAt) / 1000;
    console.log(
      `outage: ${calls.length} calls reached the dead gateway for ${answers.length} payments (${(calls.length / answers.length).toFixed(3)} per payment; ${calls.length - lookups} sends, ${lookups} lookups; ` +
        `${learning.length} before both instances routed away (${routedAwayAt === null ? 'never' : `${routedAwayAt - outageAt} ms`}: ${learning.map((c) => `${c.method === 'GET' ? 'L' : `S${c.metadata.attempt_no ?? ''}`}+${c.at - outageAt}`).join(' ')}), then ${probes.length} probes in ${routedAwayAt === null ? 0 : ((endedAt - routedAwayAt) / 1000).toFixed(1)} s at +${probes.map((p) => p.at - routedAwayAt!).join(', +')} ms; ` +
        `${seconds.toFixed(1)} s, ${(answers.length / seconds).toFixed(0)} payments/s; latency p50 ${took.sort((x, y) => x - y)[100]?.toFixed(0)} ms, p99 ${took[197]?.toFixed(0)} ms)`,
    );

    const switches = servers.flatMap((s) => s.output().split('\n')).filter((l) => /probe lease store unreachable|gateway probes leased through/.test(l));
    console.log(`probe lease stores: ${switches.map((l) => /"store":"(\w+)"/.exec(l)?.[1] ?? '?').join(', ')}`);
    expect(answers.every((a) => a.status === 201 && a.state === 'authorized')).toBe(true);
    expect(routedAwayAt, 'both instances reported gw-a down during the 200 payments').not.toBeNull();
    // Learning an outage costs a count of calls, not a share of the payments: the instances
    // count each other's failures as they happen, and a lookup refused after a refused send is
    // a failure too (docs/resilience.md), so about three failed sends between them, each but
    // the last followed by its lookup, plus the sends already in flight. The bound is 12;
    // measured 7–8 in 10 runs at 64–80 payments/s (10–13 before lookups counted).
    expect(learning.length, 'calls that reached gw-a before every instance routed away').toBeLessThanOrEqual(12);
    // After that only the deployment's probes: sends (a known-down gateway gets no lookups),
    // no denser than one leased schedule allows (test/support/probeWindows.ts).
    expect(probes.every((c) => c.method === 'POST')).toBe(true);
    expect(probeBoundViolations(probes.map((c) => c.at), routedAwayAt!, endedAt, { minMs: defaultHealthPriors.probeMinMs, maxMs: defaultHealthPriors.probeMaxMs, slackMs: 250 })).toEqual([]);
    expect(calls.length / answers.length).toBeLessThanOrEqual(0.15);
    // Both instances call it down: one learned it, the other was told through the shared log.
    for (const s of servers) expect(await gatewayState(s, 'gw-a')).toMatchObject({ state: 'down', breaker: 'open' });
    // The operator's view of the same: `idem gateways` against either instance.
    const table = await idemCli(['gateways', '--url', servers[1]!.url, '--api-key', apiKey]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^policy: adaptive\n/);
    expect(table.stdout).toMatch(/\ngw-a +down +open /);

    await setOutage(sims[0]!, false);
    // Probes find it healthy again (≤ 2 s apart); traffic ramps back within seconds.
    const deadline = Date.now() + scaled(15_000);
    let back = 0;
    while (Date.now() < deadline && back < 5) {
      const a = await pay(servers[back % 2]!);
      expect(a.status).toBe(201);
      back = a.gateway === 'gw-a' ? back + 1 : 0;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(back, 'payments in a row routed back to gw-a after the outage ended').toBe(5);
    for (const s of servers) expect((await gatewayState(s, 'gw-a')).state).not.toBe('down');
    // Each change of gw-a's state is one system event, though both instances learned it.
    const { rows } = await db.query<{ type: string }>(`SELECT type FROM payment_events WHERE payment_id IS NULL AND data->>'gateway' = 'gw-a' ORDER BY id`);
    const types = rows.map((r) => r.type);
    // (A slow first call may have flagged it `degraded` before the outage.)
    expect(types).toContain('gateway.down');
    expect(types.indexOf('gateway.recovering')).toBeGreaterThan(types.indexOf('gateway.down'));
    expect(types.filter((t, i) => t === types[i - 1])).toEqual([]);
    // Nothing executed twice at either gateway (I1, from their own logs).
    const logs = new Map(sims.map((s, i) => [`gw-${'ab'[i]}`, s.processor.log()]));
    expect(gatewayLogDifferences(logs, null)).toEqual([]);
  }, 180_000);
});
