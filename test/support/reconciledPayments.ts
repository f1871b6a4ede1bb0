/**
 * Idem's side of a reconciliation test, written straight through the store: an authorized
 * payment with its succeeded authorize attempt (`att_<id>`, gateway key `<id>.authorize.1`,
 * transaction `txn_<id>`, authorization `auth_<id>`), as the pipeline would have left it.
 */
import type { PaymentRow } from '../../src/payments/rows.js';
import type { Store } from '../../src/store/port.js';

export async function authorizedPayment(
  store: Pick<Store, 'insertPayment' | 'insertAttempt' | 'recordAttempt' | 'updatePayment'>,
  p: { id: string; merchantId: string; gateway: string; amount: number; at: number },
): Promise<PaymentRow> {
  const { id, merchantId, gateway, amount, at } = p;
  const row = await store.insertPayment({
    id,
    merchant_id: merchantId,
    amount,
    currency: 'EUR',
    capture_method: 'manual',
    status: 'processing',
    token: 'tok_visa',
    reference: null,
    metadata: {},
    preferred_gateway: null,
    gateway,
    idempotency_key: `idem-${id}`,
    created_at: new Date(at),
    updated_at: new Date(at),
  });
  const a = await store.insertAttempt(
    { id: `att_${id}`, payment_id: id, operation: 'authorize', attempt_no: 1, gateway, gateway_key: `${id}.authorize.1`, amount, idempotency_key: `idem-${id}`, created_at: new Date(at) },
    new Date(at),
  );
  await store.recordAttempt(a, { status: 'succeeded', gatewayReference: `txn_${id}` }, new Date(at + 500));
  return store.updatePayment(row, { status: 'authorized', authorization_id: `auth_${id}`, amount_authorized: amount }, new Date(at + 500));
}
