/**
 * Idem on a Redis Cluster. A private three-node cluster (its own ports and temporary folder;
 * the shared Redis is never touched), two `idem serve` processes on one PostgreSQL with
 * `REDIS_URL=redis+cluster://…`, and an HTTP gateway simulator that keeps its own log.
 *
 *   1  notices: a watcher on one connection is woken by a publish on another, on every shard
 *   2  duplicates held across instances, run once, replayed byte for byte; keys on all 3 shards
 *   3  one node SIGKILLed mid-traffic: its shard gone at once, the whole cluster down
 *      (CLUSTERDOWN) once the others agree it failed; every request still answered right
 *   4  the node restarted on its port and node file: cluster ok, fast path on every shard again
 *   5  over everything: one payment per key, one authorization per payment at the gateway
 *
 * PostgreSQL is the truth (docs/scale-out.md, "When a cluster node dies"): the cluster, like a
 * single Redis, may only make Idem slower.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { parseRedisUrl } from '../../src/config/config.js';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { ClusterKeyEvents } from '../../src/store/redis/clusterKeyEvents.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { hashSlot, lockKey, replayKey } from '../../src/store/redis/keys.js';
import { SqlStore } from '../../src/store/sql/index.js';
import type { Cluster } from 'ioredis';
import { createHttpClient, type HttpAnswer, type HttpClient } from '../support/httpClient.js';
import { startIdemServer, stopIdemServers, type IdemServer } from '../support/idemServer.js';
import { clusterGateEvents, count, expectOneAnswer, gatewayEntries, postPayment, waitUntil } from '../support/payments.js';
import { NODE_TIMEOUT_MS, redisClusterToolsInstalled, startRedisCluster, type RedisCluster } from '../support/redisCluster.js';
import { createTestDatabase, postgresAvailable } from '../support/services.js';

const HOLD_TIMEOUT_MS = 20_000;

const ready = (await postgresAvailable()) && (await redisClusterToolsInstalled());
if (!ready && process.env.CI === 'true') throw new Error('redis-server or redis-cli is not installed (or PostgreSQL is down); CI=true, so this is a failure');
if (!ready) console.warn('\n!!! SKIPPING the Redis Cluster test: redis-server / redis-cli are not installed (or PostgreSQL is down).\n');

describe.skipIf(!ready)('Redis Cluster: three shards, one killed mid-traffic and restarted', () => {
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  let sim: SimulatorServer;
  let client: HttpClient;
  let cluster: RedisCluster | undefined;
  let servers: IdemServer[] = [];
  let merchant: { id: string; apiKey: string };
  /** Every answer to every key sent, by key. */
  const answersByKey = new Map<string, HttpAnswer[]>();

  beforeAll(async () => {
    database = await createTestDatabase('idem_redis_cluster');
    sim = await startSimulatorServer({ faults: { latency: { minMs: 20, maxMs: 50 } } });
    client = createHttpClient(256);
    cluster = await startRedisCluster(3);
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: cluster.url,
      IDEM_HOLD_TIMEOUT_MS: String(HOLD_TIMEOUT_MS),
      IDEM_PG_POOL_MAX: '10',
      IDEM_GATEWAYS: JSON.stringify([{ name: 'sim', kind: 'http', base_url: sim.url, timeout_ms: 10_000 }]),
    };
    servers = [await startIdemServer({ env }), await startIdemServer({ env })];
    db = openPostgres(database.url, { max: 2 });
    merchant = await createMerchant(new SqlStore(db), cryptoRandom, 'redis-cluster');
  }, 120_000);

  afterAll(async () => {
    await stopIdemServers(servers);
    await cluster?.stop();
    client?.close();
    await sim?.close();
    await db?.close();
    await database?.drop();
  });

  /**
   * Sends `key` until it has a final answer, as a client following docs/errors.md would:
   * `409 IDEM_IN_PROGRESS` and `503 UNAVAILABLE` are retried with the same key. Every answer
   * is kept.
   */
  async function payUntilFinal(server: IdemServer, key: string): Promise<HttpAnswer> {
    for (let attempt = 0; ; attempt++) {
      const a = await postPayment(client, server.url, merchant.apiKey, key);
      const list = answersByKey.get(key) ?? [];
      list.push(a);
      answersByKey.set(key, list);
      const retryable = (a.status === 409 && a.text.includes('IDEM_IN_PROGRESS')) || a.status === 503;
      if (!retryable || attempt >= 50) return a;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** `keys` × `duplicates` at once, each key's duplicates alternating between the instances. */
  async function wave(name: string, keys: number, duplicates: number): Promise<{ keys: string[]; answers: HttpAnswer[]; ms: number }> {
    const names = Array.from({ length: keys }, (_v, i) => `${name}-key-${i}`);
    const started = Date.now();
    const answers = await Promise.all(names.flatMap((key, k) => Array.from({ length: duplicates }, (_v, d) => payUntilFinal(servers[(k + d) % servers.length]!, key))));
    return { keys: names, answers, ms: Date.now() - started };
  }

  /** The final answers of `keys`: all 201, byte-identical per key, exactly one not a replay. */
  function expectAnsweredOnce(keys: string[]): void {
    for (const key of keys) {
      const all = answersByKey.get(key)!;
      const others = all.filter((a) => a.status !== 201);
      expect(others.filter((a) => !(a.status === 409 && a.text.includes('IDEM_IN_PROGRESS')) && a.status !== 503).map((a) => a.text), `answers to ${key} that are neither final nor retryable`).toEqual([]);
      expectOneAnswer(all.filter((a) => a.status === 201));
    }
  }

  /** Replay entries of this merchant on each node (index) right now; null for a node that is down. */
  async function replayEntriesPerNode(): Promise<Array<number | null>> {
    return Promise.all(
      cluster!.nodes.map(async (n) => {
        const r = new Redis({ host: '127.0.0.1', port: n.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
        try {
          await r.connect();
          return (await r.keys(`idem:{${merchant.id}:*}:replay`)).length;
        } catch {
          return null;
        } finally {
          r.disconnect();
        }
      }),
    );
  }

  it('notices reach another connection through each key’s own shard (SSUBSCRIBE / SPUBLISH)', async () => {
    const [a, b] = (await Promise.all([connectRedis(parseRedisUrl(cluster!.url)), connectRedis(parseRedisUrl(cluster!.url))])) as [Cluster, Cluster];
    const listener = new ClusterKeyEvents(a);
    const publisher = new ClusterKeyEvents(b);
    try {
      const owners = await cluster!.slotOwners();
      const nodeOf = (key: string) => owners.find((o) => hashSlot(lockKey('mer_notice', key)) >= o.from && hashSlot(lockKey('mer_notice', key)) <= o.to)!.node;
      // One key per shard.
      const keys: string[] = [];
      for (let i = 0; keys.length < 3; i++) if (!keys.some((k) => nodeOf(k) === nodeOf(`k-${i}`))) keys.push(`k-${i}`);
      for (const key of keys) {
        let woken!: () => void;
        const notice = new Promise<void>((resolve) => (woken = resolve));
        const unwatch = listener.watch('mer_notice', key, () => woken());
        expect(await listener.listening('mer_notice', key), `listening on ${key} (node ${nodeOf(key)})`).toBe(true);
        await publisher.publish('mer_notice', key);
        await Promise.race([notice, new Promise((_r, reject) => setTimeout(() => reject(new Error(`no notice for ${key} within 2 s`)), 2000))]);
        unwatch();
      }
      // A wait that ends before its subscription is confirmed, then a new one on the same key,
      // at once or once the first has been let go: no SUNSUBSCRIBE may undo the new subscription.
      const key = keys[0]!;
      for (let round = 0; round < 4; round++) {
        listener.watch('mer_notice', key, () => {})();
        if (round % 2 === 1) await new Promise((r) => setTimeout(r, 50));
        let woken = false;
        const unwatch = listener.watch('mer_notice', key, () => (woken = true));
        expect(await listener.listening('mer_notice', key)).toBe(true);
        await publisher.publish('mer_notice', key);
        await waitUntil(`round ${round}: a notice after subscribe / unsubscribe / subscribe`, () => woken, 2_000, 10);
        unwatch();
      }
    } finally {
      await listener.close();
      await publisher.close();
      a.disconnect();
      b.disconnect();
    }
  });

  it('parallel duplicates over two instances are held, run once, and replay byte for byte; keys land on all three shards', async () => {
    // A slower gateway, so that duplicates arrive while their first request is at it.
    sim.processor.setFaults({ latency: { minMs: 300, maxMs: 300 } });
    const heldBefore = (await clusterGateEvents(client, servers.map((s) => s.url))).held ?? 0;
    const executedBefore = sim.processor.stats().byOperation.authorize.executed;
    const w = await wave('held', 30, 6);
    sim.processor.setFaults({ latency: { minMs: 20, maxMs: 50 } });

    expect(count(w.answers.map((a) => a.status))).toEqual({ 201: 180 });
    expectAnsweredOnce(w.keys);
    expect(sim.processor.stats().byOperation.authorize.executed - executedBefore).toBe(30);
    const held = ((await clusterGateEvents(client, servers.map((s) => s.url))).held ?? 0) - heldBefore;
    expect(held, 'duplicates held').toBeGreaterThan(0);
    // Woken by notices, not by the hold deadline.
    expect(w.ms).toBeLessThan(HOLD_TIMEOUT_MS / 2);

    const perNode = await replayEntriesPerNode();
    expect(perNode.every((n) => n !== null && n > 0), `replay entries per node: ${perNode.join(', ')}`).toBe(true);
    expect(perNode.reduce((t, n) => t! + n!, 0)).toBe(30);
    // Every lock was released: lock and replay entry of a key sit on one node, so the pipeline that caches and unlocks never spans two.
    const locks = await Promise.all(cluster!.nodes.map(async (n) => {
      const r = new Redis({ host: '127.0.0.1', port: n.port, lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await r.connect();
        return (await r.keys(`idem:{${merchant.id}:*}:lock`)).length;
      } finally {
        r.disconnect();
      }
    }));
    expect(locks).toEqual([0, 0, 0]);
    expect(hashSlot(replayKey(merchant.id, w.keys[0]!))).toBe(hashSlot(lockKey(merchant.id, w.keys[0]!)));
  });

  it('a node SIGKILLed mid-traffic: its shard, then the whole cluster, goes away; every request is still answered once and right', async () => {
    sim.processor.setFaults({ latency: { minMs: 200, maxMs: 400 } });
    const victim = 1;
    const timings: Array<{ phase: string; ms: number }> = [];
    const keys: string[] = [];
    let phase = 'before the kill';
    let stop = false;
    let n = 0;
    const traffic = (async () => {
      while (!stop) {
        const w = await wave(`kill-${n++}`, 8, 4);
        keys.push(...w.keys);
        timings.push({ phase, ms: w.ms });
      }
    })();
    // A watcher of our own on a key of the victim's shard, to see what a held request sees.
    const own = (await connectRedis(parseRedisUrl(cluster!.url))) as Cluster;
    const events = new ClusterKeyEvents(own);
    try {
      const owners = await cluster!.slotOwners();
      const onVictim = (key: string) => owners.some((o) => o.node === victim && hashSlot(lockKey('mer_watch', key)) >= o.from && hashSlot(lockKey('mer_watch', key)) <= o.to);
      const victimKeys = Array.from({ length: 200 }, (_v, i) => `w-${i}`).filter(onVictim);
      let woken = false;
      const unwatch = events.watch('mer_watch', victimKeys[0]!, () => (woken = true));
      expect(await events.listening('mer_watch', victimKeys[0]!)).toBe(true);

      await waitUntil('a first wave is done', () => timings.length > 0, 30_000);
      // Mid-wave: the next wave's first requests are at the 200-400 ms gateway, its duplicates held.
      await new Promise((r) => setTimeout(r, 100));
      await cluster!.nodes[victim]!.kill('SIGKILL');
      phase = 'shard down';
      // The shard's waiters are woken at once, and a new wait there knows it cannot be notified.
      await waitUntil('the watcher on the dead shard is woken', () => woken, 2_000, 10);
      unwatch();
      const started = Date.now();
      const unwatchAgain = events.watch('mer_watch', victimKeys[1]!, () => {});
      expect(await events.listening('mer_watch', victimKeys[1]!)).toBe(false);
      expect(Date.now() - started).toBeLessThan(1_500);
      unwatchAgain();
      await new Promise((r) => setTimeout(r, NODE_TIMEOUT_MS));
      phase = 'cluster down';
      await waitUntil('the cluster is down (the others agree the node failed)', async () => {
        const states = await Promise.all(cluster!.nodes.filter((_n, i) => i !== victim).map(async (node) => {
          const r = new Redis({ host: '127.0.0.1', port: node.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
          try {
            await r.connect();
            return /cluster_state:(\w+)/.exec(String(await r.call('CLUSTER', 'INFO')))?.[1];
          } finally {
            r.disconnect();
          }
        }));
        return states.every((s) => s === 'fail');
      }, 30_000, 200);
      const waveAtDown = n;
      await waitUntil('two waves ran with the cluster down', () => timings.filter((t) => t.phase === 'cluster down').length >= 2 && n > waveAtDown + 1, 60_000, 50);
    } finally {
      stop = true;
      await traffic;
      sim.processor.setFaults({ latency: { minMs: 20, maxMs: 50 } });
      await events.close();
      own.disconnect();
    }

    const byPhase = Object.fromEntries(['before the kill', 'shard down', 'cluster down'].map((p) => [p, timings.filter((t) => t.phase === p).map((t) => t.ms)]));
    const retried = count(keys.flatMap((k) => answersByKey.get(k)!).filter((a) => a.status !== 201).map((a) => a.status));
    console.log(`redis-cluster: wave times (8 keys x 4 duplicates, 200-400 ms gateway) by phase, ms: ${JSON.stringify(byPhase)}; retryable answers: ${JSON.stringify(retried)}`);
    expectAnsweredOnce(keys);
    const readiness = await Promise.all(servers.map(async (s) => JSON.parse((await client.request('GET', `${s.url}/readyz`)).text) as { database: string }));
    expect(readiness.map((r) => r.database)).toEqual(['up', 'up']);
  });

  it('the node restarted on its port: the cluster is ok again and the fast path resumes on every shard', async () => {
    await cluster!.restart(1);
    await cluster!.waitUntilOk();
    let round = 0;
    await waitUntil('replay entries are written on all three nodes again', async () => {
      const w = await wave(`back-${round++}`, 12, 2);
      expectAnsweredOnce(w.keys);
      const perNode = await replayEntriesPerNode();
      return perNode.every((k) => k !== null && k > 0) && perNode[1]! > 0;
    }, 30_000, 200);
  });

  it('over everything: one payment per key in PostgreSQL, one authorization per payment at the gateway', async () => {
    const { rows } = await db.query<{ id: string; idempotency_key: string }>('SELECT id, idempotency_key FROM payments WHERE merchant_id = $1', [merchant.id]);
    const allKeys = new Set(answersByKey.keys());
    expect(rows).toHaveLength(allKeys.size);
    expect(new Set(rows.map((r) => r.idempotency_key))).toEqual(allKeys);
    const log = sim.processor.log();
    for (const row of rows) expect(gatewayEntries(log, row.id), `gateway authorizations of ${row.idempotency_key}`).toHaveLength(1);
    expect(sim.processor.stats().byOperation.authorize.executed).toBe(allKeys.size);
    const open = await db.query<{ n: string }>(`SELECT count(*) AS n FROM idempotency_keys WHERE merchant_id = $1 AND state <> 'completed'`, [merchant.id]);
    expect(Number(open.rows[0]!.n)).toBe(0);
  });
});
