/**
 * A capture whose answer is lost after the gateway executed it (docs/payments.md, "Outbox and recovery"): the
 * client gets 202 `capturing`, recovery finishes the capture by asking the gateway (never by
 * capturing again), and the client's retry with the same key is held until recovery stores
 * the final answer, then gets it.
 *
 *   client   capture ─────────────── 202 capturing        retry ── held ·········· 200 captured
 *   gateway        executes, answer lost   │                 │                    ▲ (replayed)
 *   relay                                  claim key ── status(capture.1) ── record ── complete
 *                                                            (600 ms latency keeps the key held)
 *
 * One `idem serve` on PostgreSQL (without Redis: LISTEN/NOTIFY wakes the held retry), and the
 * same in embedded mode (PGlite).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { openPglite } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { createHttpClient, type HttpAnswer, type HttpClient } from '../support/httpClient.js';
import { startIdemServer, type IdemServer } from '../support/idemServer.js';
import { gateEvents, gatewayEntries, paymentBody, postPayment, waitUntil } from '../support/payments.js';
import { createTestDatabase, postgresAvailable } from '../support/services.js';

const GATEWAY_TIMEOUT_MS = 1_000;
const STATUS_LATENCY_MS = 600;

interface Mode {
  /** Starts Idem and returns it with an API key, and a way to open its database afterwards. */
  setup(sim: SimulatorServer): Promise<{ idem: IdemServer; apiKey: string; openDb: () => Promise<Database>; cleanup: () => Promise<void> }>;
}

function gatewaysEnv(sim: SimulatorServer): string {
  return JSON.stringify([{ name: 'sim', kind: 'http', base_url: sim.url, timeout_ms: GATEWAY_TIMEOUT_MS }]);
}

const baseEnv = { IDEM_RELAY_INTERVAL_MS: '200' };

const postgresMode: Mode = {
  async setup(sim) {
    const database = await createTestDatabase('idem_tocapture');
    let idem: IdemServer | undefined;
    try {
      idem = await startIdemServer({ env: { DATABASE_URL: database.url, IDEM_GATEWAYS: gatewaysEnv(sim), ...baseEnv } });
      const db = openPostgres(database.url, { max: 2 });
      const merchant = await createMerchant(new SqlStore(db), cryptoRandom, 'timeout-capture').finally(() => db.close());
      return {
        idem,
        apiKey: merchant.apiKey,
        openDb: async () => openPostgres(database.url, { max: 2 }),
        cleanup: async () => {
          await idem?.stop();
          await database.drop();
        },
      };
    } catch (err) {
      await idem?.stop();
      await database.drop();
      throw err;
    }
  },
};

const embeddedMode: Mode = {
  async setup(sim) {
    const dataDir = mkdtempSync(join(tmpdir(), 'idem-tocapture-'));
    const idem = await startIdemServer({ env: { IDEM_GATEWAYS: gatewaysEnv(sim), ...baseEnv }, args: ['--data-dir', dataDir] });
    const m = /API key, shown once: (sk_\S+)/.exec(idem.output());
    if (!m) {
      await idem.stop();
      rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`embedded serve printed no API key:\n${idem.output()}`);
    }
    return {
      idem,
      apiKey: m[1]!,
      // One process per data folder: the server is stopped before the folder is opened here.
      openDb: async () => {
        await idem.stop();
        return openPglite(dataDir);
      },
      cleanup: async () => {
        await idem.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};

const pgUp = await postgresAvailable();

describe.each([
  { name: 'PostgreSQL, one instance', mode: postgresMode, skip: !pgUp },
  { name: 'embedded PGlite', mode: embeddedMode, skip: false },
])('timeout after processing on capture ($name)', ({ mode, skip }) => {
  let sim: SimulatorServer;
  let client: HttpClient;
  let env: Awaited<ReturnType<Mode['setup']>> | undefined;

  beforeAll(async () => {
    if (skip) return;
    sim = await startSimulatorServer({ seed: 7 });
    client = createHttpClient(16);
    env = await mode.setup(sim);
  });

  afterAll(async () => {
    await env?.cleanup();
    client?.close();
    await sim?.close();
  });

  it.skipIf(skip)(
    'the client gets 202 capturing; recovery finishes it with one capture at the gateway; the held retry gets the final 200',
    async () => {
      const { idem, apiKey } = env!;
      const auth = { authorization: `Bearer ${apiKey}` };
      const created = await postPayment(client, idem.url, apiKey, 'order-7-create', paymentBody({ amount: 5000, capture_method: 'manual' }));
      expect(created.status, created.text).toBe(201);
      const payment = JSON.parse(created.text) as { id: string; status: string };
      expect(payment.status).toBe('authorized');

      // The gateway executes the capture and its answer never comes back.
      sim.processor.setFaults({ timeoutAfterProcessingRate: 1, latency: { minMs: STATUS_LATENCY_MS, maxMs: STATUS_LATENCY_MS } });
      const before = sim.processor.stats();
      const capture = (): Promise<HttpAnswer> =>
        client.request('POST', `${idem.url}/v1/payments/${payment.id}/capture`, {
          headers: { ...auth, 'idempotency-key': 'order-7-capture' },
          body: '{}',
        });
      const first = await capture();
      // The outcome is unknown: not stored as an error; 202 with the payment still in flight,
      // the key left open for recovery. The gateway answers again from now on.
      sim.processor.setFaults({ timeoutAfterProcessingRate: 0 });
      expect(first.status, first.text).toBe(202);
      expect(first.headers['idempotent-replayed']).toBe('false');
      expect(JSON.parse(first.text)).toMatchObject({ id: payment.id, status: 'capturing', amount_captured: 0 });
      expect(sim.processor.stats().byOperation.capture.executed - before.byOperation.capture.executed).toBe(1);
      expect(sim.processor.stats().dropped - before.dropped).toBe(1);

      // Recovery (the relay) asks the gateway about the capture's gateway key; that answer takes
      // STATUS_LATENCY_MS, and the client's retry arrives meanwhile: it is held, not run.
      await waitUntil('recovery asked the gateway for the capture’s status', () => sim.processor.stats().statusQueries > before.statusQueries, 10_000, 5);
      const heldBefore = (await gateEvents(client, idem.url)).held ?? 0;
      const retry = await capture();

      expect(retry.status, retry.text).toBe(200);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      const captured = JSON.parse(retry.text) as { id: string; status: string; amount_captured: number; attempts: Array<{ operation: string; status: string }> };
      expect(captured).toMatchObject({ id: payment.id, status: 'captured', amount_captured: 5000 });
      expect(captured.attempts.filter((a) => a.operation === 'capture')).toEqual([expect.objectContaining({ status: 'succeeded' })]);
      const gate = await gateEvents(client, idem.url);
      expect(gate.held ?? 0, 'the retry was held while recovery finished the capture').toBe(heldBefore + 1);
      expect(gate.taken_over ?? 0, 'recovery took the open key over').toBeGreaterThanOrEqual(1);
      const metrics = await client.request('GET', `${idem.url}/metrics`);
      expect(metrics.text).toMatch(/^idem_recoveries_total\{result="final"\} [1-9]/m);
      // The rounds of the requests themselves went out as batches (what each request had just
      // written); recovery, which starts from the database, as transactions.
      expect(metrics.text).toMatch(/^idem_payment_rounds_total\{write="batch"\} [1-9]/m);
      expect(metrics.text).toMatch(/^idem_payment_rounds_total\{write="transaction"\} [1-9]/m);

      // Exactly one capture executed and one received: recovery looked it up, nobody re-sent it.
      const log = sim.processor.log();
      expect(gatewayEntries(log, payment.id, 'capture')).toEqual([expect.objectContaining({ amount: 5000, status: 'succeeded' })]);
      const after = sim.processor.stats();
      expect(after.byOperation.capture.received - before.byOperation.capture.received).toBe(1);
      expect(after.byOperation.capture.executed - before.byOperation.capture.executed).toBe(1);

      // The key is final from now on: the same bytes again.
      const again = await capture();
      expect(again.status).toBe(200);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.bytes.equals(retry.bytes)).toBe(true);

      const events = await client.request('GET', `${idem.url}/v1/payments/${payment.id}/events`, { headers: auth });
      const types = (JSON.parse(events.text) as { data: Array<{ type: string }> }).data.map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(['payment.capturing', 'attempt.unknown', 'attempt.succeeded', 'payment.captured']));

      const db = await env!.openDb();
      try {
        const report = await verifyLedger(new SqlStore(db), log);
        expect(report.differences).toEqual([]);
        expect(report.inFlight).toEqual([]);
        expect(report.checked.payments).toBe(1);
      } finally {
        await db.close();
      }
    },
    60_000,
  );
});
