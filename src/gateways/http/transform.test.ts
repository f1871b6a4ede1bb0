import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GatewayOutcome } from '../port.js';
import { type HttpExchange, toOperationStatus, toOutcome } from './transform.js';

interface Fixture {
  description: string;
  transform: 'outcome' | 'status';
  input: HttpExchange;
  expected: unknown;
}

const dir = new URL('./fixtures/', import.meta.url);
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ file, ...(JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as Fixture) }));

describe('toOutcome / toOperationStatus: recorded fixtures', () => {
  it('has fixtures for every outcome class and for status lookups', () => {
    const classes = new Set(fixtures.filter((f) => f.transform === 'outcome').map((f) => (f.expected as GatewayOutcome).class));
    expect([...classes].sort()).toEqual(['decline', 'not_processed', 'success', 'unknown']);
    expect(fixtures.some((f) => f.transform === 'status')).toBe(true);
  });

  it.each(fixtures.map((f) => [f.file, f] as const))('%s', (_file, fixture) => {
    const actual = fixture.transform === 'status' ? toOperationStatus(fixture.input) : toOutcome(fixture.input);
    expect(actual).toEqual(fixture.expected);
  });
});

describe('toOutcome: rules', () => {
  const answer = (status: number, body: unknown, headers: Record<string, string> = {}): HttpExchange => ({
    kind: 'answer',
    status,
    headers,
    body,
  });

  it.each([402, 409, 422])('%i is a decline carrying the decline code', (status) => {
    expect(toOutcome(answer(status, { error: 'declined', decline_code: 'card_blocked' }))).toEqual({
      class: 'decline',
      declineCode: 'card_blocked',
    });
  });

  it('503 with processed:false is not_processed; Retry-After header names are case-insensitive', () => {
    expect(toOutcome(answer(503, { error: 'unavailable', processed: false }, { 'RETRY-AFTER': '0.5' }))).toEqual({
      class: 'not_processed',
      reason: 'unavailable',
      retryAfterMs: 500,
    });
  });

  it('ignores a Retry-After that is not delay-seconds', () => {
    expect(toOutcome(answer(429, {}, { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }))).toEqual({
      class: 'not_processed',
      reason: 'http_429',
    });
  });
});

describe('toOutcome: properties', () => {
  const headers = fc.dictionary(
    fc.oneof(fc.constant('retry-after'), fc.constant('Retry-After'), fc.string()),
    fc.oneof(fc.string(), fc.array(fc.string()), fc.constant(undefined)),
  );
  const body = fc.oneof(
    fc.anything({ withNullPrototype: true, withBigInt: true, withMap: true, withSet: true, withObjectString: true }),
    fc.record(
      {
        id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        authorization_id: fc.oneof(fc.string(), fc.constant(null)),
        error: fc.oneof(fc.string(), fc.integer()),
        decline_code: fc.anything(),
        processed: fc.oneof(fc.boolean(), fc.constant('false')),
        message: fc.anything(),
      },
      { requiredKeys: [] },
    ),
  );
  const status = fc.oneof(fc.integer({ min: 100, max: 599 }), fc.integer(), fc.double());
  const exchange: fc.Arbitrary<HttpExchange> = fc.oneof(
    fc.record({ kind: fc.constant('answer' as const), status, headers, body }),
    fc.record({ kind: fc.constant('no_answer' as const), sent: fc.boolean(), reason: fc.string() }),
  );

  it('is total: every exchange maps to exactly one well-formed class, without throwing', () => {
    fc.assert(
      fc.property(exchange, (x) => {
        const outcome = toOutcome(x);
        switch (outcome.class) {
          case 'success':
            return typeof outcome.transactionId === 'string' && outcome.transactionId !== '';
          case 'decline':
            return typeof outcome.declineCode === 'string' && outcome.declineCode !== '';
          case 'not_processed':
            return (
              typeof outcome.reason === 'string' &&
              (outcome.retryAfterMs === undefined || (Number.isFinite(outcome.retryAfterMs) && outcome.retryAfterMs >= 0))
            );
          case 'unknown':
            return typeof outcome.reason === 'string';
          default:
            return false;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('the status lookup is total too', () => {
    fc.assert(
      fc.property(exchange, (x) => {
        const r = toOperationStatus(x);
        return r.found === false || r.found === 'unknown' || (r.found === true && ['success', 'decline'].includes(r.outcome.class));
      }),
    );
  });

  it('never claims "not processed" for a request that was sent and got no answer', () => {
    fc.assert(
      fc.property(fc.string(), (reason) => toOutcome({ kind: 'no_answer', sent: true, reason }).class === 'unknown'),
    );
  });

  it('never turns a 5xx into success or decline (only unknown, or not_processed when it says so)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 500, max: 599 }), body, (s, b) => {
        const c = toOutcome({ kind: 'answer', status: s, body: b }).class;
        return c === 'unknown' || (c === 'not_processed' && s === 503);
      }),
    );
  });

  it('survives hostile bodies whose getters throw', () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('boom');
        },
        getOwnPropertyDescriptor() {
          throw new Error('boom');
        },
      },
    );
    expect(toOutcome({ kind: 'answer', status: 200, body: hostile }).class).toBe('unknown');
    expect(toOperationStatus({ kind: 'answer', status: 404, body: hostile }).found).toBe('unknown');
  });
});
