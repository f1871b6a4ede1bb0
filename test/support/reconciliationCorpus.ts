/**
 * A seeded generator of the two sides reconciliation compares, with ground truth
 * (docs/reconciliation.md, "The bench"): Idem's attempts and the gateway's log of them, where a
 * share of gateway records lost their keys the way settlement files and manual operations lose
 * them — references reformatted, truncated or mistyped, fees deducted, FX rounding, clock skew,
 * merchant missing — plus split captures and refunds, duplicates, near-ties (twin payments),
 * gateway operations Idem never asked for and Idem operations the gateway never logged.
 */
import type { GatewayOperation } from '../../src/gateways/port.js';
import { gatewayKey } from '../../src/gateways/port.js';
import type { GatewayRecord, IdemRecord, MatchResult } from '../../src/reconciliation/records.js';
import type { Random } from '../../src/ports/clock.js';
import { newId } from '../../src/ports/ids.js';
import { seededRandom } from '../../src/ports/seeded.js';

export interface CorpusOptions {
  seed: number;
  payments: number;
  startAt: number;
  paymentsPerSecond: number;
  /** Share of gateway records (per operation) that lost every key: settlement-style. */
  stripShare: number;
  /** Of those, share that lost the reference too (manual operations). */
  referenceLossShare: number;
  /** Of stripped single captures, share with a fee deducted; of stripped records, share FX-rounded. */
  feeShare: number;
  fxShare: number;
  /** Stripped records' clock skew: uniform in ±skewMs. */
  skewMs: number;
  merchantLossShare: number;
  /** Share of captures and refunds the gateway logs as 2–3 parts. */
  splitShare: number;
  /** Share of gateway records logged twice (the copy keyless). */
  duplicateShare: number;
  /** Share of payments with a twin: same merchant, amount and currency, seconds apart. */
  twinShare: number;
  /** Gateway operations with no Idem counterpart, per payment. */
  orphanShare: number;
  /** Idem captures the gateway never logged, per payment. */
  idemOnlyShare: number;
  merchants: number;
  gateways: readonly string[];
}

export const DEFAULT_CORPUS: CorpusOptions = {
  seed: 1,
  payments: 10_000,
  startAt: Date.UTC(2026, 0, 5),
  paymentsPerSecond: 5,
  stripShare: 0.3,
  referenceLossShare: 0.03,
  feeShare: 0.3,
  fxShare: 0.1,
  skewMs: 10 * 60_000,
  merchantLossShare: 0.2,
  splitShare: 0.03,
  duplicateShare: 0.005,
  twinShare: 0.005,
  orphanShare: 0.01,
  idemOnlyShare: 0.005,
  merchants: 40,
  gateways: ['gw-a', 'gw-b'],
};

/** What a gateway record truly is. */
export interface Truth {
  /** The Idem record it answers, or null (a duplicate, an operation Idem never asked for). */
  idem: string | null;
  /** Nothing it carries tells it from another record: the right outcome is review. */
  ambiguous: boolean;
  /** It lost its keys (only scoring can match it). */
  stripped: boolean;
  /** One part of a split capture or refund. */
  split: boolean;
}

export interface CorpusChunk {
  idem: IdemRecord[];
  gateway: GatewayRecord[];
  truth: Array<[string, Truth]>;
}

const POPULAR = [499, 999, 1499, 1999, 2999, 4999, 9999, 19999];
const CURRENCIES: Array<[string, number]> = [
  ['EUR', 0.5],
  ['USD', 0.3],
  ['GBP', 0.15],
  ['JPY', 0.05],
];

/** The corpus one payment (or one pair of twins) at a time, in payment order. */
export function* corpusChunks(options: Partial<CorpusOptions> = {}): Generator<CorpusChunk> {
  const o = { ...DEFAULT_CORPUS, ...options };
  const r = seededRandom(o.seed);
  const f = () => r.float();
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(f() * xs.length)]!;
  const uniform = (a: number, b: number) => a + f() * (b - a);
  const int = (a: number, b: number) => Math.floor(uniform(a, b + 1));
  const currency = () => {
    let x = f();
    for (const [c, p] of CURRENCIES) if ((x -= p) < 0) return c;
    return 'EUR';
  };
  const amountOf = () => (f() < 0.1 ? pick(POPULAR) : Math.round(Math.exp(uniform(Math.log(100), Math.log(200_000)))));
  const merchantOf = () => `mer_${String(int(1, o.merchants)).padStart(3, '0')}`;
  let t = o.startAt;
  let paymentNo = 0;

  while (paymentNo < o.payments) {
    const chunk: CorpusChunk = { idem: [], gateway: [], truth: [] };
    t += Math.round((-Math.log(1 - f()) * 1000) / o.paymentsPerSecond);
    const base = { merchant: merchantOf(), currency: currency(), amount: amountOf(), gateway: pick(o.gateways) };
    const twin = f() < o.twinShare && paymentNo + 1 < o.payments;
    const payment = (at: number) => {
      const pid = newId(r, 'pay');
      paymentNo++;
      const idemOf = (operation: GatewayOperation, amount: number, opAt: number, authorizationId: string | undefined): IdemRecord => {
        const transactionId = newId(r, 'tx', 16);
        const rec: IdemRecord = {
          id: newId(r, 'att'),
          paymentId: pid,
          merchantId: base.merchant,
          gateway: base.gateway,
          operation,
          gatewayKey: gatewayKey(pid, operation, 1),
          amount,
          currency: base.currency,
          at: opAt,
          status: 'succeeded',
          transactionId,
          authorizationId: authorizationId ?? transactionId,
        };
        chunk.idem.push(rec);
        return rec;
      };
      const auth = idemOf('authorize', base.amount, at, undefined);
      const ops = [auth];
      if (f() < 0.8) {
        const amount = f() < 0.9 ? base.amount : Math.max(1, Math.round(base.amount * uniform(0.3, 0.95)));
        const capture = idemOf('capture', amount, at + int(2_000, 20 * 60_000), auth.transactionId);
        ops.push(capture);
        if (f() < 0.1) {
          const refund = f() < 0.7 ? amount : Math.max(1, Math.round(amount * uniform(0.2, 0.9)));
          ops.push(idemOf('refund', refund, capture.at + int(5 * 60_000, 3 * 3_600_000), auth.transactionId));
        }
      } else if (f() < 0.5) ops.push(idemOf('void', base.amount, at + int(60_000, 30 * 60_000), auth.transactionId));
      return { pid, auth, ops };
    };
    const first = payment(t);
    const second = twin ? payment(t + int(0, 20_000)) : undefined;

    // The gateway's log of each operation.
    const emit = (i: IdemRecord, stripped: boolean, keepReference: boolean, truthOf: Partial<Truth> = {}): GatewayRecord[] => {
      const split = SPLIT.has(i.operation) && i.amount >= 200 && f() < o.splitShare;
      const amounts = split ? splitAmount(i.amount, int(2, 3), f) : [i.amount];
      const reference = stripped ? (keepReference ? reformat(i.paymentId, r) : undefined) : i.paymentId;
      const merchantId = stripped && f() < o.merchantLossShare ? undefined : i.merchantId;
      const out: GatewayRecord[] = [];
      for (const part of amounts) {
        let amount = part;
        if (stripped && !split) {
          if (i.operation === 'capture' && f() < o.feeShare) amount -= Math.round(amount * uniform(0.01, 0.03)) + int(0, 30);
          else if (f() < o.fxShare) amount += (f() < 0.5 ? -1 : 1) * int(1, 2);
        }
        const g: GatewayRecord = {
          id: newId(r, 'gwr', 16),
          gateway: i.gateway,
          operation: i.operation,
          status: 'succeeded',
          amount,
          currency: i.currency,
          at: i.at + int(50, 3_000) + (stripped ? Math.round(uniform(-o.skewMs, o.skewMs)) : 0),
        };
        if (!stripped) {
          g.gatewayKey = i.gatewayKey;
          g.transactionId = split ? newId(r, 'tx', 16) : i.transactionId;
          g.authorizationId = i.authorizationId;
        }
        if (reference !== undefined) g.reference = reference;
        if (merchantId !== undefined) g.merchantId = merchantId;
        chunk.gateway.push(g);
        chunk.truth.push([g.id, { idem: i.id, ambiguous: false, stripped, split, ...truthOf }]);
        out.push(g);
      }
      return out;
    };
    const strip = () => f() < o.stripShare;
    for (const p of second ? [first, second] : [first]) {
      for (const op of p.ops) {
        if (op === p.auth && second) continue; // the twins' authorizations below
        if (op.operation === 'capture' && f() < o.idemOnlyShare) continue; // never reached the gateway's log
        const stripped = strip();
        const [g] = emit(op, stripped, !stripped || f() >= o.referenceLossShare);
        if (g && f() < o.duplicateShare) duplicate(g, chunk, r, stripped);
      }
    }
    if (second) {
      // Twins: when both authorizations lost keys and reference, nothing tells them apart.
      const bothBare = f() < 0.5;
      if (bothBare) {
        const merchantKept = f() >= o.merchantLossShare;
        for (const p of [first, second]) {
          const [g] = emit(p.auth, true, false, { ambiguous: true });
          if (merchantKept) g!.merchantId = p.auth.merchantId;
          else delete g!.merchantId;
          g!.amount = p.auth.amount;
        }
      } else {
        emit(first.auth, false, true);
        emit(second.auth, true, false);
      }
    }
    if (f() < o.orphanShare) {
      const g: GatewayRecord = {
        id: newId(r, 'gwr', 16),
        gateway: base.gateway,
        operation: f() < 0.5 ? 'capture' : 'refund',
        status: 'succeeded',
        amount: amountOf(),
        currency: currency(),
        at: t + int(0, 60_000),
        merchantId: merchantOf(),
      };
      if (f() < 0.5) g.reference = newId(r, 'pay');
      chunk.gateway.push(g);
      chunk.truth.push([g.id, { idem: null, ambiguous: false, stripped: true, split: false }]);
    }
    yield chunk;
  }
}

const SPLIT = new Set(['capture', 'refund']);

function splitAmount(total: number, parts: number, f: () => number): number[] {
  const cuts = new Set<number>();
  while (cuts.size < parts - 1) cuts.add(1 + Math.floor(f() * (total - 1)));
  const points = [0, ...[...cuts].sort((a, b) => a - b), total];
  return points.slice(1).map((p, k) => p - points[k]!);
}

/** The gateway logged `g` twice; the copy is keyless. Both keyless: no one can tell which is which. */
function duplicate(g: GatewayRecord, chunk: CorpusChunk, r: Random, originalStripped: boolean): void {
  const copy: GatewayRecord = { ...g, id: newId(r, 'gwr', 16), at: g.at + Math.floor(r.float() * 1000) };
  delete copy.gatewayKey;
  delete copy.transactionId;
  delete copy.authorizationId;
  chunk.gateway.push(copy);
  const original = chunk.truth.find(([id]) => id === g.id)![1];
  if (originalStripped) original.ambiguous = true;
  chunk.truth.push([copy.id, { idem: null, ambiguous: originalStripped, stripped: true, split: false }]);
}

/** How settlement files and people rewrite a payment id. */
function reformat(pid: string, r: Random): string {
  let core = pid.slice(pid.indexOf('_') + 1);
  const variant = Math.floor(r.float() * 5);
  if (variant !== 3 && r.float() < 0.05) {
    const at = Math.floor(r.float() * core.length);
    core = core.slice(0, at) + (core[at] === 'x' ? 'y' : 'x') + core.slice(at + 1);
  }
  switch (variant) {
    case 0:
      return `PAY_${core.toUpperCase()}`;
    case 1:
      return `IDEM-PAY-${core.toUpperCase()}`;
    case 2:
      return `pay${core}`.replace(/(.{4})/g, '$1 ').trim();
    case 3:
      return `REF ${core.toUpperCase().slice(0, 12 + Math.floor(r.float() * 8))}`;
    default:
      return `PAY/${core}`;
  }
}

export interface Corpus {
  idem: IdemRecord[];
  gateway: GatewayRecord[];
  truth: Map<string, Truth>;
}

/** The whole corpus in memory, both sides sorted by time. */
export function corpus(options: Partial<CorpusOptions> = {}): Corpus {
  const out: Corpus = { idem: [], gateway: [], truth: new Map() };
  for (const c of corpusChunks(options)) {
    out.idem.push(...c.idem);
    out.gateway.push(...c.gateway);
    for (const [id, t] of c.truth) out.truth.set(id, t);
  }
  out.idem.sort((a, b) => a.at - b.at);
  out.gateway.sort((a, b) => a.at - b.at);
  return out;
}

/** Matching quality against the truth, per gateway record (docs/reconciliation.md, "Figures"). */
export interface Quality {
  gatewayRecords: number;
  /** Gateway records placed in an automatic match, and how many of those are right. */
  autoMatched: number;
  correct: number;
  precision: number;
  /** Gateway records with a true Idem partner that something can tell: the recall's base. */
  matchable: number;
  recall: number;
  /** The same among records that lost their keys. */
  strippedMatchable: number;
  strippedRecall: number;
  /** Automatic matches of records nothing tells apart (must be 0). */
  tiesAutoMatched: number;
  review: number;
  unmatched: number;
}

export function quality(result: MatchResult, truth: ReadonlyMap<string, Truth>): Quality {
  const q = tally();
  addQuality(q, result, truth);
  return finish(q);
}

export function tally(): Quality {
  return { gatewayRecords: 0, autoMatched: 0, correct: 0, precision: 1, matchable: 0, recall: 1, strippedMatchable: 0, strippedRecall: 1, tiesAutoMatched: 0, review: 0, unmatched: 0 };
}

/** Adds one batch's result to a running tally (call `finish` for the ratios). */
export function addQuality(q: Quality & { strippedCorrect?: number; matchableCorrect?: number }, result: MatchResult, truth: ReadonlyMap<string, Truth>): void {
  const seen = (id: string) => {
    const t = truth.get(id);
    if (!t) throw new Error(`gateway record ${id} has no truth`);
    q.gatewayRecords++;
    if (t.idem !== null && !t.ambiguous) {
      q.matchable++;
      if (t.stripped) q.strippedMatchable++;
    }
    return t;
  };
  for (const m of result.matches) {
    for (const g of m.gateway) {
      const t = seen(g.id);
      q.autoMatched++;
      if (t.ambiguous) q.tiesAutoMatched++;
      if (t.idem === m.idem.id) {
        q.correct++;
        if (!t.ambiguous) {
          q.matchableCorrect = (q.matchableCorrect ?? 0) + 1;
          if (t.stripped) q.strippedCorrect = (q.strippedCorrect ?? 0) + 1;
        }
      }
    }
  }
  for (const rv of result.review) {
    seen(rv.gateway.id);
    q.review++;
  }
  for (const g of result.unmatchedGateway) {
    seen(g.id);
    q.unmatched++;
  }
}

export function finish(q: Quality & { strippedCorrect?: number; matchableCorrect?: number }): Quality {
  return {
    gatewayRecords: q.gatewayRecords,
    autoMatched: q.autoMatched,
    correct: q.correct,
    precision: q.autoMatched === 0 ? 1 : q.correct / q.autoMatched,
    matchable: q.matchable,
    recall: q.matchable === 0 ? 1 : (q.matchableCorrect ?? 0) / q.matchable,
    strippedMatchable: q.strippedMatchable,
    strippedRecall: q.strippedMatchable === 0 ? 1 : (q.strippedCorrect ?? 0) / q.strippedMatchable,
    tiesAutoMatched: q.tiesAutoMatched,
    review: q.review,
    unmatched: q.unmatched,
  };
}
