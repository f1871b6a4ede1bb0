import { describe, expect, it } from 'vitest';
import type { PaymentView } from '../payments/view.js';
import { JSON_TYPE, renderPaymentResult } from './render.js';
import { PROBLEM_TYPE } from './problems.js';

const payment: PaymentView = {
  id: 'pay_1',
  object: 'payment',
  amount: 1000,
  currency: 'EUR',
  capture_method: 'manual',
  status: 'authorized',
  payment_method: { type: 'card', token: 'tok_visa' },
  reference: null,
  metadata: {},
  gateway: 'alpha',
  amount_authorized: 1000,
  amount_captured: 0,
  amount_refunded: 0,
  amount_voided: 0,
  decline_code: null,
  idempotency_key: 'k1',
  attempts: [],
  created_at: '2030-01-01T00:00:00.000Z',
  updated_at: '2030-01-01T00:00:00.000Z',
};

describe('renderPaymentResult', () => {
  it('answers a created payment 201 and any other request 200, with the payment as it stands', () => {
    expect(renderPaymentResult({ request: 'create', outcome: 'final', payment, declineCode: null })).toEqual({ status: 201, contentType: JSON_TYPE, body: JSON.stringify(payment) });
    for (const request of ['capture', 'void', 'refund'] as const) {
      expect(renderPaymentResult({ request, outcome: 'final', payment, declineCode: null }).status).toBe(200);
    }
  });

  it('answers a declined request 402 PAYMENT_DECLINED with the code and the resting status', () => {
    const r = renderPaymentResult({ request: 'capture', outcome: 'final', payment, declineCode: 'insufficient_funds' });
    expect(r.status).toBe(402);
    expect(r.contentType).toBe(PROBLEM_TYPE);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'PAYMENT_DECLINED', payment_id: 'pay_1', decline_code: 'insufficient_funds', payment_status: 'authorized' });
    expect(JSON.parse(r.body).detail).toContain('declined the capture');
  });

  it('answers an unknown outcome 202 with the payment in flight', () => {
    const inFlight = { ...payment, status: 'capturing' as const };
    expect(renderPaymentResult({ request: 'capture', outcome: 'pending', payment: inFlight, declineCode: null })).toEqual({ status: 202, contentType: JSON_TYPE, body: JSON.stringify(inFlight) });
  });
});

describe('answers stored for replay go through the response schema', () => {
  it('leaves out members the document does not name, keeps the order of the schema', () => {
    const leaky = { internal_note: 'never sent', ...payment, fence: 7 } as PaymentView;
    const body = renderPaymentResult({ request: 'create', outcome: 'final', payment: leaky, declineCode: null }).body;
    expect(body).toBe(JSON.stringify(payment));
    expect(body).not.toContain('internal_note');
  });
});
