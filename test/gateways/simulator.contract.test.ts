/**
 * The in-process simulator connector against the connector contract (docs/gateways.md): the
 * bar every real processor's connector clears too.
 */
import { systemClock, systemTimers } from '../../src/ports/clock.js';
import { seededRandom } from '../../src/ports/seeded.js';
import { createSimulatorConnector } from '../../src/gateways/simulator/connector.js';
import { createProcessor } from '../../src/gateways/simulator/processor.js';
import { connectorContract } from './connectorContract.js';

connectorContract('simulator (in-process)', async () => {
  const processor = createProcessor({ clock: systemClock, random: seededRandom(21) });
  return {
    connector: createSimulatorConnector({ name: 'sim-a', processor, timers: systemTimers, timeoutMs: 100 }),
    cards: { approved: 'tok_visa', declined: 'tok_decline_insufficient_funds', declineCode: 'insufficient_funds' },
    currency: 'EUR',
    log: async () =>
      processor.log().map((e) => ({ gatewayKey: e.idempotency_key, operation: e.operation, amount: e.amount, status: e.status })),
    faults: {
      loseAnswers: (on) => void processor.setFaults({ timeoutAfterProcessingRate: on ? 1 : 0 }),
      outage: (on) => void processor.setFaults({ outage: on }),
    },
    close: async () => {},
  };
});
