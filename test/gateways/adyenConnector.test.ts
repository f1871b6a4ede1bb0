import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdyenConnector } from '../../src/gateways/adyen/connector.js';
import { MemoryNotificationLog } from '../../src/gateways/adyen/memoryLog.js';
import { systemTimers } from '../../src/ports/clock.js';
import { AdyenFake } from '../support/adyenFake.js';

describe('Adyen connector against the fake (real sockets)', () => {
  const fake = new AdyenFake();
  const notifications = new MemoryNotificationLog();
  let connector: ReturnType<typeof createAdyenConnector>;
  beforeAll(async () => {
    const baseUrl = await fake.start();
    fake.notificationMode = 'hold';
    connector = createAdyenConnector({ name: 'adyen', apiKey: fake.apiKey, merchantAccount: fake.merchantAccount, baseUrl, timeoutMs: 2000, timers: systemTimers, notifications });
  });
  afterAll(() => fake.stop());

  it('authorizes, and a capture is pending until its notification', async () => {
    const auth = await connector.execute({ operation: 'authorize', gatewayKey: 'pay_a.authorize.1', amount: 1000, currency: 'EUR', reference: 'pay_a', token: 'tok_visa' });
    expect(auth.class).toBe('success');
    const cap = await connector.execute({ operation: 'capture', gatewayKey: 'pay_a.capture.1', amount: 600, currency: 'EUR', reference: 'pay_a', authorizationId: (auth as { authorizationId: string }).authorizationId });
    expect(cap).toEqual({ class: 'unknown', reason: 'adyen_received' });
    expect(fake.violations).toEqual([]);
  });

  it('a modification notification that carries the payment\u2019s reference (as the Webhooks document describes it) settles the modification by its pspReference', async () => {
    const auth = (await connector.execute({ operation: 'authorize', gatewayKey: 'pay_m.authorize.1', amount: 1000, currency: 'EUR', reference: 'pay_m', token: 'tok_visa' })) as { authorizationId: string };
    for (const [operation, amount] of [['capture', 1000], ['refund', 300]] as const) {
      const key = `pay_m.${operation}.1`;
      expect(await connector.execute({ operation, gatewayKey: key, amount, currency: 'EUR', reference: 'pay_m', authorizationId: auth.authorizationId })).toEqual({ class: 'unknown', reason: 'adyen_received' });
      const psp = fake.log.find((e) => e.idempotency_key === key)!.id;
      expect(await connector.status(key)).toEqual({ found: false });
      // As the document's CAPTURE / REFUND examples have it: merchantReference is the payment's reference, originalReference its pspReference.
      const eventCode = operation === 'capture' ? 'CAPTURE' : 'REFUND';
      await notifications.record('adyen', [{ pspReference: psp, originalReference: auth.authorizationId, merchantAccount: fake.merchantAccount, merchantReference: 'pay_m.authorize.1', eventCode, success: true, amount, currency: 'EUR', eventDate: '2026-12-07T10:00:00+01:00', reason: null }], 1);
      expect(await connector.status(key)).toEqual({ found: true, outcome: { class: 'success', transactionId: psp, authorizationId: auth.authorizationId } });
    }
    // In the log it is no record under the authorisation's key: it is matched by its authorisation.
    const page = await connector.transactions!(0, null, 100);
    const capture = page.ok ? page.records.find((r) => r.record.operation === 'capture' && r.record.reference === 'pay_m') : undefined;
    expect(capture?.record).toMatchObject({ authorizationId: auth.authorizationId });
    expect(capture?.record.gatewayKey).toBeUndefined();
  });

  it('the fake’s validator counts a request that breaks the published document (so "0 violations" can fail)', async () => {
    const before = fake.violations.length;
    await fetch(`${fake.baseUrl}/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': fake.apiKey, 'idempotency-key': 'planted-1' },
      // No returnUrl (required), an amount as a string, and a field the document does not have.
      body: JSON.stringify({ amount: { value: '10', currency: 'EUR' }, merchantAccount: fake.merchantAccount, reference: 'planted', paymentMethod: { type: 'scheme', storedPaymentMethodId: 'tok_visa' }, cardNumber: 'x' }),
    });
    expect(fake.violations.length).toBe(before + 1);
    expect(fake.violations.at(-1)!.errors).toMatch(/returnUrl|additional|integer/);
    fake.violations.splice(before);
  });
});
