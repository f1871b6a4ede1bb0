import { problem } from '../errors/registry.js';
import type { StoredResponse } from '../idempotency/store.js';
import type { PaymentResult } from '../payments/result.js';
import { PROBLEM_TYPE } from './problems.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The HTTP answer to a payment request, as stored for replay (docs/idempotency.md): the
 * payment (201 for create, 200 otherwise); 402 `PAYMENT_DECLINED` when the gateway refused the
 * operation; 202 with the payment in flight while the outcome is unknown (not stored). Wired
 * into the pipeline by `src/idem.ts` and the simulator alike, so a key finished by the API, by
 * recovery or in a simulation replays the same bytes.
 *
 * @example
 * new PaymentService({ store, gateways, runtime, render: renderPaymentResult });
 */
export function renderPaymentResult(result: PaymentResult): StoredResponse {
  const { request, payment } = result;
  if (result.outcome === 'pending') return { status: 202, contentType: JSON_TYPE, body: JSON.stringify(payment) };
  if (result.declineCode !== null) {
    const what = request === 'create' ? 'payment' : request;
    const body = problem('PAYMENT_DECLINED', `the gateway declined the ${what} (${result.declineCode})`, {
      payment_id: payment.id,
      decline_code: result.declineCode,
      payment_status: payment.status,
      ...(result.requestId !== undefined ? { request_id: result.requestId } : {}),
    });
    return { status: 402, contentType: PROBLEM_TYPE, body: JSON.stringify(body) };
  }
  return { status: request === 'create' ? 201 : 200, contentType: JSON_TYPE, body: JSON.stringify(payment) };
}
