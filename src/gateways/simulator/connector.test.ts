import { describe, expect, it } from 'vitest';
import type { Timers } from '../../ports/clock.js';
import { seededRandom } from '../../ports/seeded.js';
import { type GatewayRequest, gatewayKey } from '../port.js';
import { createSimulatorConnector } from './connector.js';
import { createProcessor, type SimulatorFaults } from './processor.js';

const TIMEOUT_MS = 200;

/** Timers that fire on the next macrotask but remember every delay asked for. */
function recordingTimers() {
  const requested: number[] = [];
  const timers: Timers = {
    after(ms, fn) {
      requested.push(ms);
      const t = setImmediate(fn);
      return () => clearImmediate(t);
    },
    every() {
      throw new Error('not used');
    },
  };
  return { timers, requested };
}

function setup(faults: Partial<SimulatorFaults> = {}) {
  const processor = createProcessor({ clock: { now: () => Date.parse('2030-01-01T00:00:00Z') }, random: seededRandom(5), faults });
  const { timers, requested } = recordingTimers();
  const gateway = createSimulatorConnector({ name: 'sim-a', processor, timers, timeoutMs: TIMEOUT_MS });
  return { processor, gateway, requested };
}

const authorize: GatewayRequest = {
  operation: 'authorize',
  gatewayKey: gatewayKey('pay_1', 'authorize', 1),
  amount: 900,
  currency: 'USD',
  reference: 'pay_1',
  token: 'tok_visa',
};

describe('in-process simulator connector', () => {
  it('authorizes through the processor and waits out the latency on the injected timers', async () => {
    const { processor, gateway, requested } = setup({ latency: { minMs: 40, maxMs: 40 } });
    const outcome = await gateway.execute(authorize);
    const [entry] = processor.log();
    expect(outcome).toEqual({ class: 'success', transactionId: entry!.id, authorizationId: entry!.authorization_id });
    expect(requested).toEqual([40]);
  });

  it('maps declines and business refusals through the shared transformer', async () => {
    const { gateway } = setup();
    expect(await gateway.execute({ ...authorize, token: 'tok_decline_card_blocked' })).toMatchObject({
      class: 'decline',
      declineCode: 'card_blocked',
    });
    expect(
      await gateway.execute({ ...authorize, operation: 'capture', gatewayKey: 'pay_1.capture.1', authorizationId: 'auth_none' }),
    ).toMatchObject({ class: 'decline', declineCode: 'unknown_authorization' });
  });

  it('a dropped answer resolves unknown after timeoutMs, while the log shows it executed', async () => {
    const { processor, gateway, requested } = setup({ timeoutAfterProcessingRate: 1 });
    expect(await gateway.execute(authorize)).toEqual({ class: 'unknown', reason: 'timeout' });
    expect(requested).toEqual([TIMEOUT_MS]);
    expect(processor.log()).toHaveLength(1);
    expect(await gateway.status(authorize.gatewayKey)).toMatchObject({ found: true, outcome: { class: 'success' } });
  });

  it('an answer slower than timeoutMs is unknown, after timeoutMs rather than the latency', async () => {
    const { processor, gateway, requested } = setup({ latency: { minMs: 1_000, maxMs: 1_000 } });
    expect(await gateway.execute(authorize)).toEqual({ class: 'unknown', reason: 'timeout' });
    expect(requested).toEqual([TIMEOUT_MS]);
    expect(processor.log()).toHaveLength(1);
  });

  it('error before processing is not_processed with retryAfterMs; status finds nothing', async () => {
    const { processor, gateway } = setup({ errorBeforeProcessingRate: 1 });
    expect(await gateway.execute(authorize)).toEqual({ class: 'not_processed', reason: 'unavailable', retryAfterMs: 1000 });
    expect(processor.log()).toEqual([]);
    expect(await gateway.status(authorize.gatewayKey)).toEqual({ found: false });
  });

  it('outage: execute not_processed, status unknown', async () => {
    const { gateway } = setup({ outage: true });
    expect((await gateway.execute(authorize)).class).toBe('not_processed');
    expect(await gateway.status(authorize.gatewayKey)).toMatchObject({ found: 'unknown' });
  });

  it('an already-aborted signal sends nothing', async () => {
    const { processor, gateway } = setup();
    expect(await gateway.execute(authorize, AbortSignal.abort())).toMatchObject({ class: 'not_processed' });
    expect(processor.stats().received).toBe(0);
  });

  it('the same gateway key twice executes once and yields the same outcome', async () => {
    const { processor, gateway } = setup();
    const a = await gateway.execute(authorize);
    const b = await gateway.execute(authorize);
    expect(b).toEqual(a);
    expect(processor.log()).toHaveLength(1);
  });
});
