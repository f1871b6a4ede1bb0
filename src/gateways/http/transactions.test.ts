import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cursorBefore, toGatewayRecord, toTransactionLogPage } from './transactions.js';
import type { GatewayRecord } from '../../reconciliation/records.js';
import type { HttpExchange } from './transform.js';

const entry = {
  id: 'txn_1',
  idempotency_key: 'pay_1.authorize.1',
  operation: 'authorize',
  amount: 1000,
  currency: 'EUR',
  reference: 'pay_1',
  authorization_id: 'auth_1',
  status: 'succeeded',
  created_at: '2026-12-01T10:00:00.000Z',
};
const page = (body: unknown): HttpExchange => ({ kind: 'answer', status: 200, body });

describe('toTransactionLogPage', () => {
  it('reads a page of the simulator log into records with their raw entries', () => {
    const r = toTransactionLogPage('sim', page({ data: [entry], next_cursor: '1', has_more: false }), null);
    expect(r).toEqual({
      ok: true,
      records: [
        {
          record: {
            id: 'txn_1',
            gateway: 'sim',
            operation: 'authorize',
            status: 'succeeded',
            amount: 1000,
            currency: 'EUR',
            at: Date.parse(entry.created_at),
            gatewayKey: 'pay_1.authorize.1',
            transactionId: 'txn_1',
            authorizationId: 'auth_1',
            reference: 'pay_1',
          },
          raw: entry,
        },
      ],
      rejected: [],
      nextCursor: '1',
      hasMore: false,
    });
  });

  it('refuses a whole page that is down, an error, garbage, or whose cursor went backwards', () => {
    const refused = (x: HttpExchange, cursor: string | null = null) => toTransactionLogPage('sim', x, cursor);
    expect(refused({ kind: 'no_answer', sent: false, reason: 'ECONNREFUSED' })).toEqual({ ok: false, reason: 'transaction log unreachable: ECONNREFUSED' });
    expect(refused({ kind: 'answer', status: 503, body: { error: 'unavailable' } })).toEqual({ ok: false, reason: 'transaction log answered HTTP 503' });
    expect(refused(page('<html>oops</html>'))).toMatchObject({ ok: false, reason: expect.stringContaining('not a page') });
    expect(refused(page({ data: 'nope' }))).toMatchObject({ ok: false, reason: expect.stringContaining('no data array') });
    expect(refused(page({ data: [], next_cursor: 5 }))).toMatchObject({ ok: false, reason: expect.stringContaining('cursor') });
    expect(refused(page({ data: [entry], next_cursor: '9' }), '10')).toMatchObject({ ok: false, reason: expect.stringContaining('went backwards') });
    expect(refused(page({ data: [entry] }), '10')).toMatchObject({ ok: false, reason: expect.stringContaining('went backwards') });
    expect(refused(page({ data: [], next_cursor: '10' }), '10')).toMatchObject({ ok: true, records: [] });
  });

  it('reads the merchant an entry names, and no key for an entry that left it off', () => {
    const { idempotency_key: _key, ...keyless } = entry;
    const { gatewayKey: _gatewayKey, ...record } = toGatewayRecord('sim', entry) as GatewayRecord;
    expect(toGatewayRecord('sim', { ...keyless, merchant_id: 'mer_a' })).toEqual({ ...record, merchantId: 'mer_a' });
    expect(toGatewayRecord('sim', keyless)).not.toHaveProperty('gatewayKey');
  });

  it('rejects each malformed entry with its reason and keeps the good ones', () => {
    const bad = [
      null,
      [],
      { ...entry, id: '' },
      { ...entry, operation: 'charge' },
      { ...entry, status: 'pending' },
      { ...entry, amount: '1000' },
      { ...entry, amount: -1 },
      { ...entry, currency: 'eur' },
      { ...entry, created_at: 'yesterday' },
      { ...entry, authorization_id: null },
      { ...entry, idempotency_key: 42 },
      { ...entry, merchant_id: 7 },
    ];
    const r = toTransactionLogPage('sim', page({ data: [...bad, entry], next_cursor: '12' }), null);
    if (!r.ok) throw new Error(r.reason);
    expect(r.records.map((x) => x.record.id)).toEqual(['txn_1']);
    expect(r.rejected).toHaveLength(bad.length);
    for (const x of r.rejected) expect(x.reason).not.toBe('');
  });

  it('is total: any body gives a page or a refusal, never a throw, and every record it keeps is well-formed', () => {
    fc.assert(
      fc.property(fc.anything(), fc.option(fc.string(), { nil: null }), (body, cursor) => {
        const r = toTransactionLogPage('sim', page(body), cursor);
        if (!r.ok) return;
        for (const { record } of r.records) {
          expect(Number.isSafeInteger(record.amount) && record.amount >= 0).toBe(true);
          expect(record.currency).toMatch(/^[A-Z]{3}$/);
          expect(Number.isFinite(record.at)).toBe(true);
          if (record.status === 'succeeded') expect(record.authorizationId).toBeTypeOf('string');
        }
      }),
    );
    fc.assert(fc.property(fc.anything(), (raw) => void toGatewayRecord('sim', raw)));
  });

  it('orders cursors as integers when both are, else as strings', () => {
    expect(cursorBefore('9', '10')).toBe(true);
    expect(cursorBefore('10', '9')).toBe(false);
    expect(cursorBefore('a', 'b')).toBe(true);
  });
});
