import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_AMOUNT } from '../payments/money.js';
import { canTransition, type PaymentStatus } from '../payments/states.js';
import { eventName, expectedBalances, postingsFor, type Account, type LedgerEvent } from './ledger.js';

const money = fc.integer({ min: 0, max: MAX_AMOUNT });
const attemptId = fc.stringMatching(/^att_[0-9a-z]{1,12}$/);
const ledgerEvent: fc.Arbitrary<LedgerEvent> = fc.oneof(
  money.map((amount) => ({ kind: 'authorize' as const, amount })),
  fc
    .tuple(money, money, attemptId)
    .map(([a, b, id]) => ({ kind: 'capture' as const, authorized: Math.max(a, b), captured: Math.min(a, b), attemptId: id })),
  money.map((authorized) => ({ kind: 'void' as const, authorized })),
  fc.tuple(money, attemptId).map(([amount, id]) => ({ kind: 'refund' as const, amount, attemptId: id })),
);

const accounts: Account[] = ['gateway_holds', 'holds_outstanding', 'gateway_receivable', 'merchant_payable'];

/**
 * One payment as the service moves it, with the journal it writes: each gateway success posts
 * `postingsFor` its movement, exactly where `PaymentService.apply` posts it; starts and
 * declines post nothing. Every status change asks `canTransition`, and the amounts follow the
 * API's rules (capture ≤ authorized, refund ≤ captured − refunded).
 */
interface Payment {
  status: PaymentStatus;
  automatic: boolean;
  amount_authorized: number;
  amount_captured: number;
  amount_refunded: number;
  pending: { op: 'authorize' | 'capture' | 'void' | 'refund'; amount: number; before: PaymentStatus } | null;
  balances: Record<Account, number>;
  entries: Array<{ name: string; sum: number }>;
  attempts: number;
}

type Command =
  | { kind: 'capture'; amount: number }
  | { kind: 'void' }
  | { kind: 'refund'; amount: number }
  | { kind: 'answer'; outcome: 'success' | 'decline' };

function post(p: Payment, event: LedgerEvent): void {
  const postings = postingsFor(event);
  for (const { account, amount } of postings) p.balances[account] += amount;
  p.entries.push({ name: eventName(event), sum: postings.reduce((s, x) => s + x.amount, 0) });
}

function to(p: Payment, status: PaymentStatus): void {
  if (!canTransition(p.status, status)) throw new Error(`the machine refuses ${p.status} -> ${status}`);
  p.status = status;
}

function apply(p: Payment, c: Command): void {
  if (c.kind === 'capture' || c.kind === 'void' || c.kind === 'refund') {
    const next = c.kind === 'capture' ? 'capturing' : c.kind === 'void' ? 'voiding' : 'refunding';
    if (!canTransition(p.status, next)) return;
    if (c.kind === 'capture' && c.amount > p.amount_authorized) return;
    if (c.kind === 'refund' && c.amount > p.amount_captured - p.amount_refunded) return;
    p.pending = { op: c.kind, amount: c.kind === 'void' ? p.amount_authorized : c.amount, before: p.status };
    to(p, next);
    return;
  }
  const w = p.pending;
  if (!w) return;
  p.pending = null;
  const id = `att_${++p.attempts}`;
  if (c.outcome === 'decline') {
    if (w.op === 'authorize') to(p, 'declined');
    else to(p, w.before === 'processing' ? 'authorized' : w.before);
    return;
  }
  switch (w.op) {
    case 'authorize':
      post(p, { kind: 'authorize', amount: w.amount });
      p.amount_authorized = w.amount;
      if (p.automatic) p.pending = { op: 'capture', amount: w.amount, before: 'processing' };
      else to(p, 'authorized');
      return;
    case 'capture':
      post(p, { kind: 'capture', authorized: p.amount_authorized, captured: w.amount, attemptId: id });
      p.amount_captured += w.amount;
      to(p, p.amount_captured >= p.amount_authorized ? 'captured' : 'partially_captured');
      return;
    case 'void':
      post(p, { kind: 'void', authorized: p.amount_authorized });
      to(p, 'voided');
      return;
    case 'refund':
      post(p, { kind: 'refund', amount: w.amount, attemptId: id });
      p.amount_refunded += w.amount;
      to(p, p.amount_refunded >= p.amount_captured ? 'refunded' : 'partially_refunded');
      return;
  }
}

const scenario = fc
  .record({ amount: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: MAX_AMOUNT })), automatic: fc.boolean() })
  .chain(({ amount, automatic }) => {
    // Amounts up to a little over the payment, with the exact boundaries likely.
    const part = fc.oneof(fc.integer({ min: 1, max: amount + 1 }), fc.constantFrom(1, amount, amount + 1));
    const command: fc.Arbitrary<Command> = fc.oneof(
      { weight: 3, arbitrary: part.map((a) => ({ kind: 'capture' as const, amount: a })) },
      { weight: 1, arbitrary: fc.constant({ kind: 'void' as const }) },
      { weight: 3, arbitrary: part.map((a) => ({ kind: 'refund' as const, amount: a })) },
      { weight: 4, arbitrary: fc.constant({ kind: 'answer' as const, outcome: 'success' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'answer' as const, outcome: 'decline' as const }) },
    );
    // Long enough to get past authorize and capture to several refunds.
    return fc.record({ amount: fc.constant(amount), automatic: fc.constant(automatic), commands: fc.array(command, { minLength: 5, maxLength: 40, size: 'max' }) });
  });

describe('ledger postings', () => {
  it('balances every entry: postings sum to zero, one per account', () => {
    fc.assert(
      fc.property(ledgerEvent, (event) => {
        const postings = postingsFor(event);
        expect(postings.reduce((s, p) => s + p.amount, 0)).toBe(0);
        // (entry, account) is the postings table's key: an entry names each account once.
        expect(new Set(postings.map((p) => p.account)).size).toBe(postings.length);
        for (const p of postings) expect(Number.isSafeInteger(p.amount)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('names entries so that each capture and refund attempt posts once, and authorize and void once per payment', () => {
    fc.assert(
      fc.property(attemptId, attemptId, money, (a, b, n) => {
        const names = (id: string) => [
          eventName({ kind: 'capture', authorized: n, captured: n, attemptId: id }),
          eventName({ kind: 'refund', amount: n, attemptId: id }),
        ];
        expect(new Set([...names(a), 'authorize', 'void']).size).toBe(4);
        if (a !== b) expect(names(a).filter((x) => names(b).includes(x))).toEqual([]);
        else expect(names(a)).toEqual(names(b));
        expect(eventName({ kind: 'authorize', amount: n })).toBe('authorize');
        expect(eventName({ kind: 'void', authorized: n })).toBe('void');
      }),
    );
  });

  it('sums to the balances expectedBalances gives for the payment state, after every step', () => {
    fc.assert(
      fc.property(scenario, ({ amount, automatic, commands }) => {
        const p: Payment = {
          status: 'processing',
          automatic,
          amount_authorized: 0,
          amount_captured: 0,
          amount_refunded: 0,
          pending: { op: 'authorize', amount, before: 'processing' },
          balances: { gateway_holds: 0, holds_outstanding: 0, gateway_receivable: 0, merchant_payable: 0 },
          entries: [],
          attempts: 0,
        };
        const broken: string[] = [];
        const check = (after: string) => {
          const want = expectedBalances(p);
          const b = p.balances;
          const rule = (ok: boolean, what: string) => ok || broken.push(`${p.status} after ${after}: ${what} ${JSON.stringify({ ...b, want })}`);
          rule(b.gateway_holds === want.gateway_holds, 'gateway_holds as the state says');
          rule(b.gateway_receivable === want.gateway_receivable, 'gateway_receivable as the state says');
          // Each account is matched by its counterpart, so the books balance as a whole.
          rule(b.holds_outstanding + b.gateway_holds === 0, 'holds_outstanding mirrors gateway_holds');
          rule(b.merchant_payable + b.gateway_receivable === 0, 'merchant_payable mirrors gateway_receivable');
          rule(accounts.reduce((s, a) => s + b[a], 0) === 0, 'the books balance');
          rule(p.entries.every((e) => e.sum === 0), 'every entry balances');
          rule(new Set(p.entries.map((e) => e.name)).size === p.entries.length, `entry names unique: ${p.entries.map((e) => e.name).join()}`);
          rule(p.amount_captured <= p.amount_authorized && p.amount_refunded <= p.amount_captured, 'refunded ≤ captured ≤ authorized');
        };
        check('creation');
        for (const c of commands) {
          apply(p, c);
          check(JSON.stringify(c));
        }
        expect(broken).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });

  it('holds nothing and owes nothing once a payment is voided, declined or fully refunded', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_AMOUNT }), fc.constantFrom<PaymentStatus>('voided', 'declined', 'failed', 'refunded'), (amount, status) => {
        const refunded = status === 'refunded';
        const b = expectedBalances({ status, amount_authorized: status === 'declined' || status === 'failed' ? 0 : amount, amount_captured: refunded ? amount : 0, amount_refunded: refunded ? amount : 0 });
        expect(b).toEqual({ gateway_holds: 0, gateway_receivable: 0 });
      }),
    );
  });
});
