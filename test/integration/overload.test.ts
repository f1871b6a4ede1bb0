/**
 * Shedding overload (SPEC I10; docs/resilience.md, "Shedding overload") over real sockets
 * against a real `idem serve` on PostgreSQL + Redis with its default (adaptive) limit: far
 * more first requests at once than it admits, its gateway withheld so the admitted ones stay
 * in flight as long as the test needs (no timing).
 *
 *   client ──300 sockets── idem serve ── holding proxy (withholds calls) ── gateway simulator
 *                              └── PostgreSQL (truth) + Redis
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { SHED_RETRY_AFTER_S } from '../../src/idempotency/admission.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { createHttpClient, type HttpAnswer, type HttpClient } from '../support/httpClient.js';
import { startHoldingProxy, type HoldingProxy } from '../support/holdingProxy.js';
import { startIdemServer, type IdemServer } from '../support/idemServer.js';
import { count, paymentBody, postPayment, postPaymentRetrying, waitUntil } from '../support/payments.js';
import { REDIS_URL, createTestDatabase, postgresAvailable, redisAvailable } from '../support/services.js';

const up = (await postgresAvailable()) && (await redisAvailable());

const BURST = 300;
const REPLAY_KEYS = 5;

let database: { url: string; drop: () => Promise<void> } | undefined;
let db: Database | undefined;
let sim: SimulatorServer | undefined;
let proxy: HoldingProxy | undefined;
let idem: IdemServer | undefined;
let client: HttpClient | undefined;

beforeAll(async () => {
  if (!up) return;
  database = await createTestDatabase('idem_overload');
  sim = await startSimulatorServer();
  proxy = await startHoldingProxy(sim.url);
  idem = await startIdemServer({
    env: {
      DATABASE_URL: database.url,
      REDIS_URL,
      IDEM_CONCURRENCY_LIMIT: 'adaptive', // the default, which test/support/idemServer.ts turns off
      IDEM_GATEWAYS: JSON.stringify([{ name: 'sim', kind: 'http', base_url: proxy.url, timeout_ms: 120_000 }]),
    },
  });
  db = openPostgres(database.url, { max: 2 });
  client = createHttpClient(BURST + 50);
}, 60_000);

afterAll(async () => {
  client?.close();
  proxy?.release();
  await idem?.stop();
  await proxy?.close();
  await sim?.close();
  await db?.close();
  await database?.drop();
});

async function metric(name: string): Promise<number> {
  const { text } = await client!.request('GET', `${idem!.url}/metrics`);
  const m = new RegExp(`^${name} (\\d+(?:\\.\\d+)?)$`, 'm').exec(text);
  if (!m) throw new Error(`no ${name} in /metrics`);
  return Number(m[1]);
}

describe.skipIf(!up)('overload: first requests past the concurrency limit are shed, nothing else is', () => {
  it('sheds with 503 UNAVAILABLE + Retry-After and no side effect, serves replays and holds duplicates meanwhile, and a shed key retried later runs once', async () => {
    const { apiKey } = await createMerchant(new SqlStore(db!), cryptoRandom, 'overload');
    const replayKeys = Array.from({ length: REPLAY_KEYS }, (_, i) => `done-${i}`);
    const firsts = new Map<string, HttpAnswer>();
    for (const key of replayKeys) {
      const a = await postPayment(client!, idem!.url, apiKey, key);
      expect(a.status, a.text).toBe(201);
      firsts.set(key, a);
    }

    // The gateway stops answering: whatever Idem admits stays in flight.
    proxy!.hold();
    const keys = Array.from({ length: BURST }, (_, i) => `burst-${i}`);
    const answers = new Map<string, HttpAnswer>();
    const burst = keys.map((key) => postPayment(client!, idem!.url, apiKey, key).then((a) => answers.set(key, a)));
    // Every request is either answered (shed) or waiting at the gateway (admitted).
    await waitUntil('every burst request is shed or at the gateway', () => answers.size + proxy!.waiting() === BURST, 60_000);
    const limit = await metric('idem_concurrency_limit');
    const admitted = keys.filter((k) => !answers.has(k));
    expect(proxy!.waiting()).toBe(admitted.length);
    expect(admitted.length).toBe(limit);
    expect(await metric('idem_concurrency_in_flight')).toBe(limit);

    const shed = [...answers.entries()];
    expect(shed.length).toBe(BURST - limit);
    expect(await metric('idem_shed_total')).toBe(shed.length);
    expect(count(shed.map(([, a]) => a.status))).toEqual({ 503: shed.length });
    for (const [, a] of shed) {
      expect(a.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(SHED_RETRY_AFTER_S.map(String)).toContain(a.headers['retry-after']);
      // The precomputed answer (src/api/shed.ts) carries what every answer carries.
      expect(a.headers['cache-control']).toBe('no-store');
      expect(JSON.parse(a.text)).toMatchObject({ status: 503, code: 'UNAVAILABLE', request_id: a.headers['request-id'] });
    }
    // No side effect: the shed keys were never claimed, nothing was created for them.
    const shedKeys = shed.map(([k]) => k);
    const rows = async (sql: string, params: unknown[]) => Number((await db!.query<{ n: string }>(sql, params)).rows[0]!.n);
    expect(await rows('SELECT count(*) AS n FROM idempotency_keys WHERE key = ANY($1)', [shedKeys])).toBe(0);
    expect(await rows('SELECT count(*) AS n FROM payments WHERE idempotency_key = ANY($1)', [shedKeys])).toBe(0);
    expect(await rows('SELECT count(*) AS n FROM idempotency_keys WHERE key = ANY($1)', [admitted])).toBe(admitted.length);

    // While shedding: replays are answered from what was stored…
    for (const key of replayKeys) {
      const again = await postPayment(client!, idem!.url, apiKey, key);
      expect(again.status).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.text).toBe(firsts.get(key)!.text);
    }
    // …a duplicate of an admitted request is held, not shed…
    const duplicate = postPayment(client!, idem!.url, apiKey, admitted[0]!);
    await waitUntil('the duplicate is held', async () => ((await gateHeld()) ?? 0) >= 1, 30_000);
    // …and a new first request is still shed.
    const another = await postPayment(client!, idem!.url, apiKey, 'one-more');
    expect(another.status).toBe(503);

    proxy!.release();
    await Promise.all(burst);
    const dup = await duplicate;
    for (const key of admitted) expect(answers.get(key)!.status, answers.get(key)!.text).toBe(201);
    expect(dup.status).toBe(201);
    expect(dup.headers['idempotent-replayed']).toBe('true');
    expect(dup.text).toBe(answers.get(admitted[0]!)!.text);

    // A shed key sent again (same key, same body) runs once, like any first request.
    const retried: Array<Awaited<ReturnType<typeof postPaymentRetrying>>> = [];
    const queue = [...shedKeys, 'one-more'];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let key = queue.shift(); key !== undefined; key = queue.shift()) retried.push(await postPaymentRetrying(idem!.url, apiKey, key, paymentBody()));
      }),
    );
    expect(count(retried.map((r) => r.status))).toEqual({ 201: shedKeys.length + 1 });
    expect(retried.every((r) => !r.replayed)).toBe(true);
    const perKey = await db!.query<{ n: string }>('SELECT count(*) AS n FROM payments GROUP BY idempotency_key HAVING count(*) <> 1');
    expect(perKey.rows).toEqual([]);
    expect(await rows('SELECT count(*) AS n FROM payments', [])).toBe(REPLAY_KEYS + BURST + 1);
    const authorized = sim!.processor.log().filter((e) => e.operation === 'authorize');
    expect(authorized.length).toBe(REPLAY_KEYS + BURST + 1);
  }, 180_000);
});

async function gateHeld(): Promise<number | undefined> {
  const { text } = await client!.request('GET', `${idem!.url}/metrics`);
  const m = /^idem_gate_events_total\{event="held"\} (\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}
