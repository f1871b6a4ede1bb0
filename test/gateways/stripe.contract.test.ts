/**
 * The Stripe connector against the connector contract (docs/gateways.md): on the local Stripe
 * fake (real sockets, the official library, Stripe's idempotency semantics, the fake's own log
 * for I1), and live against Stripe test mode when STRIPE_TEST_SECRET_KEY is set — skipped with a
 * loud line otherwise, never a failure.
 */
import { Secret } from '../../src/gateways/credentials.js';
import { createStripeConnector } from '../../src/gateways/stripe/connector.js';
import { systemClock } from '../../src/ports/clock.js';
import { startStripeFake } from '../support/stripeFake/server.js';
import { connectorContract } from './connectorContract.js';

connectorContract('stripe (local fake)', async () => {
  const fake = await startStripeFake();
  return {
    connector: createStripeConnector({ name: 'stripe', secret: new Secret(fake.secretKey), baseUrl: fake.url, timeoutMs: 2_000, clock: systemClock }),
    cards: { approved: 'tok_visa', declined: 'tok_chargeDeclinedInsufficientFunds', declineCode: 'insufficient_funds' },
    currency: 'EUR',
    log: async () => fake.log().map((e) => ({ gatewayKey: e.gatewayKey, operation: e.operation, amount: e.amount, status: e.status })),
    faults: {
      loseAnswers: (on) => fake.setFaults({ loseAnswers: on }),
      outage: (on) => fake.outage(on),
    },
    close: () => fake.close(),
  };
});

const liveKey = process.env.STRIPE_TEST_SECRET_KEY;
connectorContract(
  'stripe (live test mode)',
  async () => ({
    connector: createStripeConnector({ name: 'stripe-live', secret: new Secret(liveKey!), timeoutMs: 30_000, clock: systemClock, searchSettleMs: 120_000 }),
    cards: { approved: 'pm_card_visa', declined: 'pm_card_chargeDeclinedInsufficientFunds', declineCode: 'insufficient_funds' },
    currency: 'EUR',
    close: async () => {},
  }),
  {
    skip:
      liveKey === undefined || liveKey === ''
        ? 'STRIPE_TEST_SECRET_KEY is not set (set it to an sk_test_ key to run the contract against Stripe test mode)'
        : liveKey.startsWith('sk_test_') || liveKey.startsWith('rk_test_')
          ? undefined
          : 'STRIPE_TEST_SECRET_KEY is not a test-mode key (sk_test_… or rk_test_…); refusing to run against live money',
  },
);
