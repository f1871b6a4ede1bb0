/**
 * The gate under real concurrency: several `idem serve` processes on one PostgreSQL (and one
 * Redis), a burst of duplicates spread over all of them on real sockets, and a gateway that
 * takes 50–100 ms to answer so the duplicates really overlap the first execution.
 *
 *   client ──200 sockets──┬─ idem #1 ─┐
 *                         ├─ idem #2 ─┼── PostgreSQL (truth) + Redis (lock, replay, wake-ups)
 *                         └─ idem #3 ─┘        └──────────── gateway simulator (counts executions)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { createHttpClient, type HttpAnswer, type HttpClient } from '../support/httpClient.js';
import { startIdemServer, stopIdemServers, type IdemServer } from '../support/idemServer.js';
import { clusterGateEvents, count, expectOneAnswer, gatewayEntries, postPayment } from '../support/payments.js';
import { REDIS_URL, createTestDatabase, postgresAvailable, redisAvailable } from '../support/services.js';

const pgUp = await postgresAvailable();
const redisUp = pgUp && (await redisAvailable());

let database: { url: string; drop: () => Promise<void> } | undefined;
let db: Database | undefined;
let sim: SimulatorServer | undefined;
let client: HttpClient | undefined;

beforeAll(async () => {
  if (!pgUp) return;
  database = await createTestDatabase('idem_conc');
  sim = await startSimulatorServer({ faults: { latency: { minMs: 50, maxMs: 100 } } });
  client = createHttpClient(128);
});

afterAll(async () => {
  client?.close();
  await db?.close();
  await sim?.close();
  await database?.drop();
});

function gatewaysEnv(): string {
  return JSON.stringify([{ name: 'sim', kind: 'http', base_url: sim!.url, timeout_ms: 10_000 }]);
}

/** Three instances on the test database, started at once (they migrate concurrently too). */
async function startCluster(env: Record<string, string | undefined>): Promise<IdemServer[]> {
  const started = await Promise.allSettled([1, 2, 3].map(() => startIdemServer({ env: { DATABASE_URL: database!.url, IDEM_GATEWAYS: gatewaysEnv(), ...env } })));
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stopIdemServers(servers);
    throw failed.reason;
  }
  db ??= openPostgres(database!.url, { max: 2 });
  return servers;
}

async function newMerchant(name: string): Promise<{ id: string; apiKey: string }> {
  return createMerchant(new SqlStore(db!), cryptoRandom, name);
}

async function paymentsOf(merchantId: string): Promise<Array<{ id: string; idempotency_key: string; status: string }>> {
  const { rows } = await db!.query<{ id: string; idempotency_key: string; status: string }>(
    'SELECT id, idempotency_key, status FROM payments WHERE merchant_id = $1',
    [merchantId],
  );
  return rows;
}

/** Sends every request at once, request i to server i mod n. */
function burst(servers: IdemServer[], apiKey: string, keys: string[]): Promise<HttpAnswer[]> {
  return Promise.all(keys.map((key, i) => postPayment(client!, servers[i % servers.length]!.url, apiKey, key)));
}

/** 200 duplicates of one key over the servers: one payment, one gateway execution, one answer. */
async function oneKeyBurst(servers: IdemServer[], duplicates: number, merchant: { id: string; apiKey: string }): Promise<void> {
  const key = 'order-42';
  const socketsBefore = client!.socketsOpened();
  const urls = servers.map((s) => s.url);
  const gateBefore = await clusterGateEvents(client!, urls);

  const answers = await burst(servers, merchant.apiKey, Array(duplicates).fill(key));

  // The burst really was concurrent: far more sockets than servers were opened for it.
  expect(client!.socketsOpened() - socketsBefore).toBeGreaterThanOrEqual(Math.min(64, duplicates / 2));
  const payment = expectOneAnswer(answers, 201);
  expect(payment.status).toBe('authorized');
  const rows = await paymentsOf(merchant.id);
  expect(rows.map((r) => r.id)).toEqual([payment.id]);
  expect(gatewayEntries(sim!.processor.log(), payment.id)).toHaveLength(1);
  // Every instance answered some of them.
  const perServer = count(answers.map((_a, i) => servers[i % servers.length]!.pid));
  expect(Object.keys(perServer)).toHaveLength(servers.length);
  // The gates agree: one execution in the whole cluster, and duplicates arrived while it ran.
  const gateAfter = await clusterGateEvents(client!, urls);
  const delta = (e: string) => (gateAfter[e] ?? 0) - (gateBefore[e] ?? 0);
  expect(delta('executed')).toBe(1);
  expect(delta('held')).toBeGreaterThan(0);
  expect(delta('hold_timeout')).toBe(0);
}

describe.skipIf(!redisUp)('three instances on PostgreSQL and Redis', () => {
  let servers: IdemServer[] = [];
  const merchants: string[] = [];

  beforeAll(async () => {
    servers = await startCluster({ REDIS_URL });
  });

  afterAll(async () => {
    await stopIdemServers(servers);
    // Keys are scoped by merchant id; remove this run's entries from the shared Redis.
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      for (const m of merchants) {
        const keys = await redis.keys(`idem:?:${m}:*`);
        if (keys.length > 0) await redis.del(...keys);
      }
    } finally {
      redis.disconnect();
    }
  });

  it('200 concurrent duplicates of one key: one payment, one gateway authorization, one answer', async () => {
    const merchant = await newMerchant('one-key');
    merchants.push(merchant.id);
    await oneKeyBurst(servers, 200, merchant);
  });

  it('50 keys x 20 duplicates at once: 50 payments, 50 gateway authorizations, one answer per key', async () => {
    const merchant = await newMerchant('fifty-by-twenty');
    merchants.push(merchant.id);
    const keys = Array.from({ length: 1000 }, (_v, i) => `cart-${i % 50}`);

    const answers = await burst(servers, merchant.apiKey, keys);

    const byKey = new Map<string, HttpAnswer[]>();
    keys.forEach((k, i) => byKey.set(k, [...(byKey.get(k) ?? []), answers[i]!]));
    const paymentIds = new Map<string, string>();
    for (const [key, group] of byKey) {
      expect(group).toHaveLength(20);
      paymentIds.set(key, expectOneAnswer(group, 201).id);
    }
    expect(new Set(paymentIds.values()).size).toBe(50);

    const rows = await paymentsOf(merchant.id);
    expect(rows).toHaveLength(50);
    for (const row of rows) expect(paymentIds.get(row.idempotency_key)).toBe(row.id);

    const log = sim!.processor.log();
    for (const id of paymentIds.values()) expect(gatewayEntries(log, id), `gateway authorizations of ${id}`).toHaveLength(1);
  });
});

describe.skipIf(!pgUp)('three instances on PostgreSQL alone (wake-ups over LISTEN/NOTIFY)', () => {
  let servers: IdemServer[] = [];

  beforeAll(async () => {
    servers = await startCluster({ REDIS_URL: undefined });
  });

  afterAll(async () => {
    await stopIdemServers(servers);
  });

  it('100 concurrent duplicates of one key: one payment, one gateway authorization, one answer', async () => {
    for (const s of servers) {
      const ready = await client!.request('GET', `${s.url}/readyz`);
      expect(JSON.parse(ready.text)).toMatchObject({ status: 'ready', redis: 'absent' });
    }
    await oneKeyBurst(servers, 100, await newMerchant('one-key-pg-only'));
  });
});
