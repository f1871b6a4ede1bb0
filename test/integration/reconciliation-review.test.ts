/**
 * A `match_review` case end to end (docs/reconciliation.md, "Discrepancy classes"): Idem
 * listening on a real socket over a real PostgreSQL, the simulator on its own socket behind a
 * loopback relay that lists two entries of its log as a settlement file does — no key, the
 * file's own line and authorization ids, no reference. Two twin payments of one merchant (same
 * amount, a second apart) are authorized through the API, and their lines come back bare: the
 * scored matcher cannot tell which is which, so a pass opens a `match_review` case for each —
 * no void, no adoption — which the merchant lists, reads with both candidates and their
 * evidence, and resolves over HTTP, idempotently. The simulator's own keyless entries keep
 * their ids, which the exact matcher settles; see the test below them.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { createTestDatabase, postgresAvailable } from '../support/services.js';

const available = await postgresAvailable();
if (!available) {
  if (process.env.CI === 'true') throw new Error('PostgreSQL (127.0.0.1:5432) is unreachable and CI=true: this test must run');
  console.warn('SKIPPED test/integration/reconciliation-review.test.ts: PostgreSQL is unreachable at 127.0.0.1:5432');
}

/**
 * Relays every request to the simulator at `target`; a transaction-log page comes back with the
 * entries whose reference is in `bare` listed as settlement lines.
 */
async function settlementRelay(target: string, bare: Set<string>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
        const answer = await fetch(`${target}${req.url}`, { method: req.method!, headers, ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}) });
        let text = await answer.text();
        if (req.url?.startsWith('/v1/transactions') && answer.status === 200) {
          const page = JSON.parse(text) as { data: Array<Record<string, unknown>> };
          page.data = page.data.map((e) => {
            if (!bare.has(e.reference as string)) return e;
            const { idempotency_key: _k, reference: _r, merchant_id: _m, ...line } = e;
            return { ...line, id: `stl_${String(e.id)}`, authorization_id: `psp_${String(e.id)}` };
          });
          text = JSON.stringify(page);
        }
        res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
        res.end(text);
      })().catch((err: unknown) => {
        res.writeHead(502);
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe.skipIf(!available)('a keyless record the scored matcher cannot call, over HTTP (PostgreSQL)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  let sim: SimulatorServer;
  let idem: Idem;
  let url: string;
  let apiKey: string;
  let merchantId: string;
  let relay: { url: string; server: Server };
  const bare = new Set<string>();

  const api = async (method: 'GET' | 'POST', path: string, body?: unknown, key?: string) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(key ? { 'idempotency-key': key } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };

  beforeAll(async () => {
    database = await createTestDatabase('idem_recon_review');
    db = openPostgres(database.url, { max: 4 });
    sim = await startSimulatorServer({ seed: 21 });
    relay = await settlementRelay(sim.url, bare);
    const config = loadConfig({ IDEM_GATEWAYS: JSON.stringify([{ name: 'sim', kind: 'http', base_url: relay.url, timeout_ms: 5_000 }]) });
    idem = await createIdem({ ...config, port: 0 }, { db, sweeper: false, reconcile: false });
    url = await idem.listen();
    const merchant = await createMerchant(idem.store, cryptoRandom, 'twins');
    apiKey = merchant.apiKey;
    merchantId = merchant.id;
  }, 60_000);

  afterAll(async () => {
    await idem?.close();
    await new Promise((resolve) => relay?.server.close(resolve));
    await sim?.close();
    await db?.close();
    await database?.drop();
  });

  it('opens a match_review case per bare line with both candidates, moves no money, and lets the merchant resolve it', async () => {
    const twins: string[] = [];
    for (const key of ['twin-1', 'twin-2']) {
      const created = await api('POST', '/v1/payments', { amount: 2_500, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } }, key);
      expect(created.status, created.text).toBe(201);
      const p = JSON.parse(created.text) as { id: string; status: string };
      expect(p.status).toBe('authorized');
      twins.push(p.id);
      bare.add(p.id);
    }

    const { gateways, remediations } = await idem.reconciler.runPass();
    expect(gateways[0]).toMatchObject({ gateway: 'sim', fetched: 2, error: null, matched: 0, casesOpened: 2, reviewCases: 2, remediationsScheduled: 0, adopted: 0 });
    expect(remediations).toEqual({ done: 0, failed: 0, retrying: 0 });
    const staged = await idem.store.listStagedRecords('sim');
    expect(staged.map((r) => [r.id.slice(0, 4), r.gatewayKey, r.verdict])).toEqual([
      ['stl_', undefined, 'case'],
      ['stl_', undefined, 'case'],
    ]);

    const list = await api('GET', '/v1/reconciliation/cases?status=open');
    expect(list.status, list.text).toBe(200);
    const cases = (JSON.parse(list.text) as { data: Array<{ id: string; class: string; payment_id: string | null; action: string; evidence: Record<string, unknown> }> }).data;
    expect(cases.map((c) => [c.class, c.payment_id, c.action])).toEqual([
      ['match_review', null, 'none'],
      ['match_review', null, 'none'],
    ]);
    for (const review of cases) {
      const candidates = review.evidence.candidates as Array<{ paymentId: string; evidence: { rule: string; probability: number } }>;
      expect(candidates.map((c) => c.paymentId).sort()).toEqual([...twins].sort());
      for (const c of candidates) expect(c.evidence).toMatchObject({ rule: 'scored', probability: expect.any(Number) });
      expect(staged.map((r) => r.id)).toContain((review.evidence.gateway_record as { id: string }).id);
    }
    const review = cases[0]!;
    const read = await api('GET', `/v1/reconciliation/cases/${review.id}`);
    expect([read.status, (JSON.parse(read.text) as { id: string }).id]).toEqual([200, review.id]);

    // Nothing moved on a guess: no void at the gateway, both payments still authorized.
    expect(sim.processor.log().filter((e) => e.operation === 'void')).toEqual([]);
    for (const id of twins) expect((JSON.parse((await api('GET', `/v1/payments/${id}`)).text) as { status: string }).status).toBe('authorized');

    const path = `/v1/reconciliation/cases/${review.id}/resolve`;
    const resolved = await api('POST', path, { resolution: 'the acquirer confirms this line is the first twin' }, 'resolve-review-1');
    expect(resolved.status, resolved.text).toBe(200);
    expect(JSON.parse(resolved.text)).toMatchObject({ id: review.id, status: 'resolved', class: 'match_review' });
    const replay = await api('POST', path, { resolution: 'the acquirer confirms this line is the first twin' }, 'resolve-review-1');
    expect([replay.status, replay.text, replay.headers.get('idempotent-replayed')]).toEqual([200, resolved.text, 'true']);
    const open = (JSON.parse((await api('GET', '/v1/reconciliation/cases?status=open')).text) as { data: Array<{ id: string }> }).data;
    expect(open.map((c) => c.id)).toEqual([cases[1]!.id]);
  }, 60_000);

  it('settles the simulator\'s own keyless entries exactly, by the ids they keep, with the merchant they name', async () => {
    sim.processor.setFaults({ keylessRecordRate: 1 });
    const created = await api('POST', '/v1/payments', { amount: 1_234, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } }, 'keyless-1');
    sim.processor.setFaults({ keylessRecordRate: 0 });
    expect(created.status, created.text).toBe(201);
    const { gateways } = await idem.reconciler.runPass();
    expect(gateways[0]).toMatchObject({ fetched: 1, matched: 1, casesOpened: 0 });
    const record = (await idem.store.listStagedRecords('sim')).find((r) => r.reference === (JSON.parse(created.text) as { id: string }).id)!;
    expect(record).toMatchObject({ verdict: 'consistent', merchantId, matchEvidence: { rule: 'transaction_id', probability: 1 } });
    expect(record.gatewayKey).toBeUndefined();
  }, 60_000);
});
