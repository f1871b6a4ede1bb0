/**
 * The Stripe fake's state and operations: PaymentIntents, Charges, Refunds and balance
 * transactions, shaped from Stripe's own example objects (test/fixtures/stripe/fixtures3.json,
 * MIT, Stripe Inc.), the `payment_intent.canceled` events of its cancels (shaped after Stripe's
 * Event object: the fixtures hold no example of one), and the log of every operation executed
 * (what I1 is checked against).
 */
import { readFileSync } from 'node:fs';

const FIXTURES = JSON.parse(readFileSync(new URL('../../fixtures/stripe/fixtures3.json', import.meta.url), 'utf8')) as { resources: Record<string, Record<string, unknown>> };

/** A fresh copy of Stripe's example object of `resource`, with `fields` over it. */
export function stripeObject(resource: 'payment_intent' | 'charge' | 'refund' | 'balance_transaction', fields: Record<string, unknown>): Record<string, any> {
  return { ...structuredClone(FIXTURES.resources[resource]!), ...fields };
}

/** One operation the fake executed (a replay is not one). */
export interface FakeLogEntry {
  gatewayKey: string;
  operation: 'authorize' | 'capture' | 'void' | 'refund';
  amount: number;
  currency: string;
  status: 'succeeded' | 'declined';
  objectId: string;
  at: number;
}

/** What an operation answers: the HTTP status and the body Stripe would send. */
export interface FakeAnswer {
  status: number;
  body: unknown;
}

type Obj = Record<string, any>;

/** Test cards: Stripe's test tokens and PaymentMethods, approved or declined with their codes. */
const DECLINES: Record<string, string> = {
  tok_chargeDeclined: 'generic_decline',
  pm_card_chargeDeclined: 'generic_decline',
  tok_chargeDeclinedInsufficientFunds: 'insufficient_funds',
  pm_card_chargeDeclinedInsufficientFunds: 'insufficient_funds',
  tok_chargeDeclinedLostCard: 'lost_card',
  pm_card_chargeDeclinedLostCard: 'lost_card',
};

export function createBank(now: () => number) {
  const intents = new Map<string, Obj>();
  const charges = new Map<string, Obj>();
  const refunds = new Map<string, Obj>();
  const balance: Obj[] = [];
  const events: Obj[] = [];
  const log: FakeLogEntry[] = [];
  /** When each object was written, for search lag. */
  const writtenAt = new Map<string, number>();
  let seq = 0;

  const id = (prefix: string) => `${prefix}_fake${(++seq).toString(36).padStart(6, '0')}`;
  const seconds = () => Math.floor(now() / 1000);
  const error = (status: number, fields: Obj): FakeAnswer => ({ status, body: { error: { message: fields.message ?? fields.code ?? 'error', ...fields } } });
  const record = (entry: Omit<FakeLogEntry, 'at'>) => log.push({ ...entry, at: now() });

  function balanceTransaction(type: 'charge' | 'refund', source: Obj, amount: number): void {
    const fee = type === 'charge' ? Math.round(amount * 0.029) + 30 : 0;
    const gross = type === 'charge' ? amount : -amount;
    const bt = stripeObject('balance_transaction', { id: id('txn'), type, reporting_category: type, amount: gross, fee, net: gross - fee, currency: source.currency, source: source.id, created: seconds(), fee_details: [] });
    source.balance_transaction = bt.id;
    balance.push(bt);
  }

  function intent(intentId: string): Obj | FakeAnswer {
    return intents.get(intentId) ?? error(404, { type: 'invalid_request_error', code: 'resource_missing', param: 'intent', message: `No such payment_intent: '${intentId}'` });
  }

  return {
    log,
    intents,

    authorize(key: string, p: Obj): FakeAnswer {
      const amount = Number(p.amount);
      if (!Number.isInteger(amount) || amount < 1 || typeof p.currency !== 'string') return error(400, { type: 'invalid_request_error', code: 'parameter_missing', param: 'amount' });
      const card: string = p.payment_method ?? p.payment_method_data?.card?.token ?? '';
      const declineCode = DECLINES[card];
      const metadata = { ...(p.metadata ?? {}) };
      const pi = stripeObject('payment_intent', {
        id: id('pi'), amount, currency: p.currency, metadata, capture_method: p.capture_method ?? 'automatic', created: seconds(),
        amount_capturable: 0, amount_received: 0, canceled_at: null, last_payment_error: null, next_action: null, latest_charge: null,
        payment_method: id('pm'), status: 'requires_payment_method', client_secret: null, processing: null, transfer_data: null,
      });
      const charge = stripeObject('charge', { id: id('ch'), amount, currency: p.currency, metadata: { ...metadata }, payment_intent: pi.id, created: seconds(), captured: false, amount_captured: 0, amount_refunded: 0, balance_transaction: null, refunds: null });
      charges.set(charge.id, charge);
      pi.latest_charge = charge.id;
      intents.set(pi.id, pi);
      writtenAt.set(pi.id, now());
      if (declineCode !== undefined || !/^(tok|pm)_/.test(card)) {
        const code = declineCode ?? 'card_declined';
        Object.assign(charge, { status: 'failed', paid: false, failure_code: 'card_declined' });
        pi.last_payment_error = { type: 'card_error', code: 'card_declined', decline_code: code, message: 'Your card was declined.', charge: charge.id };
        record({ gatewayKey: key, operation: 'authorize', amount, currency: p.currency, status: 'declined', objectId: pi.id });
        return error(402, { type: 'card_error', code: 'card_declined', decline_code: code, message: 'Your card was declined.', charge: charge.id, payment_intent: structuredClone(pi) });
      }
      Object.assign(charge, { status: 'succeeded', paid: true });
      if (pi.capture_method === 'manual') Object.assign(pi, { status: 'requires_capture', amount_capturable: amount });
      else {
        Object.assign(pi, { status: 'succeeded', amount_received: amount });
        Object.assign(charge, { captured: true, amount_captured: amount });
        balanceTransaction('charge', charge, amount);
      }
      record({ gatewayKey: key, operation: 'authorize', amount, currency: p.currency, status: 'succeeded', objectId: pi.id });
      return { status: 200, body: pi };
    },

    capture(key: string, intentId: string, p: Obj): FakeAnswer {
      const pi = intent(intentId);
      if ('status' in pi && 'body' in pi) return pi as FakeAnswer;
      if (pi.status !== 'requires_capture') return error(400, { type: 'invalid_request_error', code: 'payment_intent_unexpected_state', message: `This PaymentIntent could not be captured because it has a status of ${pi.status}.`, payment_intent: structuredClone(pi) });
      const amount = p.amount_to_capture === undefined ? pi.amount_capturable : Number(p.amount_to_capture);
      if (!Number.isInteger(amount) || amount < 1 || amount > pi.amount_capturable) return error(400, { type: 'invalid_request_error', code: 'amount_too_large', param: 'amount_to_capture' });
      Object.assign(pi, { status: 'succeeded', amount_received: amount, amount_capturable: 0, metadata: { ...pi.metadata, ...(p.metadata ?? {}) } });
      const charge = charges.get(pi.latest_charge)!;
      Object.assign(charge, { captured: true, amount_captured: amount });
      balanceTransaction('charge', charge, amount);
      writtenAt.set(pi.id, now());
      record({ gatewayKey: key, operation: 'capture', amount, currency: pi.currency, status: 'succeeded', objectId: charge.id });
      return { status: 200, body: pi };
    },

    cancel(key: string, intentId: string): FakeAnswer {
      const pi = intent(intentId);
      if ('status' in pi && 'body' in pi) return pi as FakeAnswer;
      if (pi.status !== 'requires_capture' && pi.status !== 'requires_payment_method') {
        return error(400, { type: 'invalid_request_error', code: 'payment_intent_unexpected_state', message: `You cannot cancel this PaymentIntent because it has a status of ${pi.status}.` });
      }
      const before = pi.status;
      Object.assign(pi, { status: 'canceled', canceled_at: seconds(), cancellation_reason: 'requested_by_customer', amount_capturable: 0 });
      // Stripe's Event: a snapshot of the object, and the request (with its Idempotency-Key) that caused it.
      events.push({
        id: id('evt'), object: 'event', api_version: null, created: seconds(), livemode: false, pending_webhooks: 0, type: 'payment_intent.canceled',
        data: { object: structuredClone(pi), previous_attributes: { status: before, canceled_at: null, cancellation_reason: null } },
        request: { id: id('req'), idempotency_key: key === '' ? null : key },
      });
      record({ gatewayKey: key, operation: 'void', amount: pi.amount, currency: pi.currency, status: 'succeeded', objectId: pi.id });
      return { status: 200, body: pi };
    },

    refund(key: string, p: Obj): FakeAnswer {
      const pi = intent(String(p.payment_intent));
      if ('status' in pi && 'body' in pi) return pi as FakeAnswer;
      const charge = charges.get(pi.latest_charge)!;
      const amount = p.amount === undefined ? charge.amount_captured - charge.amount_refunded : Number(p.amount);
      if (pi.status !== 'succeeded') return error(400, { type: 'invalid_request_error', code: 'charge_not_captured' });
      if (!Number.isInteger(amount) || amount < 1 || amount > charge.amount_captured - charge.amount_refunded) return error(400, { type: 'invalid_request_error', code: 'amount_too_large', param: 'amount' });
      const refund = stripeObject('refund', { id: id('re'), amount, currency: pi.currency, charge: charge.id, payment_intent: pi.id, metadata: { ...(p.metadata ?? {}) }, status: 'succeeded', created: seconds() });
      charge.amount_refunded += amount;
      refunds.set(refund.id, refund);
      balanceTransaction('refund', refund, amount);
      record({ gatewayKey: key, operation: 'refund', amount, currency: pi.currency, status: 'succeeded', objectId: refund.id });
      return { status: 200, body: refund };
    },

    retrieve(intentId: string): FakeAnswer {
      const pi = intent(intentId);
      return 'status' in pi && 'body' in pi ? (pi as FakeAnswer) : { status: 200, body: pi };
    },

    /** `metadata['k']:'v'`, the one search clause Idem sends; what was written within `lagMs` is not indexed yet. */
    search(query: string, lagMs: number): FakeAnswer {
      const m = /^metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'$/.exec(query.trim());
      if (m === null) return error(400, { type: 'invalid_request_error', code: 'parameter_invalid_string', param: 'query' });
      const value = m[2]!.replace(/\\(.)/g, '$1');
      const data = [...intents.values()].filter((pi) => pi.metadata?.[m[1]!] === value && now() - (writtenAt.get(pi.id) ?? 0) >= lagMs).reverse();
      return { status: 200, body: { object: 'search_result', data, has_more: false, next_page: null, url: '/v1/payment_intents/search' } };
    },

    refundsOf(intentId: string): FakeAnswer {
      const data = [...refunds.values()].filter((r) => r.payment_intent === intentId).reverse();
      return { status: 200, body: { object: 'list', data, has_more: false, url: '/v1/refunds' } };
    },

    /** Newest first, Stripe's list paging: `starting_after` goes older, `ending_before` newer. */
    balanceTransactions(q: Obj): FakeAnswer {
      const expand = ([] as string[]).concat(q.expand ?? []);
      const sourceOf = (bt: Obj): Obj => {
        const source = charges.get(bt.source) ?? refunds.get(bt.source);
        if (source === undefined) return bt.source;
        const intentOf = expand.includes('data.source.payment_intent') ? intents.get(source.payment_intent) : undefined;
        return intentOf === undefined ? source : { ...source, payment_intent: structuredClone(intentOf) };
      };
      const page = listPage(balance, q, '/v1/balance_transactions');
      if (expand.includes('data.source')) (page.body as Obj).data = (page.body as Obj).data.map((bt: Obj) => ({ ...bt, source: sourceOf(bt) }));
      return page;
    },

    charges(q: Obj): FakeAnswer {
      return listPage([...charges.values()], q, '/v1/charges');
    },

    /** Events of the one type the fake makes (`payment_intent.canceled`), filtered by `type` when asked. */
    events(q: Obj): FakeAnswer {
      return listPage(events.filter((e) => q.type === undefined || e.type === q.type), q, '/v1/events');
    },
  };
}

export type Bank = ReturnType<typeof createBank>;

/** One page of `items` (oldest first) as Stripe lists: newest first, `created[gte]`, cursors, `has_more`. */
function listPage(items: readonly Obj[], q: Obj, url: string): FakeAnswer {
  const limit = Math.min(100, Number(q.limit ?? 10));
  const gte = q.created?.gte === undefined ? -Infinity : Number(q.created.gte);
  const list = [...items].reverse().filter((o) => o.created >= gte);
  let data: Obj[];
  let hasMore: boolean;
  if (q.ending_before !== undefined) {
    const at = list.findIndex((o) => o.id === q.ending_before);
    const newer = at < 0 ? [] : list.slice(0, at);
    hasMore = newer.length > limit;
    data = newer.slice(Math.max(0, newer.length - limit));
  } else {
    const at = q.starting_after === undefined ? -1 : list.findIndex((o) => o.id === q.starting_after);
    const older = list.slice(at + 1);
    hasMore = older.length > limit;
    data = older.slice(0, limit);
  }
  return { status: 200, body: { object: 'list', data: structuredClone(data), has_more: hasMore, url } };
}
