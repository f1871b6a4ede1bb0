/**
 * The two sides reconciliation compares (docs/reconciliation.md), as plain data: what a gateway
 * says it executed, and what Idem says it asked for. Amounts in integer minor units.
 */
import type { GatewayOperation } from '../gateways/operations.js';

/** One record from a gateway's own log (fetched incrementally and staged with its own id). */
export interface GatewayRecord {
  /** The gateway's id for this record (unique per gateway). */
  id: string;
  gateway: string;
  operation: GatewayOperation;
  status: 'succeeded' | 'declined';
  amount: number;
  currency: string;
  /** When the gateway executed it (ms since the epoch). */
  at: number;
  /** The gateway idempotency key Idem sent, when the record still carries it. */
  gatewayKey?: string;
  /** The gateway's transaction / authorization id this record refers to, when present. */
  transactionId?: string;
  authorizationId?: string;
  /** Free-form reference as the gateway reports it (Idem sends its payment id). */
  reference?: string;
  merchantId?: string;
}

/** One gateway operation Idem asked for: an attempt, with what Idem knows of its result. */
export interface IdemRecord {
  /** The attempt id. */
  id: string;
  paymentId: string;
  merchantId: string;
  gateway: string;
  operation: GatewayOperation;
  gatewayKey: string;
  amount: number;
  currency: string;
  /** When Idem sent it (ms since the epoch). */
  at: number;
  /** The attempt's status in Idem. */
  status: string;
  transactionId?: string;
  authorizationId?: string;
}

/** Why a pair was matched: the rule that matched or each feature's contribution to the score. */
export interface MatchEvidence {
  rule: 'gateway_key' | 'transaction_id' | 'authorization_id' | 'scored';
  /** Calibrated probability that the pair is the same operation (1 for an exact rule). */
  probability: number;
  /** Per feature: its observed value and its log-likelihood-ratio weight. */
  features?: Record<string, { value: number | string; weight: number }>;
  /**
   * Scored matches: how much better, in log-odds, the chosen assignment is than the best one
   * without this pair (docs/reconciliation.md, "Review rules").
   */
  margin?: number;
}

export interface Match {
  /** One Idem record to one or more gateway records (several for split captures/refunds). */
  idem: IdemRecord;
  gateway: GatewayRecord[];
  evidence: MatchEvidence;
}

export interface MatchResult {
  matches: Match[];
  /** Candidates too close to call or scored too low: a person decides, nothing is guessed. */
  review: { gateway: GatewayRecord; candidates: { idem: IdemRecord; evidence: MatchEvidence }[] }[];
  unmatchedGateway: GatewayRecord[];
  unmatchedIdem: IdemRecord[];
}

/** Matches one window of gateway records against Idem's records of the same window. */
export interface Matcher {
  readonly name: string;
  match(idem: readonly IdemRecord[], gateway: readonly GatewayRecord[]): MatchResult;
}
