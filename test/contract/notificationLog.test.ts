/**
 * The stored notifications (docs/gateways.md, "How notifications flow") to one contract: in
 * memory and in PGlite (migration 000011), so `idem serve` with or without a database keeps a
 * notification once, finds it by gateway key and pages it by id.
 */
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { openPglite } from '../../src/db/pglite.js';
import { MemoryNotificationLog } from '../../src/gateways/adyen/memoryLog.js';
import type { AdyenNotification, NotificationLog } from '../../src/gateways/adyen/notifications.js';
import { SqlNotificationLog } from '../../src/store/sql/gatewayNotifications.js';

const item = (psp: string, reference: string, eventCode = 'CAPTURE', success = true): AdyenNotification => ({
  pspReference: psp,
  originalReference: eventCode === 'AUTHORISATION' ? null : 'AUTHPSP000000001',
  merchantAccount: 'ShopECOM',
  merchantReference: reference,
  eventCode,
  success,
  amount: 1250,
  currency: 'EUR',
  eventDate: '2026-12-07T03:00:00+01:00',
  reason: success ? null : 'Refused',
});

const subjects: Array<[string, () => Promise<{ log: NotificationLog; close(): Promise<void> }>]> = [
  ['memory', async () => ({ log: new MemoryNotificationLog(), close: async () => {} })],
  [
    'PGlite',
    async () => {
      const db = await openPglite('memory://');
      await migrate(db);
      return { log: new SqlNotificationLog(db), close: () => db.close() };
    },
  ],
];

describe.each(subjects)('notification log: %s', (_name, open) => {
  it('keeps a notification once, finds it by reference, pages by id from a cursor and a time', async () => {
    const { log, close } = await open();
    try {
      expect(await log.record('adyen', [item('PSP1', 'pay_1.capture.1'), item('PSP2', 'pay_2.authorize.1', 'AUTHORISATION', false)], 1_000)).toBe(2);
      // Adyen re-delivers: nothing new; another gateway's notification is its own.
      expect(await log.record('adyen', [item('PSP1', 'pay_1.capture.1')], 2_000)).toBe(0);
      expect(await log.record('adyen-us', [item('PSP1', 'pay_1.capture.1')], 2_000)).toBe(1);
      expect(await log.record('adyen', [item('PSP3', 'pay_3.refund.1', 'REFUND')], 5_000)).toBe(1);

      expect(await log.find('adyen', 'pay_1.capture.1')).toEqual([
        { ...item('PSP1', 'pay_1.capture.1'), id: expect.any(String), gateway: 'adyen', receivedAt: 1_000 },
      ]);
      expect((await log.find('adyen', 'pay_2.authorize.1'))[0]).toMatchObject({ success: false, reason: 'Refused', originalReference: null });
      expect(await log.find('adyen', 'pay_9.capture.1')).toEqual([]);

      const first = await log.page('adyen', null, 0, 2);
      expect(first.map((n) => n.pspReference)).toEqual(['PSP1', 'PSP2']);
      expect((await log.page('adyen', first[1]!.id, 0, 10)).map((n) => n.pspReference)).toEqual(['PSP3']);
      expect((await log.page('adyen', null, 4_000, 10)).map((n) => n.pspReference)).toEqual(['PSP3']);
    } finally {
      await close();
    }
  });
});
