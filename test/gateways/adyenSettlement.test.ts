/**
 * Adyen's Settlement details report as a reconciliation source (docs/gateways.md, "Settlement
 * reports"): Idem with the Adyen fake (real sockets both ways) and a `settlement_reports_dir`.
 * A report whose rows are Idem's captures and refund settles them consistent (gross against
 * Idem's amount, the net beside it: the fees), beside the notifications of the same operations;
 * its one unknown row opens a case; the same file again, under its name or another, adds nothing.
 */
import { copyFileSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { SETTLEMENT_COLUMNS } from '../../src/gateways/adyen/settlement.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { createMerchant, type NewMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { AdyenFake } from '../support/adyenFake.js';
import { waitUntil } from '../support/payments.js';

describe('Adyen settlement reports fed into reconciliation', () => {
  const fake = new AdyenFake();
  const dir = mkdtempSync(join(tmpdir(), 'idem-adyen-reports-'));
  let idem: Idem;
  let store: MemoryStore;
  let merchant: NewMerchant;

  beforeAll(async () => {
    const adyenUrl = await fake.start();
    process.env.IDEM_TEST_ADYEN_SETTLEMENT = JSON.stringify({ api_key: fake.apiKey, hmac_key: fake.hmacKey, merchant_account: fake.merchantAccount });
    store = new MemoryStore();
    const config = loadConfig({
      IDEM_GATEWAYS: JSON.stringify([{ name: 'adyen', kind: 'adyen', credentials_ref: 'env:IDEM_TEST_ADYEN_SETTLEMENT', base_url: adyenUrl, timeout_ms: 2000, settlement_reports_dir: dir }]),
      IDEM_RELAY_INTERVAL_MS: '50',
      IDEM_LEASE_MS: '1000',
      IDEM_RECONCILE_INTERVAL_MS: '0',
      IDEM_RESILIENCE: 'static',
      PORT: '0',
      HOST: '127.0.0.1',
    });
    idem = await createIdem(config, { store, sweeper: false });
    merchant = await createMerchant(store, cryptoRandom, 'adyen-settlement');
    fake.notifyTo(`${await idem.listen()}/v1/gateways/adyen/notifications`);
  });
  afterAll(async () => {
    await idem?.close();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
    delete process.env.IDEM_TEST_ADYEN_SETTLEMENT;
  });

  const post = async (path: string, key: string, body: unknown) => {
    const res = await idem.app.inject({ method: 'POST', url: path, headers: { authorization: `Bearer ${merchant.apiKey}`, 'idempotency-key': key }, payload: body as Record<string, unknown> });
    return { status: res.statusCode, body: res.json<Record<string, unknown>>() };
  };
  const status = async (id: string) => (await store.findPayment(merchant.id, id))!.status;

  /** One report line in Adyen's columns; amounts in major units as Adyen writes them. */
  const line = (v: { psp: string; ref: string; type: 'Settled' | 'Refunded'; mod: string; modRef: string; gross: string; net: string }) => {
    const cells: Record<string, string> = {
      'Merchant Account': fake.merchantAccount,
      'Psp Reference': v.psp,
      'Merchant Reference': v.ref,
      'Creation Date': '2026-12-07 10:00:00',
      Type: v.type,
      'Modification Reference': v.mod,
      'Gross Currency': 'EUR',
      'Gross Debit (GC)': v.type === 'Refunded' ? v.gross : '',
      'Gross Credit (GC)': v.type === 'Settled' ? v.gross : '',
      'Net Currency': 'EUR',
      'Net Debit (NC)': v.type === 'Refunded' ? v.net : '',
      'Net Credit (NC)': v.type === 'Settled' ? v.net : '',
      'Modification Merchant Reference': v.modRef,
    };
    return SETTLEMENT_COLUMNS.map((c) => cells[c]).join(',');
  };

  it('settles the rows of Idem\u2019s operations, opens one case for the unknown row, and reads a file once', async () => {
    const ids: string[] = [];
    for (const [i, amount] of [2000, 3500].entries()) {
      const created = await post('/v1/payments', `settle-create-${i}`, { amount, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const id = created.body.id as string;
      ids.push(id);
      expect((await post(`/v1/payments/${id}/capture`, `settle-capture-${i}`, { amount })).status).toBeLessThan(300);
    }
    await waitUntil('both captures settle', async () => (await status(ids[0]!)) === 'captured' && (await status(ids[1]!)) === 'captured');
    expect((await post(`/v1/payments/${ids[1]}/refunds`, 'settle-refund-1', { amount: 500 })).status).toBeLessThan(300);
    await waitUntil('the refund settles', async () => (await status(ids[1]!)) === 'partially_refunded');
    const op = (id: string, operation: string) => fake.log.find((e) => e.reference === id && e.operation === operation)!;

    const rows = [
      line({ psp: op(ids[0]!, 'authorize').id, ref: `${ids[0]}.authorize.1`, type: 'Settled', mod: op(ids[0]!, 'capture').id, modRef: `${ids[0]}.capture.1`, gross: '20.00', net: '19.42' }),
      line({ psp: op(ids[1]!, 'authorize').id, ref: `${ids[1]}.authorize.1`, type: 'Settled', mod: op(ids[1]!, 'capture').id, modRef: `${ids[1]}.capture.1`, gross: '35.00', net: '34.01' }),
      line({ psp: op(ids[1]!, 'authorize').id, ref: `${ids[1]}.authorize.1`, type: 'Refunded', mod: op(ids[1]!, 'refund').id, modRef: `${ids[1]}.refund.1`, gross: '5.00', net: '5.00' }),
      // Settled on a payment Idem never made.
      line({ psp: 'ZZZZ000000000001', ref: 'order-elsewhere-9', type: 'Settled', mod: 'ZZZZ000000000002', modRef: 'capture-elsewhere-9', gross: '77.77', net: '75.50' }),
    ];
    writeFileSync(join(dir, 'settlement_detail_report_batch_1.csv'), [SETTLEMENT_COLUMNS.join(','), ...rows].join('\n') + '\n');

    const first = await idem.reconciler.runPass(['adyen'], { since: 0 });
    const summary = first.gateways[0]!;
    // Notifications (2 authorisations, 2 captures, 1 refund) and the report's 4 rows.
    expect(summary.staged, JSON.stringify(summary)).toBe(9);
    expect(summary.rejected).toEqual([]);
    expect(summary.casesOpened).toBe(1);
    const staged = await store.listStagedRecords('adyen');
    const fromReport = staged.filter((r) => r.id.includes(':settlement:'));
    expect(fromReport).toHaveLength(4);
    // Idem's three operations: consistent, matched to the attempt under the key, gross = Idem's amount.
    const ours = fromReport.filter((r) => !r.id.includes('ZZZZ'));
    expect(ours.map((r) => [r.operation, r.amount, r.verdict])).toEqual(
      expect.arrayContaining([
        ['capture', 2000, 'consistent'],
        ['capture', 3500, 'consistent'],
        ['refund', 500, 'consistent'],
      ]),
    );
    expect(ours.every((r) => r.matchedAttemptId !== null)).toBe(true);
    // …and the notifications of the same operations stay consistent beside them (no double count).
    expect(staged.filter((r) => !r.id.includes(':settlement:')).every((r) => r.verdict === 'consistent' || r.verdict === 'known')).toBe(true);
    const cases = await store.listCases({ gateway: 'adyen' });
    expect(cases).toHaveLength(1);
    expect(cases[0]).toMatchObject({ class: 'unrequested_operation' });
    expect(JSON.stringify(cases[0]!.evidence)).toContain('ZZZZ000000000002');
    // The fees: the net of each line stays beside its gross in the staged raw record.
    const page = await idem.gateways.connector('adyen').transactions!(0, null, 100);
    expect(page.ok && page.records.filter((r) => r.record.id.includes(':settlement:')).map((r) => (r.raw as { net: unknown }).net)).toEqual([
      { amount: 1942, currency: 'EUR' },
      { amount: 3401, currency: 'EUR' },
      { amount: 500, currency: 'EUR' },
      { amount: 7550, currency: 'EUR' },
    ]);

    // The same file again: touched in place, and copied under another name. Nothing twice.
    utimesSync(join(dir, 'settlement_detail_report_batch_1.csv'), new Date(), new Date(Date.now() + 5_000));
    copyFileSync(join(dir, 'settlement_detail_report_batch_1.csv'), join(dir, 'settlement_detail_report_batch_1 (copy).csv'));
    const again = await idem.reconciler.runPass(['adyen']);
    expect(again.gateways[0]).toMatchObject({ fetched: 0, staged: 0, casesOpened: 0, error: null });
    const audit = await idem.reconciler.runPass(['adyen'], { since: 0 });
    expect(audit.gateways[0]).toMatchObject({ staged: 0, casesOpened: 0 });
    expect(await store.listCases({ gateway: 'adyen' })).toHaveLength(1);
    expect(await store.listStagedRecords('adyen')).toHaveLength(9);
    // The log itself holds the report's rows once: the copy and the touched file were not taken as new reports.
    const fromLog: string[] = [];
    for (let cursor: string | null = null, more = true; more; ) {
      const p = await idem.gateways.connector('adyen').transactions!(0, cursor, 100);
      if (!p.ok) throw new Error(p.reason);
      fromLog.push(...p.records.filter((r) => r.record.id.includes(':settlement:')).map((r) => r.record.id));
      more = p.hasMore;
      cursor = p.nextCursor;
    }
    expect(fromLog).toHaveLength(4);
  });
});
