/**
 * `kill -9` of the instance that owns a key. Two `idem serve` processes, A and B, on one
 * PostgreSQL and Redis, with a short lease (2 s) and the default hold timeout (10 s > lease).
 *
 *   A   claim ── persist payment ── send authorize ──╳ SIGKILL (lease stops being renewed)
 *   B   held duplicate ·········· waits ·········· lease ends → take over (higher fence)
 *                                                  → re-send, same gateway key → answer
 *   B   retry after the kill ···· held ··········· gets the same answer
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { createHttpClient, type HttpClient } from '../support/httpClient.js';
import { startIdemServer, stopIdemServers, type IdemServer } from '../support/idemServer.js';
import { expectOneAnswer, gateEvents, gatewayEntries, postPayment, waitUntil } from '../support/payments.js';
import { REDIS_URL, createTestDatabase, postgresAvailable, redisAvailable } from '../support/services.js';

const LEASE_MS = 2_000;
const ready = (await postgresAvailable()) && (await redisAvailable());

describe.skipIf(!ready)('the owner of a key is killed with SIGKILL', () => {
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  let sim: SimulatorServer;
  let client: HttpClient;
  let b: IdemServer | undefined;
  const killed: IdemServer[] = [];
  let merchant: { id: string; apiKey: string };

  const gatewaysAt = (url: string) => JSON.stringify([{ name: 'sim', kind: 'http', base_url: url, timeout_ms: 10_000 }]);
  const startInstance = (gatewayUrl: string) =>
    startIdemServer({ env: { DATABASE_URL: database.url, REDIS_URL, IDEM_LEASE_MS: String(LEASE_MS), IDEM_GATEWAYS: gatewaysAt(gatewayUrl) } });

  beforeAll(async () => {
    database = await createTestDatabase('idem_crash');
    sim = await startSimulatorServer();
    client = createHttpClient(64);
    b = await startInstance(sim.url);
    db = openPostgres(database.url, { max: 2 });
    merchant = await createMerchant(new SqlStore(db), cryptoRandom, 'crash');
  });

  afterAll(async () => {
    await stopIdemServers([b, ...killed]);
    client?.close();
    await sim?.close();
    await db?.close();
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      const keys = merchant ? await redis.keys(`idem:?:${merchant.id}:*`) : [];
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
    await database?.drop();
  });

  async function paymentRows(key: string): Promise<Array<{ id: string; status: string }>> {
    const { rows } = await db.query<{ id: string; status: string }>('SELECT id, status FROM payments WHERE merchant_id = $1 AND idempotency_key = $2', [
      merchant.id,
      key,
    ]);
    return rows;
  }

  /** Resolves once B's gate has counted `n` more held requests than `before`. */
  async function heldOnB(before: number, n = 1): Promise<void> {
    await waitUntil('the duplicate is held on B', async () => ((await gateEvents(client, b!.url)).held ?? 0) >= before + n);
  }

  it('killed after sending the authorization: a held duplicate and a retry on B both get the one final answer', async () => {
    const key = 'order-killed-mid-flight';
    const a = await startInstance(sim.url);
    killed.push(a);
    const authorizeBefore = sim.processor.stats().byOperation.authorize;
    // The gateway executes on receipt and answers 3 s later: A is killed holding an open call.
    sim.processor.setFaults({ latency: { minMs: 3_000, maxMs: 3_000 } });
    const onA = postPayment(client, a.url, merchant.apiKey, key).then(
      (answer) => ({ answer }),
      (error: Error) => ({ error }),
    );
    await waitUntil('the gateway received A’s authorization', () => sim.processor.stats().byOperation.authorize.received === authorizeBefore.received + 1);

    const heldBefore = (await gateEvents(client, b!.url)).held ?? 0;
    const heldOnBWhenADied = postPayment(client, b!.url, merchant.apiKey, key);
    await heldOnB(heldBefore);

    await a.kill('SIGKILL');
    expect(await a.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const aResult = await onA;
    expect('error' in aResult, 'A must not have answered: it was killed mid-flight').toBe(true);
    sim.processor.setFaults({ latency: { minMs: 0, maxMs: 0 } });

    const retryOnB = postPayment(client, b!.url, merchant.apiKey, key);
    const answers = await Promise.all([heldOnBWhenADied, retryOnB]);

    // Neither is a 409: the hold outlasted the lease and the key was taken over.
    const payment = expectOneAnswer(answers, 201);
    expect(payment.status).toBe('authorized');
    expect((await paymentRows(key)).map((r) => r.id)).toEqual([payment.id]);
    // One authorization at the gateway: B re-sent A's call with the same gateway key and the
    // simulator answered it from its own record instead of executing it again.
    expect(gatewayEntries(sim.processor.log(), payment.id)).toHaveLength(1);
    const authorize = sim.processor.stats().byOperation.authorize;
    expect(authorize.executed - authorizeBefore.executed).toBe(1);
    expect(authorize.replayed - authorizeBefore.replayed).toBe(1);
    expect((await gateEvents(client, b!.url)).taken_over ?? 0).toBeGreaterThanOrEqual(1);

    // And from now on the key simply replays.
    const later = await postPayment(client, b!.url, merchant.apiKey, key);
    expect(later.headers['idempotent-replayed']).toBe('true');
    expect(later.bytes.equals(answers[0]!.bytes)).toBe(true);
  });

  it('killed before the authorization reached the gateway: the retry resumes the same payment and authorizes it once', async () => {
    const key = 'order-killed-before-sending';
    // A's gateway accepts the connection and the request and never answers: from the gateway's
    // side nothing was executed, from A's side the call is under way when it dies.
    const blackhole = await startBlackhole();
    try {
      const a = await startInstance(blackhole.url);
      killed.push(a);
      const authorizeBefore = sim.processor.stats().byOperation.authorize;
      const onA = postPayment(client, a.url, merchant.apiKey, key).then(
        (answer) => ({ answer }),
        (error: Error) => ({ error }),
      );
      await waitUntil('A sent its authorization (into the void)', () => blackhole.requests() >= 1);
      const [created] = await paymentRows(key);
      expect(created?.status).toBe('processing'); // persisted before the call, as it must be

      await a.kill('SIGKILL');
      expect('error' in (await onA)).toBe(true);

      const retry = await postPayment(client, b!.url, merchant.apiKey, key);

      expect(retry.status).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBe('false');
      const payment = JSON.parse(retry.text) as { id: string; status: string };
      expect(payment).toMatchObject({ id: created!.id, status: 'authorized' });
      expect((await paymentRows(key)).map((r) => r.id)).toEqual([created!.id]);
      expect(gatewayEntries(sim.processor.log(), payment.id)).toHaveLength(1);
      expect(sim.processor.stats().byOperation.authorize.received - authorizeBefore.received).toBe(1);
    } finally {
      await blackhole.close();
    }
  });
});

/** A TCP server that reads requests and never answers them. */
async function startBlackhole(): Promise<{ url: string; requests(): number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let requests = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      requests += chunk.toString('latin1').match(/^POST /gm)?.length ?? 0;
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
