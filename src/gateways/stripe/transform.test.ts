/**
 * The Stripe outcome table (docs/gateways.md, "Stripe: outcome table"), row by row: objects are
 * Stripe's own examples (test/fixtures/stripe/fixtures3.json, MIT, Stripe Inc.) with the fields
 * each case turns on; errors are built by the library itself from the raw error Stripe sends.
 */
import { readFileSync } from 'node:fs';
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { BUG_PREFIX, type StripeAnswer, toStripeOutcome, toStripeStatus } from './transform.js';

const fixtures = JSON.parse(readFileSync(new URL('../../../test/fixtures/stripe/fixtures3.json', import.meta.url), 'utf8')) as { resources: Record<string, Record<string, unknown>> };
const intent = (fields: Record<string, unknown>): StripeAnswer => ({ kind: 'object', object: { ...structuredClone(fixtures.resources.payment_intent!), ...fields } });
const refund = (fields: Record<string, unknown>): StripeAnswer => ({ kind: 'object', object: { ...structuredClone(fixtures.resources.refund!), ...fields } });
/** What the library throws for a raw Stripe error answer. */
const stripeError = (raw: Record<string, unknown>): StripeAnswer => ({ kind: 'error', error: Stripe.errors.StripeError.generate(raw as never) });
const connection = (code: string, message = 'An error occurred with our connection to Stripe.'): StripeAnswer => ({
  kind: 'error',
  error: new Stripe.errors.StripeConnectionError({ message, detail: Object.assign(new Error(code), { code }) }),
});

const PI = fixtures.resources.payment_intent!.id as string;

describe('Stripe outcome table: objects', () => {
  it('authorize: requires_capture or succeeded → success (the PaymentIntent is the authorization)', () => {
    for (const status of ['requires_capture', 'succeeded']) {
      expect(toStripeOutcome('authorize', intent({ status, latest_charge: 'ch_1' }))).toEqual({ class: 'success', transactionId: PI, authorizationId: PI });
    }
    expect(toStripeOutcome('authorize', intent({ status: 'canceled', latest_charge: 'ch_1' }))).toMatchObject({ class: 'success' });
  });

  it('authorize: requires_payment_method with last_payment_error → decline with its decline_code', () => {
    const declined = intent({ status: 'requires_payment_method', last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.' } });
    expect(toStripeOutcome('authorize', declined)).toEqual({ class: 'decline', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' });
    // The fixture's own last_payment_error has a type and no code: not a decline Idem can name.
    expect(toStripeOutcome('authorize', intent({}))).toMatchObject({ class: 'unknown' });
  });

  it('authorize: requires_action → decline authentication_required; processing → unknown', () => {
    expect(toStripeOutcome('authorize', intent({ status: 'requires_action' }))).toMatchObject({ class: 'decline', declineCode: 'authentication_required' });
    expect(toStripeOutcome('authorize', intent({ status: 'processing' }))).toEqual({ class: 'unknown', reason: 'payment_intent processing' });
  });

  it('capture: succeeded → success (its Charge id, as balance transactions name it); anything else → unknown', () => {
    expect(toStripeOutcome('capture', intent({ status: 'succeeded', latest_charge: 'ch_2' }))).toEqual({ class: 'success', transactionId: 'ch_2', authorizationId: PI });
    expect(toStripeOutcome('capture', intent({ status: 'succeeded', latest_charge: { id: 'ch_3', object: 'charge' } }))).toMatchObject({ transactionId: 'ch_3' });
    expect(toStripeOutcome('capture', intent({ status: 'requires_capture' }))).toMatchObject({ class: 'unknown' });
  });

  it('void: canceled → success; anything else → unknown', () => {
    expect(toStripeOutcome('void', intent({ status: 'canceled' }))).toEqual({ class: 'success', transactionId: PI, authorizationId: PI });
    expect(toStripeOutcome('void', intent({ status: 'succeeded' }))).toMatchObject({ class: 'unknown' });
  });

  it('refund: succeeded or pending → success; failed or canceled → decline', () => {
    const id = fixtures.resources.refund!.id as string;
    expect(toStripeOutcome('refund', refund({}))).toEqual({ class: 'success', transactionId: id });
    expect(toStripeOutcome('refund', refund({ status: 'pending', payment_intent: PI }))).toEqual({ class: 'success', transactionId: id, authorizationId: PI });
    expect(toStripeOutcome('refund', refund({ status: 'failed', failure_reason: 'expired_or_canceled_card' }))).toEqual({ class: 'decline', declineCode: 'expired_or_canceled_card' });
    expect(toStripeOutcome('refund', refund({ status: 'canceled' }))).toEqual({ class: 'decline', declineCode: 'refund_canceled' });
  });

  it('an object of the wrong kind, without an id, or hostile → unknown', () => {
    expect(toStripeOutcome('refund', intent({ status: 'succeeded' }))).toMatchObject({ class: 'unknown' });
    expect(toStripeOutcome('capture', refund({}))).toMatchObject({ class: 'unknown' });
    expect(toStripeOutcome('authorize', intent({ id: undefined }))).toMatchObject({ class: 'unknown' });
    expect(toStripeOutcome('authorize', { kind: 'object', object: null })).toMatchObject({ class: 'unknown' });
    const hostile = { get object(): string { throw new Error('boom'); } };
    expect(toStripeOutcome('authorize', { kind: 'object', object: hostile })).toEqual({ class: 'unknown', reason: 'unclassifiable Stripe answer: boom' });
  });
});

describe('Stripe outcome table: errors the library throws', () => {
  it('card_error (402) with decline_code → decline with it; without → its code', () => {
    expect(toStripeOutcome('authorize', stripeError({ statusCode: 402, type: 'card_error', code: 'card_declined', decline_code: 'lost_card', message: 'Your card was declined.' }))).toEqual({
      class: 'decline',
      declineCode: 'lost_card',
      message: 'Your card was declined.',
    });
    expect(toStripeOutcome('authorize', stripeError({ statusCode: 402, type: 'card_error', code: 'expired_card' }))).toMatchObject({ class: 'decline', declineCode: 'expired_card' });
  });

  it('429 / rate_limit_error → not processed, with Retry-After when Stripe sends one', () => {
    expect(toStripeOutcome('authorize', stripeError({ statusCode: 429, type: 'invalid_request_error', code: 'rate_limit', headers: { 'retry-after': '2' } }))).toEqual({
      class: 'not_processed',
      reason: 'rate_limit',
      retryAfterMs: 2000,
    });
    expect(toStripeOutcome('capture', stripeError({ statusCode: 429, type: 'rate_limit_error' }))).toEqual({ class: 'not_processed', reason: 'rate_limit' });
    expect(toStripeOutcome('capture', stripeError({ statusCode: 429, type: 'invalid_request_error', code: 'lock_timeout' }))).toEqual({ class: 'not_processed', reason: 'lock_timeout' });
  });

  it('idempotency_error (the key reused with other parameters) → unknown, marked as a bug in Idem', () => {
    const outcome = toStripeOutcome('capture', stripeError({ statusCode: 400, type: 'idempotency_error', message: 'Keys for idempotent requests can only be used with the same parameters' }));
    expect(outcome.class).toBe('unknown');
    expect(outcome.class === 'unknown' && outcome.reason.startsWith(BUG_PREFIX)).toBe(true);
  });

  it('409 idempotency_key_in_use → unknown (the first request under the key is still running)', () => {
    expect(toStripeOutcome('authorize', stripeError({ statusCode: 409, type: 'invalid_request_error', code: 'idempotency_key_in_use' }))).toMatchObject({ class: 'unknown' });
  });

  it('500 (saved under the key, so a re-send replays it) and other 5xx → unknown', () => {
    const saved = toStripeOutcome('authorize', stripeError({ statusCode: 500, type: 'api_error', message: 'An unknown error occurred' }));
    expect(saved).toEqual({ class: 'unknown', reason: 'stripe_500_api_error (saved under the key; resolved by lookup)' });
    expect(toStripeOutcome('refund', stripeError({ statusCode: 503, type: 'api_error' }))).toMatchObject({ class: 'unknown' });
  });

  it('connection errors: refused before sending → not processed; reset or timeout → unknown', () => {
    expect(toStripeOutcome('authorize', connection('ECONNREFUSED'))).toEqual({ class: 'not_processed', reason: 'stripe_unreachable_ECONNREFUSED' });
    expect(toStripeOutcome('authorize', connection('ENOTFOUND'))).toMatchObject({ class: 'not_processed' });
    expect(toStripeOutcome('authorize', connection('ECONNRESET'))).toEqual({ class: 'unknown', reason: 'stripe_connection_error_ECONNRESET' });
    expect(toStripeOutcome('authorize', connection('ETIMEDOUT', 'Request aborted due to timeout being reached (2000ms)'))).toMatchObject({ class: 'unknown' });
    expect(toStripeOutcome('authorize', { kind: 'error', error: new Error('socket hang up') })).toMatchObject({ class: 'unknown' });
  });

  it('401 / 403 → not processed (Stripe ran nothing; another gateway may)', () => {
    expect(toStripeOutcome('authorize', stripeError({ statusCode: 401, type: 'invalid_request_error', message: 'Invalid API Key provided' }))).toMatchObject({ class: 'not_processed' });
    expect(toStripeOutcome('authorize', stripeError({ statusCode: 403, type: 'invalid_request_error', code: 'secret_key_required' }))).toMatchObject({ class: 'not_processed' });
  });

  it('other 4xx (the request is wrong for this payment) → decline with Stripe code', () => {
    expect(toStripeOutcome('capture', stripeError({ statusCode: 400, type: 'invalid_request_error', code: 'payment_intent_unexpected_state' }))).toMatchObject({
      class: 'decline',
      declineCode: 'payment_intent_unexpected_state',
    });
    expect(toStripeOutcome('void', stripeError({ statusCode: 404, type: 'invalid_request_error', code: 'resource_missing' }))).toMatchObject({ class: 'decline', declineCode: 'resource_missing' });
    expect(toStripeOutcome('refund', stripeError({ statusCode: 400, type: 'invalid_request_error' }))).toMatchObject({ class: 'decline', declineCode: 'http_400' });
  });
});

describe('Stripe lookups: what a found object says about a key', () => {
  it('nothing held for the key → not found; a PaymentIntent still awaiting the capture or void → not found', () => {
    expect(toStripeStatus('authorize', null)).toEqual({ found: false });
    expect(toStripeStatus('capture', intent({ status: 'requires_capture' }))).toEqual({ found: false });
    expect(toStripeStatus('void', intent({ status: 'requires_capture' }))).toEqual({ found: false });
  });

  it('a settled object → found with its outcome; one still moving → unknown', () => {
    expect(toStripeStatus('authorize', intent({ status: 'requires_capture', latest_charge: 'ch_1' }))).toEqual({ found: true, outcome: { class: 'success', transactionId: PI, authorizationId: PI } });
    expect(toStripeStatus('refund', refund({ status: 'failed', failure_reason: 'unknown' }))).toMatchObject({ found: true, outcome: { class: 'decline' } });
    expect(toStripeStatus('authorize', intent({ status: 'processing' }))).toMatchObject({ found: 'unknown' });
  });

  it('a lookup that failed: refused when Stripe provably served nothing, else plain unknown', () => {
    expect(toStripeStatus('authorize', connection('ECONNREFUSED'))).toMatchObject({ found: 'unknown', refused: true });
    expect(toStripeStatus('authorize', stripeError({ statusCode: 429, type: 'rate_limit_error' }))).toMatchObject({ found: 'unknown', refused: true });
    const failed = toStripeStatus('authorize', stripeError({ statusCode: 500, type: 'api_error' }));
    expect(failed).toMatchObject({ found: 'unknown' });
    expect('refused' in failed).toBe(false);
  });
});
