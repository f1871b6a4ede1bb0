/**
 * The Adyen connector against the connector contract (docs/gateways.md), on the local Adyen
 * fake: every request checked against Adyen's published Checkout v71 document (0 violations
 * asserted after each case), modifications answered `received` and settled by signed
 * notifications. With ADYEN_API_KEY and ADYEN_MERCHANT_ACCOUNT set, the same contract also
 * runs against Adyen's test platform (cases needing the processor's log or faults skip there).
 */
import { expect } from 'vitest';
import { ADYEN_TEST_BASE_URL, createAdyenConnector } from '../../src/gateways/adyen/connector.js';
import { MemoryNotificationLog } from '../../src/gateways/adyen/memoryLog.js';
import { systemTimers } from '../../src/ports/clock.js';
import { AdyenFake } from '../support/adyenFake.js';
import { startAdyenReceiver } from '../support/adyenReceiver.js';
import { connectorContract } from './connectorContract.js';

connectorContract('adyen (local fake, Checkout v71)', async () => {
  const fake = new AdyenFake();
  const baseUrl = await fake.start();
  const receiver = await startAdyenReceiver('adyen', fake.hmacKey, fake.merchantAccount);
  fake.notifyTo(receiver.url);
  return {
    connector: createAdyenConnector({ name: 'adyen', apiKey: fake.apiKey, merchantAccount: fake.merchantAccount, baseUrl, timeoutMs: 2000, timers: systemTimers, notifications: receiver.log }),
    cards: { approved: 'tok_visa', declined: 'tok_decline_insufficient_funds', declineCode: 'adyen_refusal_12' },
    currency: 'EUR',
    pendingModifications: true,
    log: async () => fake.log.map((e) => ({ gatewayKey: e.idempotency_key, operation: e.operation, amount: e.amount, status: e.status })),
    faults: {
      loseAnswers: (on) => {
        fake.loseAnswers = on;
      },
      outage: (on) => fake.setOutage(on),
    },
    close: async () => {
      await fake.stop();
      await receiver.close();
      expect(fake.violations, 'requests that break Adyen\u2019s published Checkout v71 document').toEqual([]);
      expect(fake.delivered.filter((d) => d.status !== 200), 'notifications the receiver refused').toEqual([]);
    },
  };
});

const live = process.env.ADYEN_API_KEY && process.env.ADYEN_MERCHANT_ACCOUNT ? { apiKey: process.env.ADYEN_API_KEY, merchantAccount: process.env.ADYEN_MERCHANT_ACCOUNT } : null;
connectorContract(
  'adyen (live test platform)',
  async () => ({
    connector: createAdyenConnector({ name: 'adyen-live', ...live!, baseUrl: process.env.ADYEN_CHECKOUT_URL ?? ADYEN_TEST_BASE_URL, timeoutMs: 15_000, timers: systemTimers, notifications: new MemoryNotificationLog() }),
    cards: { approved: process.env.ADYEN_TEST_TOKEN ?? 'tok_visa', declined: process.env.ADYEN_TEST_DECLINED_TOKEN ?? 'tok_decline', declineCode: 'adyen_refused' },
    currency: 'EUR',
    close: async () => {},
  }),
  { skip: live ? undefined : 'set ADYEN_API_KEY and ADYEN_MERCHANT_ACCOUNT (and ADYEN_TEST_TOKEN, a stored card) to run it against Adyen test' },
);
