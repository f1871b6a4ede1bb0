import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canTransition, isInFlight, isTerminal, PAYMENT_STATUSES as paymentStatuses, type PaymentStatus } from './states.js';

/** The rows of the table in docs/payments.md, "States", one edge each. */
const specTable: ReadonlyArray<readonly [PaymentStatus, PaymentStatus]> = [
  ['processing', 'authorized'],
  ['processing', 'captured'],
  ['processing', 'declined'],
  ['processing', 'failed'],
  ['authorized', 'capturing'],
  ['capturing', 'captured'],
  ['capturing', 'partially_captured'],
  ['authorized', 'voiding'],
  ['voiding', 'voided'],
  ['captured', 'refunding'],
  ['partially_captured', 'refunding'],
  ['refunding', 'partially_refunded'],
  ['refunding', 'refunded'],
];

/**
 * Edges the table's own words require besides its rows: a decline is final and leaves the
 * payment where the request found it (a declined capture or void leaves it `authorized`, a
 * declined refund leaves it as captured or refunded as it was), and "refund all or part of a
 * capture" lets a partially refunded payment be refunded again.
 */
const declineReturns: ReadonlyArray<readonly [PaymentStatus, PaymentStatus]> = [
  ['capturing', 'authorized'],
  ['voiding', 'authorized'],
  ['refunding', 'captured'],
  ['refunding', 'partially_captured'],
  ['refunding', 'partially_refunded'],
];
const furtherRefunds: ReadonlyArray<readonly [PaymentStatus, PaymentStatus]> = [['partially_refunded', 'refunding']];

const edge = (from: PaymentStatus, to: PaymentStatus) => `${from} -> ${to}`;
const allowed = new Set([...specTable, ...declineReturns, ...furtherRefunds].map(([f, t]) => edge(f, t)));
const terminal: PaymentStatus[] = ['declined', 'failed', 'voided', 'refunded'];

/**
 * A small pure payment driven only by `canTransition` and the amount rules of the API
 * (capture ≤ authorized; refund ≤ captured − refunded; full or partial by comparison). Each
 * request is two steps, as in the service: it starts (moves to an in-flight state) and later
 * the gateway answers. Every move asks `canTransition`; a refused start is a 409, an amount
 * over the rule a 422, and both leave the payment untouched.
 */
interface Model {
  status: PaymentStatus;
  amount: number;
  automatic: boolean;
  authorized: number;
  captured: number;
  refunded: number;
  voided: number;
  /** The operation the gateway has not answered yet, and where a decline puts the payment back. */
  pending: { op: 'authorize' | 'capture' | 'void' | 'refund'; amount: number; before: PaymentStatus } | null;
  /** Every status change made, in order. */
  moves: Array<[PaymentStatus, PaymentStatus]>;
  /** Answers the machine could not record (a legitimately started operation with nowhere to go). */
  stuck: string[];
}

type Command =
  | { kind: 'capture'; amount: number }
  | { kind: 'void' }
  | { kind: 'refund'; amount: number }
  | { kind: 'answer'; outcome: 'success' | 'decline' | 'exhausted' }
  | { kind: 'probe'; to: PaymentStatus };

function newPayment(amount: number, automatic: boolean): Model {
  return {
    status: 'processing',
    amount,
    automatic,
    authorized: 0,
    captured: 0,
    refunded: 0,
    voided: 0,
    pending: { op: 'authorize', amount, before: 'processing' },
    moves: [],
    stuck: [],
  };
}

function move(m: Model, to: PaymentStatus): boolean {
  if (!canTransition(m.status, to)) return false;
  m.moves.push([m.status, to]);
  m.status = to;
  return true;
}

/** Records the gateway's answer; an answer the machine refuses is "stuck", a property failure. */
function settle(m: Model, to: PaymentStatus): void {
  if (!move(m, to)) m.stuck.push(`${m.pending?.op} answered but ${edge(m.status, to)} is refused`);
  m.pending = null;
}

function apply(m: Model, c: Command): void {
  switch (c.kind) {
    case 'capture': {
      if (!canTransition(m.status, 'capturing')) return; // 409
      if (c.amount > m.authorized) return; // 422
      const before = m.status;
      move(m, 'capturing');
      m.pending = { op: 'capture', amount: c.amount, before };
      return;
    }
    case 'void': {
      if (!canTransition(m.status, 'voiding')) return;
      const before = m.status;
      move(m, 'voiding');
      m.pending = { op: 'void', amount: m.authorized, before };
      return;
    }
    case 'refund': {
      if (!canTransition(m.status, 'refunding')) return;
      if (c.amount > m.captured - m.refunded) return;
      const before = m.status;
      move(m, 'refunding');
      m.pending = { op: 'refund', amount: c.amount, before };
      return;
    }
    case 'probe':
      // Any status change at all, asked of the machine: it must answer as the table does.
      expect(canTransition(m.status, c.to), edge(m.status, c.to)).toBe(allowed.has(edge(m.status, c.to)));
      return;
    case 'answer': {
      const p = m.pending;
      if (!p) return;
      if (p.op === 'authorize') {
        if (c.outcome === 'success') {
          m.authorized = p.amount;
          if (m.automatic) {
            // Authorized and still processing: the capture of the whole amount follows.
            m.pending = { op: 'capture', amount: p.amount, before: 'processing' };
            return;
          }
          return settle(m, 'authorized');
        }
        return settle(m, c.outcome === 'decline' ? 'declined' : 'failed');
      }
      // Out of tries on a capture, void or refund: it stays in flight, for recovery to finish.
      if (c.outcome === 'exhausted') return;
      if (c.outcome === 'decline') {
        // A decline leaves the payment as the request found it; a declined automatic capture
        // leaves the authorization standing.
        return settle(m, p.op === 'capture' && p.before === 'processing' ? 'authorized' : p.before);
      }
      if (p.op === 'capture') {
        m.captured += p.amount;
        return settle(m, m.captured === m.authorized ? 'captured' : 'partially_captured');
      }
      if (p.op === 'void') {
        m.voided = m.authorized;
        return settle(m, 'voided');
      }
      m.refunded += p.amount;
      return settle(m, m.refunded === m.captured ? 'refunded' : 'partially_refunded');
    }
  }
}

/** What must hold after every step, whatever the sequence: the broken rules, none expected. */
function violations(m: Model): string[] {
  const out = [...m.stuck];
  const rule = (ok: boolean, what: string) => ok || out.push(`${m.status}: ${what} (authorized ${m.authorized}, captured ${m.captured}, refunded ${m.refunded})`);
  rule(m.authorized >= 0 && m.authorized <= m.amount, '0 ≤ authorized ≤ amount');
  rule(m.captured <= m.authorized, 'captured ≤ authorized');
  rule(m.refunded >= 0 && m.refunded <= m.captured, '0 ≤ refunded ≤ captured');
  // Each status says something about the money.
  switch (m.status) {
    case 'authorized':
    case 'voiding':
    case 'capturing':
      rule(m.authorized > 0 && m.captured === 0, 'an authorization stands, nothing captured');
      break;
    case 'captured':
      rule(m.captured === m.authorized && m.refunded === 0, 'all of the authorization captured, nothing refunded');
      break;
    case 'partially_captured':
      rule(m.captured > 0 && m.captured < m.authorized && m.refunded === 0, 'part of the authorization captured, nothing refunded');
      break;
    case 'partially_refunded':
      rule(m.refunded > 0 && m.refunded < m.captured, 'part of the capture refunded');
      break;
    case 'refunded':
      rule(m.captured > 0 && m.refunded === m.captured, 'all of the capture refunded');
      break;
    case 'voided':
      rule(m.captured === 0 && m.voided === m.authorized, 'the whole authorization voided, nothing captured');
      break;
    case 'declined':
    case 'failed':
      rule(m.authorized === 0, 'nothing authorized');
      break;
    case 'processing':
    case 'refunding':
      break;
  }
  // An in-flight status always has an operation waiting for the gateway, and only then.
  rule((m.pending !== null) === isInFlight(m.status), `in flight exactly while ${JSON.stringify(m.pending)} is waiting`);
  return out;
}

const amount = fc.integer({ min: 1, max: 10_000 });
const command = (max: number): fc.Arbitrary<Command> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 1, max: max + 2 }).map((a) => ({ kind: 'capture' as const, amount: a })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'void' as const }) },
    { weight: 3, arbitrary: fc.integer({ min: 1, max: max + 2 }).map((a) => ({ kind: 'refund' as const, amount: a })) },
    { weight: 5, arbitrary: fc.constant({ kind: 'answer' as const, outcome: 'success' as const }) },
    { weight: 1, arbitrary: fc.constantFrom('decline' as const, 'exhausted' as const).map((outcome) => ({ kind: 'answer' as const, outcome })) },
    { weight: 1, arbitrary: fc.constantFrom(...paymentStatuses).map((to) => ({ kind: 'probe' as const, to })) },
  );
// Small amounts make full captures and full refunds (the boundaries) common.
const scenario = fc
  .record({ amount: fc.oneof(fc.integer({ min: 1, max: 4 }), amount), automatic: fc.boolean() })
  .chain(({ amount: a, automatic }) => fc.record({ amount: fc.constant(a), automatic: fc.constant(automatic), commands: fc.array(command(a), { minLength: 5, maxLength: 50, size: 'max' }) }));

describe('payment state machine', () => {
  it('allows exactly the transitions of docs/payments.md (and the returns a decline requires)', () => {
    const got = new Set<string>();
    for (const from of paymentStatuses) for (const to of paymentStatuses) if (canTransition(from, to)) got.add(edge(from, to));
    expect([...got].sort()).toEqual([...allowed].sort());
  });

  it('reaches every status from processing, and only through allowed edges', () => {
    const seen = new Set<PaymentStatus>(['processing']);
    const queue: PaymentStatus[] = ['processing'];
    while (queue.length > 0) {
      const from = queue.shift()!;
      for (const to of paymentStatuses) {
        if (!canTransition(from, to)) continue;
        expect(allowed.has(edge(from, to)), edge(from, to)).toBe(true);
        if (!seen.has(to)) {
          seen.add(to);
          queue.push(to);
        }
      }
    }
    expect([...seen].sort()).toEqual([...paymentStatuses].sort());
  });

  it('calls terminal exactly declined, failed, voided and refunded, and in flight exactly the four -ing states', () => {
    expect(paymentStatuses.filter(isTerminal).sort()).toEqual([...terminal].sort());
    expect(paymentStatuses.filter(isInFlight).sort()).toEqual(['capturing', 'processing', 'refunding', 'voiding']);
    for (const from of terminal) for (const to of paymentStatuses) expect(canTransition(from, to), edge(from, to)).toBe(false);
  });

  it('keeps captured ≤ authorized and refunded ≤ captured, never leaves a terminal state, and moves only along allowed edges', () => {
    const traversed = new Set<string>();
    fc.assert(
      fc.property(scenario, ({ amount: a, automatic, commands }) => {
        const m = newPayment(a, automatic);
        const broken = violations(m);
        for (const c of commands) {
          const before = { status: m.status, money: [m.authorized, m.captured, m.refunded].join(), moves: m.moves.length };
          apply(m, c);
          broken.push(...violations(m).map((v) => `after ${JSON.stringify(c)}: ${v}`));
          const after = { status: m.status, money: [m.authorized, m.captured, m.refunded].join(), moves: m.moves.length };
          if (terminal.includes(before.status) && JSON.stringify(after) !== JSON.stringify(before)) {
            broken.push(`${JSON.stringify(c)} left terminal ${JSON.stringify(before)} for ${JSON.stringify(after)}`);
          }
        }
        m.moves.forEach(([from, to], i) => {
          if (!allowed.has(edge(from, to))) broken.push(`moved along ${edge(from, to)}, not an allowed edge`);
          // A path starts at processing and each move starts where the last one ended.
          if (from !== (i === 0 ? 'processing' : m.moves[i - 1]![1])) broken.push(`move ${i} starts at ${from}`);
          traversed.add(edge(from, to));
        });
        expect(broken).toEqual([]);
      }),
      { numRuns: 2000 },
    );
    // The sequences did walk every edge of the machine, so the properties above say something.
    expect([...traversed].sort()).toEqual([...allowed].sort());
  });
});
