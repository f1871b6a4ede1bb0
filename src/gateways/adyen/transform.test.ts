import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GATEWAY_OPERATIONS, type GatewayOperation, type GatewayOutcome } from '../port.js';
import { type AdyenNotification, parseNotifications, statusFromNotifications, toGatewayRecord } from './notifications.js';
import { type HttpExchange, toAdyenOutcome } from './transform.js';

const read = <T>(file: string) => JSON.parse(readFileSync(new URL(`./fixtures/${file}`, import.meta.url), 'utf8')) as T;
const answers = read<Array<{ name: string; operation: GatewayOperation; input: HttpExchange; expected: GatewayOutcome }>>('answers.json');
const notifications = read<Array<{ name: string; operation: GatewayOperation; notifications: AdyenNotification[]; expected: unknown }>>('notifications.json');

describe('toAdyenOutcome: Adyen answers, case by case (docs/gateways.md, "Adyen")', () => {
  it('has fixtures for every outcome class, and "received" for every modification', () => {
    expect([...new Set(answers.map((a) => a.expected.class))].sort()).toEqual(['decline', 'not_processed', 'success', 'unknown']);
    for (const op of ['capture', 'void', 'refund']) expect(answers.some((a) => a.operation === op && a.expected.class === 'unknown' && a.expected.reason === 'adyen_received')).toBe(true);
  });

  it.each(answers.map((a) => [a.name, a] as const))('%s', (_name, a) => {
    expect(toAdyenOutcome(a.operation, a.input)).toEqual(a.expected);
  });

  it('never calls a modification a success, whatever Adyen answers (received is pending)', () => {
    fc.assert(
      fc.property(fc.constantFrom<GatewayOperation>('capture', 'void', 'refund'), fc.integer({ min: 100, max: 599 }), fc.anything(), (op, status, body) => {
        expect(toAdyenOutcome(op, { kind: 'answer', status, body }).class).not.toBe('success');
      }),
    );
  });

  it('never throws, and answers one class for anything', () => {
    fc.assert(
      fc.property(fc.constantFrom(...GATEWAY_OPERATIONS), fc.anything(), (op, exchange) => {
        expect(['success', 'decline', 'not_processed', 'unknown']).toContain(toAdyenOutcome(op, exchange as HttpExchange).class);
      }),
    );
  });
});

describe('statusFromNotifications: what the stored notifications say about an attempt', () => {
  it.each(notifications.map((n) => [n.name, n] as const))('%s', (_name, n) => {
    expect(statusFromNotifications(n.operation, n.notifications)).toEqual(n.expected);
  });

  it('a stored notification is a gateway record for reconciliation, keyed by Idem\u2019s gateway key', () => {
    const n = notifications.find((x) => x.name === 'capture-success')!.notifications[0]!;
    expect(toGatewayRecord({ ...n, id: '7', gateway: 'adyen', receivedAt: 0 })).toMatchObject({
      id: 'JDD6LKT8MBLZNN84:CAPTURE:true',
      operation: 'capture',
      status: 'succeeded',
      amount: 600,
      gatewayKey: 'pay_1.capture.1',
      reference: 'pay_1',
      transactionId: 'JDD6LKT8MBLZNN84',
      authorizationId: '993617895204576J',
    });
    expect(toGatewayRecord({ ...n, eventCode: 'CHARGEBACK', id: '8', gateway: 'adyen', receivedAt: 0 })).toMatch(/not an operation/);
  });
});

describe('parseNotifications', () => {
  const item = { pspReference: 'A', merchantAccountCode: 'M', merchantReference: 'pay_1.capture.1', eventCode: 'CAPTURE', eventDate: '2026-12-07T03:00:00Z', success: 'true', amount: { value: 1, currency: 'EUR' } };
  const body = (i: unknown) => ({ live: 'false', notificationItems: [{ NotificationRequestItem: i }] });

  it('reads a well-formed item and names the field of a malformed one, never its value', () => {
    expect(parseNotifications(body(item))).toMatchObject({ ok: true, items: [{ item: { success: true, amount: 1, currency: 'EUR', originalReference: null } }] });
    expect(parseNotifications(body({ ...item, success: 'yes' }))).toEqual({ ok: false, reason: 'notificationItems[0].success must be "true" or "false"' });
    expect(parseNotifications(body({ ...item, amount: { value: -1, currency: 'EUR' } }))).toMatchObject({ ok: false });
    expect(parseNotifications(body({ ...item, merchantReference: 'secret-looking-value'.repeat(20) }))).toEqual({ ok: false, reason: 'notificationItems[0].merchantReference must be a string of 1-255 characters' });
    expect(parseNotifications({ notificationItems: [] })).toMatchObject({ ok: false });
    expect(parseNotifications('[accepted]')).toMatchObject({ ok: false });
  });
});
