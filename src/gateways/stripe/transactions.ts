/**
 * Stripe as a reconciliation source (docs/gateways.md, "Stripe: reconciliation"): its balance
 * transactions (captures and refunds, each source expanded; the gross amount is what the matcher
 * compares, the fee and net stay in the staged raw record), its Charges (authorizations) and its
 * `payment_intent.canceled` events (voids, which move no money and make no Charge), all read
 * forward from one cursor.
 */
import type Stripe from 'stripe';
import type { GatewayRecord } from '../../reconciliation/records.js';
import type { TransactionLogPage } from '../port.js';
import { describeOutcome, toStripeOutcome } from './transform.js';

/** How many entries a first read (no cursor yet) walks back over at most to find the oldest since `sinceMs`. */
const FIRST_READ_LIMIT = 10_000;
/**
 * Where each feed stands: the newest balance transaction, Charge and cancel event already read
 * (`-`: none yet). A cursor from before voids were read has no `ev:` part: its events start at `sinceMs`.
 */
const CURSOR = /^bt:(txn_[A-Za-z0-9_]+|-);ch:((?:ch|py)_[A-Za-z0-9_]+|-)(?:;ev:(evt_[A-Za-z0-9_]+|-))?$/;
/** The one event type read: a PaymentIntent canceled (a void). */
const CANCELED = 'payment_intent.canceled';

type ListParams = { ending_before?: string; created?: { gte: number }; limit: number; expand?: string[] };
type Lister<T> = (params: ListParams) => Stripe.ApiListPromise<T>;

/**
 * One page of gateway `gateway`'s log, oldest first, from three of Stripe's lists read forward
 * side by side: balance transactions (captures, refunds: money that moved, with fees), Charges
 * (authorizations, approved or declined) and `payment_intent.canceled` events (voids). From
 * `cursor`, or from `sinceMs` on a first read; about `limit` entries, a third from each list.
 */
export async function readStripeTransactions(
  stripe: Stripe,
  gateway: string,
  sinceMs: number,
  cursor: string | null,
  limit: number,
): Promise<TransactionLogPage> {
  const at = cursor === null ? ['-', '-', '-'] : CURSOR.exec(cursor)?.slice(1);
  if (at === undefined) return { ok: false, reason: `stripe transaction cursor ${cursor} is not one this connector hands out` };
  const share = Math.max(1, Math.ceil(limit / 3));
  try {
    const moved = await readForward((p) => stripe.balanceTransactions.list({ ...p, expand: ['data.source', 'data.source.payment_intent'] }), sinceMs, at[0]!, share);
    const charged = await readForward((p) => stripe.charges.list(p), sinceMs, at[1]!, share);
    const canceled = await readForward((p) => stripe.events.list({ ...p, type: CANCELED }), sinceMs, at[2] ?? '-', share);
    const page = toStripeLogPage(gateway, moved.entries, null, false);
    const charges = toChargeRecords(gateway, charged.entries);
    const voids = toVoidRecords(gateway, canceled.entries);
    if (!page.ok) return page;
    return {
      ok: true,
      records: [...page.records, ...charges.records, ...voids.records].sort((a, b) => a.record.at - b.record.at),
      rejected: [...page.rejected, ...charges.rejected, ...voids.rejected],
      nextCursor: `bt:${moved.last};ch:${charged.last};ev:${canceled.last}`,
      hasMore: moved.hasMore || charged.hasMore || canceled.hasMore,
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
 * Pure: `payment_intent.canceled` events → void records. A cancel takes no metadata, so the
 * void's gateway key is the `Idempotency-Key` Idem sent with it, which Stripe keeps on the event
 * (`request.idempotency_key`); the PaymentIntent (the authorization id) and its
 * `idem_payment_id` come from the event's snapshot of it. A cancel no request made (Stripe's
 * own, when an authorization expires) has no key: it is matched by its authorization id, or not.
 */
export function toVoidRecords(gateway: string, events: readonly unknown[]): { records: Array<{ record: GatewayRecord; raw: unknown }>; rejected: Array<{ raw: unknown; reason: string }> } {
  const records: Array<{ record: GatewayRecord; raw: unknown }> = [];
  const rejected: Array<{ raw: unknown; reason: string }> = [];
  for (const raw of events) {
    const e = raw as Partial<Stripe.Event>;
    if (e.type !== CANCELED) continue;
    const pi = (e.data?.object ?? {}) as Partial<Stripe.PaymentIntent>;
    const currency = typeof pi.currency === 'string' ? pi.currency.toUpperCase() : '';
    if (typeof e.id !== 'string' || typeof e.created !== 'number' || typeof pi.id !== 'string' || typeof pi.amount !== 'number' || !/^[A-Z]{3}$/.test(currency)) {
      rejected.push({ raw, reason: 'cancel event without an id, a time, or a PaymentIntent with an id, amount and currency' });
      continue;
    }
    const metadata = (pi.metadata ?? {}) as Record<string, string>;
    const key = e.request?.idempotency_key ?? undefined;
    records.push({
      record: {
        id: e.id,
        gateway,
        operation: 'void',
        status: 'succeeded',
        amount: pi.amount,
        currency,
        at: e.created * 1000,
        ...(key ? { gatewayKey: key } : {}),
        authorizationId: pi.id,
        ...(metadata.idem_payment_id ? { reference: metadata.idem_payment_id } : {}),
      },
      raw: { id: e.id, type: e.type, payment_intent: pi.id, amount: pi.amount, currency: pi.currency, cancellation_reason: pi.cancellation_reason ?? null, request: e.request ?? null },
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
