/**
 * Stripe as a reconciliation source (docs/gateways.md, "Stripe: reconciliation"): its balance
 * transactions, read forward from a cursor, each with its source (the Charge a capture made, or
 * the Refund) expanded. Only money that moved is there: authorizations and voids move none, so
 * they are settled by lookups, not by this log. Each record carries the gross amount the matcher
 * compares with what Idem asked for; the fee and net stay in the staged raw record.
 */
import type Stripe from 'stripe';
import type { GatewayRecord } from '../../reconciliation/records.js';
import type { TransactionLogPage } from '../port.js';
import { describeOutcome, toStripeOutcome } from './transform.js';

/** How many entries a first read (no cursor yet) walks back over at most to find the oldest since `sinceMs`. */
const FIRST_READ_LIMIT = 10_000;
const CURSOR = /^bt:(txn_[A-Za-z0-9_]+)$/;

/**
 * One page of gateway `gateway`'s balance transactions, oldest first: from `cursor` (the newest
 * one already read), or from `sinceMs` on a first read.
 */
export async function readStripeTransactions(
  stripe: Stripe,
  gateway: string,
  sinceMs: number,
  cursor: string | null,
  limit: number,
): Promise<TransactionLogPage> {
  try {
    if (cursor !== null) {
      const after = CURSOR.exec(cursor)?.[1];
      if (after === undefined) return { ok: false, reason: `stripe transaction cursor ${cursor} is not one this connector hands out` };
      // Stripe lists newest first; `ending_before` is the page just newer than the cursor.
      const page = await stripe.balanceTransactions.list({ ending_before: after, limit: Math.min(limit, 100), expand: ['data.source', 'data.source.payment_intent'] });
      const entries = [...page.data].reverse();
      return toStripeLogPage(gateway, entries, entries.length > 0 ? `bt:${entries.at(-1)!.id}` : cursor, page.has_more);
    }
    const all: Stripe.BalanceTransaction[] = [];
    for await (const bt of stripe.balanceTransactions.list({ created: { gte: Math.floor(sinceMs / 1000) }, limit: 100, expand: ['data.source', 'data.source.payment_intent'] })) {
      all.push(bt);
      if (all.length >= FIRST_READ_LIMIT) break;
    }
    const oldestFirst = all.reverse().slice(0, limit);
    return toStripeLogPage(gateway, oldestFirst, oldestFirst.length > 0 ? `bt:${oldestFirst.at(-1)!.id}` : null, all.length > limit);
  } catch (error) {
    return { ok: false, reason: `stripe balance transactions: ${describeOutcome(toStripeOutcome('authorize', { kind: 'error', error }))}` };
  }
}

/**
 * Pure: balance transactions (source expanded) → records. A charge's is the capture, a refund's
 * the refund; others (payouts, fees, adjustments) are not operations Idem asked for and are
 * left out; one Idem cannot read is rejected with the reason.
 */
export function toStripeLogPage(gateway: string, entries: readonly unknown[], nextCursor: string | null, hasMore: boolean): TransactionLogPage {
  const records: Array<{ record: GatewayRecord; raw: unknown }> = [];
  const rejected: Array<{ raw: unknown; reason: string }> = [];
  for (const raw of entries) {
    const bt = raw as Partial<Stripe.BalanceTransaction>;
    const type = bt.type;
    if (type !== 'charge' && type !== 'payment' && type !== 'refund' && type !== 'payment_refund') continue;
    const source = bt.source as unknown as Record<string, unknown> | string | null | undefined;
    if (typeof bt.id !== 'string' || typeof bt.created !== 'number' || source === null || typeof source !== 'object') {
      rejected.push({ raw, reason: 'balance transaction without an id, a time or an expanded source' });
      continue;
    }
    const metadata = (source.metadata ?? {}) as Record<string, string>;

    const refund = type === 'refund' || type === 'payment_refund';
    const amount = refund ? source.amount : (source.amount_captured ?? source.amount);
    const currency = typeof source.currency === 'string' ? source.currency.toUpperCase() : '';
    if (typeof source.id !== 'string' || typeof amount !== 'number' || !/^[A-Z]{3}$/.test(currency)) {
      rejected.push({ raw, reason: `balance transaction ${bt.id}: its source has no id, amount or currency` });
      continue;
    }
    // A charge's PaymentIntent comes expanded: its `idem_capture_key` names the capture.
    const intent = source.payment_intent as unknown;
    const paymentIntent = typeof intent === 'string' ? intent : typeof (intent as { id?: unknown })?.id === 'string' ? (intent as { id: string }).id : undefined;
    const intentMetadata = ((intent as { metadata?: unknown } | null)?.metadata ?? {}) as Record<string, string>;
    const key = refund ? metadata.idem_gateway_key : intentMetadata.idem_capture_key;
    records.push({
      record: {
        id: bt.id,
        gateway,
        operation: refund ? 'refund' : 'capture',
        status: 'succeeded',
        amount,
        currency,
        at: bt.created * 1000,
        transactionId: source.id,
        ...(key ? { gatewayKey: key } : {}),
        ...(paymentIntent ? { authorizationId: paymentIntent } : {}),
        ...(metadata.idem_payment_id ? { reference: metadata.idem_payment_id } : {}),
      },
      raw: { id: bt.id, type, amount: bt.amount, fee: bt.fee, net: bt.net, currency: bt.currency, source: source.id },
    });
  }
  return { ok: true, records, rejected, nextCursor, hasMore };
}
