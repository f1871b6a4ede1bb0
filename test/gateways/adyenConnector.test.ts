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
