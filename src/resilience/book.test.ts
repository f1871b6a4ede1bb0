import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stepUntil } from '../../test/support/bounded.js';
import { HealthBook, reasonClass, type GatewayObservation } from './book.js';

const fail = (at: number, gateway = 'a'): GatewayObservation => ({ at, gateway, operation: 'authorize', outcome: 'not_processed', latencyMs: 5, reason: 'HTTP 503', first: true });
const ok = (at: number, gateway = 'a'): GatewayObservation => ({ at, gateway, operation: 'authorize', outcome: 'success', latencyMs: 20, first: true });

describe('HealthBook', () => {
  it('routes by priority while healthy, and around a gateway once it is down, except its probes', () => {
    const book = new HealthBook();
    expect(book.route(['a', 'b'], 'authorize', 0, () => 0.5)).toEqual(['a', 'b']);
    let t = 0;
    let change: ReturnType<HealthBook['observe']> = null;
    stepUntil('a change of state after failures in a row', () => change !== null, () => (change = book.observe(fail((t += 10)))), 100);
    expect(change).toMatchObject({ gateway: 'a', operation: 'authorize', from: 'healthy', to: 'down' });
    expect(book.route(['a', 'b'], 'authorize', t + 1, () => 0.5)).toEqual(['b']);
    // The probe is due after 250 ms: one real payment tries `a` first, the next ones do not.
    expect(book.route(['a', 'b'], 'authorize', t + 260, () => 0.5)).toEqual(['a', 'b']);
    expect(book.route(['a', 'b'], 'authorize', t + 270, () => 0.5)).toEqual(['b']);
  });

  it('fails a "not processed" over at once when its gateway is down', () => {
    const book = new HealthBook();
    let t = 0;
    stepUntil('a is down after failures in a row', () => book.state('a') === 'down', () => book.observe(fail((t += 10))), 100);
    expect(book.adviseRetry('a', 'authorize', 'HTTP 503', 0, 'b', t)).toMatchObject({ kind: 'failover', to: 'b' });
    // Nowhere better to go: wait on it as long as it asks, within its retry budget.
    expect(book.adviseRetry('a', 'authorize', 'HTTP 503', 2000, null, t)).toMatchObject({ kind: 'retry', delayMs: 2000 });
  });

  it('never fails over to a gateway it knows to be down', () => {
    const book = new HealthBook();
    let t = 0;
    stepUntil(
      'a and b are both down after failures in a row',
      () => book.state('a') === 'down' && book.state('b') === 'down',
      () => {
        t += 10;
        book.observe(fail(t, 'a'));
        book.observe(fail(t, 'b'));
      },
      100,
    );
    expect(book.adviseRetry('a', 'authorize', 'HTTP 503', 1000, 'b', t).kind).not.toBe('failover');
  });

  it('retries a blip on a healthy gateway, within the budget, then moves on', () => {
    const book = new HealthBook({ retryFloor: 2, retryRatio: 0 });
    for (let i = 1; i <= 50; i++) book.observe(ok(i * 10));
    const advice = [1, 2, 3].map(() => book.adviseRetry('a', 'authorize', 'HTTP 503', 0, 'b', 600).kind);
    expect(advice).toEqual(['retry', 'retry', 'failover']);
  });

  it('never advises a retry sooner than Retry-After (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 120_000 }), fc.option(fc.constant('b'), { nil: null }), (retryAfter, alternative) => {
        const advice = new HealthBook().adviseRetry('a', 'authorize', 'HTTP 429', retryAfter, alternative, 0);
        return advice.kind !== 'retry' || advice.delayMs >= retryAfter;
      }),
    );
  });

  it('groups failure reasons the way they recover', () => {
    expect(reasonClass('HTTP 503 from gateway')).toBe('503');
    expect(reasonClass('connect ECONNREFUSED 127.0.0.1:4010 (refused)')).toBe('refused');
    expect(reasonClass(undefined)).toBe('other');
  });

  it('shows every named gateway, seen or not', () => {
    const book = new HealthBook();
    book.observe(ok(10));
    const [a, b] = book.view(['a', 'b'], 20);
    expect(a).toMatchObject({ name: 'a', state: 'healthy', breaker: 'closed' });
    expect(a!.operations.authorize!.evidence.answers).toBe(1);
    expect(b).toMatchObject({ name: 'b', state: 'healthy', operations: {} });
  });
});
