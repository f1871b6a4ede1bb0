/**
 * Continuous reconciliation over real sockets (docs/reconciliation.md): `idem serve` on
 * PostgreSQL and Redis with the gateway simulator as an HTTP server. Planted at the simulator,
 * as a proxy, a dashboard or another integration would: a duplicate authorization of a payment
 * Idem authorized, a capture made outside Idem, and an authorization no payment owns.
 *
 *   plant ─► pass 1: fetch, stage, classify ─► void dup, void orphan (derived keys), adopt capture + case
 *        ─► pass 2: the voids come back in the log as Idem's own remediations (settled)
 *
 * Then two instances, the one sending a void SIGKILLed while the simulator holds its answer:
 * the survivor re-sends under the same key after the lease, and the simulator executes it once.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { remediationKey } from '../../src/reconciliation/cases.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { createHttpClient, type HttpClient } from '../support/httpClient.js';
import { IDEM_BIN, startIdemServer, stopIdemServers, type IdemServer } from '../support/idemServer.js';
import { gatewayEntries, paymentBody, postPayment, waitUntil } from '../support/payments.js';
import { REDIS_URL, createTestDatabase, postgresAvailable, redisAvailable } from '../support/services.js';

const INTERVAL_MS = 1_500;
const LEASE_MS = 2_000;
const ready = (await postgresAvailable()) && (await redisAvailable());

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [IDEM_BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function plant(sim: SimulatorServer, operation: string, key: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await fetch(`${sim.url}/v1/${operation}`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body) });
  expect(res.status, `planting ${operation} ${key}`).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe.skipIf(!ready)('reconciliation over real sockets (PostgreSQL, Redis, HTTP simulator)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  let store: SqlStore;
  let sim: SimulatorServer;
  let client: HttpClient;
  const servers: IdemServer[] = [];
  let merchant: { id: string; apiKey: string };
  let env: Record<string, string>;

  const start = async () => {
    const s = await startIdemServer({ env: { ...env, IDEM_RECONCILE_INTERVAL_MS: String(INTERVAL_MS), IDEM_LEASE_MS: String(LEASE_MS) } });
    servers.push(s);
    return s;
  };
  const get = async (server: IdemServer, path: string) => {
    const a = await client.request('GET', `${server.url}${path}`, { headers: { authorization: `Bearer ${merchant.apiKey}` } });
    return { status: a.status, body: JSON.parse(a.text) as Record<string, unknown> & { data?: Array<Record<string, unknown>> } };
  };
  const pay = async (server: IdemServer, key: string, amount: number) => {
    const a = await postPayment(client, server.url, merchant.apiKey, key, paymentBody({ amount }));
    expect(a.status, a.text).toBe(201);
    return JSON.parse(a.text) as { id: string; status: string };
  };
  const passes = async () => (await db.query<{ passes: number }>(`SELECT passes FROM reconciliation_cursors WHERE gateway = 'sim'`)).rows[0]?.passes ?? 0;
  const voidsOf = (key: string) => sim.processor.log().filter((e) => e.idempotency_key === key);

  beforeAll(async () => {
    database = await createTestDatabase('idem_recon');
    sim = await startSimulatorServer();
    client = createHttpClient(16);
    env = {
      DATABASE_URL: database.url,
      REDIS_URL,
      IDEM_GATEWAYS: JSON.stringify([{ name: 'sim', kind: 'http', base_url: sim.url, timeout_ms: 10_000 }]),
    };
    await start();
    db = openPostgres(database.url, { max: 2 });
    store = new SqlStore(db);
    merchant = await createMerchant(store, cryptoRandom, 'recon');
  });

  afterAll(async () => {
    await stopIdemServers(servers);
    client?.close();
    await sim?.close();
    await db?.close();
    await database?.drop();
  });

  it('voids a duplicate and an orphan exactly once, adopts an outside capture with a case; the ledger verifies', async () => {
    const idem = servers[0]!;
    const a = await pay(idem, 'order-dup', 1_000);
    const b = await pay(idem, 'order-outside-capture', 2_000);
    expect([a.status, b.status]).toEqual(['authorized', 'authorized']);
    const authOfB = gatewayEntries(sim.processor.log(), b.id)[0]!.authorization_id!;

    const before = await passes();
    const dup = await plant(sim, 'authorize', 'proxy-resent-1', { amount: 1_000, currency: 'EUR', reference: a.id, token: 'tok_visa' });
    const orphan = await plant(sim, 'authorize', 'orphan-1', { amount: 777, currency: 'EUR', reference: 'order-nobody-owns', token: 'tok_visa' });
    await plant(sim, 'capture', 'dashboard-capture-1', { amount: 2_000, currency: 'EUR', reference: b.id, authorization_id: authOfB });
    const dupKey = remediationKey('sim', dup.authorization_id as string);
    const orphanKey = remediationKey('sim', orphan.authorization_id as string);

    await waitUntil('both voids executed and the capture adopted', async () => {
      const view = await get(idem, `/v1/payments/${b.id}`);
      return voidsOf(dupKey).length === 1 && voidsOf(orphanKey).length === 1 && view.body.status === 'captured';
    }, 60_000, 100);
    // Within two reconciliation intervals: counted in passes, not in seconds, so a loaded
    // machine cannot make it flaky (a pass that started before the plant may have missed it).
    expect((await passes()) - before).toBeLessThanOrEqual(2);

    // Let the voids come back through the log and be settled, then nothing more happens.
    const settled = await passes();
    await waitUntil('two more passes', async () => (await passes()) >= settled + 2, 30_000, 100);
    for (const key of [dupKey, orphanKey]) {
      expect(voidsOf(key).map((e) => e.status), key).toEqual(['succeeded']);
    }
    expect(sim.processor.stats().byOperation.void.executed).toBe(2);
    const remediations = await store.listRemediations('sim');
    expect(remediations.map((r) => [r.reason, r.state, r.payment_id])).toEqual([
      ['duplicate_authorization', 'done', a.id],
      ['orphaned_authorization', 'done', null],
    ]);

    const viewB = (await get(idem, `/v1/payments/${b.id}`)).body;
    expect(viewB).toMatchObject({ status: 'captured', amount_captured: 2_000 });
    expect((await store.listEntries(b.id)).map((e) => e.event.split(':')[0])).toEqual(['authorize', 'capture']);
    expect((await store.listEntries(a.id)).map((e) => e.event.split(':')[0])).toEqual(['authorize', 'remediation_hold', 'remediation_release']);

    const cases = await get(idem, '/v1/reconciliation/cases?status=open');
    expect(cases.body.data!.map((c) => [c.class, c.team, c.payment_id, c.action])).toEqual([['unrequested_operation', 'support', b.id, 'adopted']]);
    const caseId = cases.body.data![0]!.id as string;
    expect((await get(idem, `/v1/reconciliation/cases/${caseId}`)).body).toMatchObject({ id: caseId, status: 'open' });

    const typesOf = async (id: string) => ((await get(idem, `/v1/payments/${id}/events`)).body.data ?? []).map((e) => e.type);
    expect(await typesOf(a.id)).toEqual(expect.arrayContaining(['reconciliation.remediation_scheduled', 'reconciliation.remediated']));
    expect(await typesOf(b.id)).toEqual(expect.arrayContaining(['payment.captured', 'reconciliation.adopted', 'reconciliation.case_opened']));

    const verify = await cli(['ledger', 'verify'], env);
    expect(verify.stdout + verify.stderr).toContain('ledger verified: balanced and matching');
    expect(verify.code).toBe(0);

    // `idem reconcile` fails while the case is open, passes once it is resolved (through the API).
    const open = await cli(['reconcile'], env);
    expect(open.stdout).toContain('1 open case(s)');
    expect(open.code).toBe(1);
    const resolve = await client.request('POST', `${idem.url}/v1/reconciliation/cases/${caseId}/resolve`, {
      headers: { authorization: `Bearer ${merchant.apiKey}`, 'idempotency-key': 'resolve-1' },
      body: JSON.stringify({ resolution: 'merchant confirmed the dashboard capture' }),
    });
    expect(resolve.status, resolve.text).toBe(200);
    expect(JSON.parse(resolve.text)).toMatchObject({ status: 'resolved', resolution: 'merchant confirmed the dashboard capture' });
    expect(await typesOf(b.id)).toContain('reconciliation.case_resolved');
    const clean = await cli(['reconcile'], env);
    expect(clean.stdout).toContain('no open cases');
    expect(clean.code).toBe(0);
    const report = await cli(['reconcile', 'report', '--gateway', 'sim', '--format', 'json'], env);
    expect(report.code).toBe(0);
    const parsed = JSON.parse(report.stdout) as { remediations: unknown[]; cases: unknown[]; records: { unsettled: number } };
    expect([parsed.remediations.length, parsed.cases.length, parsed.records.unsettled]).toEqual([2, 1, 0]);
  }, 180_000);

  it('two instances, the one sending the void SIGKILLed while the gateway holds its answer: still exactly one void', async () => {
    const first = servers[0]!;
    const second = await start();
    const p = await pay(first, 'order-dup-killed', 3_000);
    // Every answer now takes 6 s: the void is executed on arrival, its answer is still on the way.
    await fetch(`${sim.url}/v1/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latency: { minMs: 6_000, maxMs: 6_000 } }) });
    const dup = await plant(sim, 'authorize', 'proxy-resent-2', { amount: 3_000, currency: 'EUR', reference: p.id, token: 'tok_visa' });
    const key = remediationKey('sim', dup.authorization_id as string);
    const voidsBefore = sim.processor.stats().byOperation.void.received;
    await waitUntil('the void reached the gateway', () => sim.processor.stats().byOperation.void.received > voidsBefore, 60_000, 20);
    const sends = (s: IdemServer) => s.output().split('\n').some((l) => l.includes('reconciliation: voiding') && l.includes(key));
    // Its log line may still be on its way through the pipe; the answer takes 6 s.
    await waitUntil('the sender logged the void', () => [first, second].some(sends), 5_000, 20);
    const sender = [first, second].find(sends);
    expect(sender, 'one instance logged the void it sends').toBeDefined();
    await sender!.kill('SIGKILL');
    const survivor = sender === first ? second : first;

    await waitUntil('the survivor recorded the void', async () => (await store.findRemediations([key]))[0]?.state === 'done', 90_000, 100);
    expect(voidsOf(key).map((e) => e.status)).toEqual(['succeeded']);
    const row = (await store.findRemediations([key]))[0]!;
    expect(row.tries, 'sent by the killed instance, then re-sent by the survivor under the same key').toBeGreaterThanOrEqual(2);
    expect(sends(survivor), 'the survivor re-sent the void').toBe(true);
    await fetch(`${sim.url}/v1/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latency: { minMs: 0, maxMs: 0 } }) });
    const verify = await cli(['ledger', 'verify'], env);
    expect(verify.stdout + verify.stderr).toContain('ledger verified: balanced and matching');
  }, 240_000);
});
