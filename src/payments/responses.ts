import { problem } from '../errors/registry.js';
import type { StoredResponse } from '../idempotency/store.js';
import type { PaymentRequestKind } from './result.js';
import type { PaymentView } from './view.js';

export const JSON_TYPE = 'application/json; charset=utf-8';
export const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

/**
 * The final answer of a payment request, as stored for replay: the payment (201 for create,
 * 200 otherwise), or 402 `PAYMENT_DECLINED` when the gateway refused the operation. One
 * renderer serves the API and recovery, so a key finished by either replays the same bytes.
 */
export function finalResponse(kind: PaymentRequestKind, view: PaymentView, declineCode: string | null): StoredResponse {
  if (declineCode !== null) {
    const what = kind === 'create' ? 'payment' : kind;
    const body = problem('PAYMENT_DECLINED', `the gateway declined the ${what} (${declineCode})`, {
      payment_id: view.id,
      decline_code: declineCode,
      payment_status: view.status,
    });
    return { status: 402, contentType: PROBLEM_TYPE, body: JSON.stringify(body) };
  }
  return { status: kind === 'create' ? 201 : 200, contentType: JSON_TYPE, body: JSON.stringify(view) };
}

/** The answer while the outcome is unknown: 202 with the payment still in flight. Not stored. */
export function pendingResponse(view: PaymentView): StoredResponse {
  return { status: 202, contentType: JSON_TYPE, body: JSON.stringify(view) };
}
