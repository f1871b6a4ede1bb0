import { describe, expect, it } from 'vitest';
import { parseSettlementReport } from './settlement.js';

const HEADER =
  'Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,Creation Date,TimeZone,Type,Modification Reference,Gross Currency,Gross Debit (GC),Gross Credit (GC),Exchange Rate,Net Currency,Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC),Payment Method Variant,Modification Merchant Reference,Batch Number';

describe('parseSettlementReport: Adyen Settlement details report', () => {
  it('reads settled captures and refunds with gross and net, skips fees and payouts, rejects what it cannot read', () => {
    const csv = [
      HEADER,
      'Co,ShopECOM,993617895204576J,pay_1.authorize.1,visa,2026-12-06 10:00:00,CET,Settled,JDD6LKT8MBLZNN84,EUR,,10.00,1,EUR,,9.73,,0.12,0.05,0.10,visa,pay_1.capture.1,12',
      'Co,ShopECOM,993617895204576J,pay_1.authorize.1,visa,2026-12-06 11:00:00,CET,Refunded,KHQC5N7G84BLNK43,EUR,3.00,,1,EUR,3.00,,,,,,visa,pay_1.refund.1,12',
      'Co,ShopECOM,,,,2026-12-06 12:00:00,CET,MerchantPayout,,EUR,100.00,,1,EUR,100.00,,,,,,,,12',
      'Co,ShopECOM,993617895204576K,"order, with comma",visa,2026-12-06 10:00:00,CET,Settled,AAAA,JPY,,1000,1,JPY,,990,,,,,visa,,12',
      'Co,ShopECOM,993617895204576L,x,visa,not a date,CET,Settled,BBBB,EUR,,1.00,1,EUR,,0.9,,,,,visa,,12',
      'Co,ShopECOM,993617895204576M,x,visa,2026-12-06 10:00:00,CET,Settled,CCCC,EUR,,1.005,1,EUR,,1.00,,,,,visa,,12',
      '',
    ].join('\r\n');
    const report = parseSettlementReport('adyen', csv);
    if (!report.ok) throw new Error(report.reason);
    expect(report.records.map((r) => [r.record.operation, r.record.amount, r.record.currency, r.net.amount, r.record.gatewayKey ?? null, r.record.reference])).toEqual([
      ['capture', 1000, 'EUR', 973, 'pay_1.capture.1', 'pay_1'],
      ['refund', 300, 'EUR', 300, 'pay_1.refund.1', 'pay_1'],
      ['capture', 1000, 'JPY', 990, null, 'order, with comma'],
    ]);
    expect(report.records[0]!.record).toMatchObject({ transactionId: 'JDD6LKT8MBLZNN84', authorizationId: '993617895204576J', at: Date.parse('2026-12-06T10:00:00Z') });
    expect(report.rejected.map((r) => r.line)).toEqual([6, 7]);
  });

  it('refuses a report without the documented columns', () => {
    expect(parseSettlementReport('adyen', 'Psp Reference,Type\n1,Settled')).toMatchObject({ ok: false, reason: expect.stringContaining('"Merchant Account"') });
    expect(parseSettlementReport('adyen', '')).toMatchObject({ ok: false });
  });
});
