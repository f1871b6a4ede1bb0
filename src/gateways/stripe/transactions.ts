/**
 * Stripe as a reconciliation source (docs/gateways.md, "Stripe: reconciliation"): its balance
 * transactions (captures and refunds, each source expanded; the gross amount is what the matcher
 * compares, the fee and net stay in the staged raw record) and its Charges (authorizations),
 * both read forward from one cursor. Voids move no money and make no Charge: lookups settle them.
 */
import type Stripe from 'stripe';
import type { GatewayRecord } from '../../reconciliation/records.js';
import type { TransactionLogPage } from '../port.js';
import { describeOutcome, toStripeOutcome } from './transform.js';

/** How many entries a first read (no cursor yet) walks back over at most to find the oldest since `sinceMs`. */
const FIRST_READ_LIMIT = 10_000;
/** Where each feed stands: the newest balance transaction and Charge already read (`-`: none yet). */
const CURSOR = /^bt:(txn_[A-Za-z0-9_]+|-);ch:((?:ch|py)_[A-Za-z0-9_]+|-)$/;

type ListParams = { ending_before?: string; created?: { gte: number }; limit: number; expand?: string[] };
type Lister<T> = (params: ListParams) => Stripe.ApiListPromise<T>;

/**
 * One page of gateway `gateway`'s log, oldest first, from two of Stripe's lists read forward
 * side by side: balance transactions (captures, refunds: money that moved, with fees) and
 * Charges (authorizations, approved or declined). From `cursor`, or from `sinceMs` on a first
 * read; at most `limit` entries, shared between the two.
 */
export async function readStripeTransactions(
  stripe: Stripe,
  gateway: string,
  sinceMs: number,
  cursor: string | null,
  limit: number,
): Promise<TransactionLogPage> {
  const at = cursor === null ? ['-', '-'] : CURSOR.exec(cursor)?.slice(1);
  if (at === undefined) return { ok: false, reason: `stripe transaction cursor ${cursor} is not one this connector hands out` };
  const half = Math.max(1, Math.ceil(limit / 2));
  try {
    const moved = await readForward((p) => stripe.balanceTransactions.list({ ...p, expand: ['data.source', 'data.source.payment_intent'] }), sinceMs, at[0]!, half);
    const charged = await readForward((p) => stripe.charges.list(p), sinceMs, at[1]!, half);
    const page = toStripeLogPage(gateway, moved.entries, null, false);
    const charges = toChargeRecords(gateway, charged.entries);
    if (!page.ok) return page;
    return {
      ok: true,
      records: [...page.records, ...charges.records].sort((a, b) => a.record.at - b.record.at),
      rejected: [...page.rejected, ...charges.rejected],
      nextCursor: `bt:${moved.last};ch:${charged.last}`,
      hasMore: moved.hasMore || charged.hasMore,
    };
  } catch (error) {
    return { ok: false, reason: `stripe log: ${describeOutcome(toStripeOutcome('authorize', { kind: 'error', error }))}` };
  }
}

/** Stripe lists newest first: `ending_before` is the page just newer than the cursor; a first read walks back to `sinceMs`. */
async function readForward<T extends { id: string }>(list: Lister<T>, sinceMs: number, after: string, limit: number): Promise<{ entries: T[]; last: string; hasMore: boolean }> {
  if (after !== '-') {
    const page = await list({ ending_before: after, limit: Math.min(limit, 100) });
    const entries = [...page.data].reverse();
    return { entries, last: entries.at(-1)?.id ?? after, hasMore: page.has_more };
  }
  const all: T[] = [];
  for await (const item of list({ created: { gte: Math.floor(sinceMs / 1000) }, limit: 100 })) {
    all.push(item);
    if (all.length >= FIRST_READ_LIMIT) break;
  }
  const entries = all.reverse().slice(0, limit);
  return { entries, last: entries.at(-1)?.id ?? '-', hasMore: all.length > limit };
}

/**
 * Pure: Charges → authorization records (Stripe copied the PaymentIntent's metadata, with the
 * authorization's gateway key, to the Charge at confirmation). Pending ones are not final yet.
 */
export function toChargeRecords(gateway: string, charges: readonly unknown[]): { records: Array<{ record: GatewayRecord; raw: unknown }>; rejected: Array<{ raw: unknown; reason: string }> } {
  const records: Array<{ record: GatewayRecord; raw: unknown }> = [];
  const rejected: Array<{ raw: unknown; reason: string }> = [];
  for (const raw of charges) {
    const c = raw as Partial<Stripe.Charge>;
    if (c.status === 'pending') continue;
    const currency = typeof c.currency === 'string' ? c.currency.toUpperCase() : '';
    if (typeof c.id !== 'string' || typeof c.created !== 'number' || typeof c.amount !== 'number' || !/^[A-Z]{3}$/.test(currency)) {
      rejected.push({ raw, reason: 'charge without an id, a time, an amount or a currency' });
      continue;
    }
    const metadata = (c.metadata ?? {}) as Record<string, string>;
    const paymentIntent = typeof c.payment_intent === 'string' ? c.payment_intent : c.payment_intent?.id;
    records.push({
      record: {
        id: c.id,
        gateway,
        operation: 'authorize',
        status: c.status === 'succeeded' ? 'succeeded' : 'declined',
        amount: c.amount,
        currency,
        at: c.created * 1000,
        ...(metadata.idem_gateway_key ? { gatewayKey: metadata.idem_gateway_key } : {}),
        ...(paymentIntent ? { authorizationId: paymentIntent } : {}),
        ...(metadata.idem_payment_id ? { reference: metadata.idem_payment_id } : {}),
      },
      raw: { id: c.id, amount: c.amount, currency: c.currency, status: c.status, payment_intent: paymentIntent ?? null },
    });
  }
  return { records, rejected };
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
