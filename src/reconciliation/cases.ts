/**
 * What reconciliation writes down for itself and for people (docs/reconciliation.md,
 * "Remediation" and "Cases"): the remediations a gateway must execute, and the cases a person
 * must look at. Plain data; the stores keep them (src/store/sql/reconciliation.ts).
 */

/** Why an authorization is voided: nobody owns it, or its payment owns another one. */
export const REMEDIATION_REASONS = ['duplicate_authorization', 'orphaned_authorization'] as const;
export type RemediationReason = (typeof REMEDIATION_REASONS)[number];

export const REMEDIATION_STATES = ['pending', 'done', 'failed'] as const;
export type RemediationState = (typeof REMEDIATION_STATES)[number];

/** A void reconciliation decided, as a leased, fenced work row. */
export interface RemediationRow {
  id: number;
  gateway: string;
  action: 'void';
  reason: RemediationReason;
  /** Derived from (gateway, authorization): see `remediationKey`. */
  gateway_key: string;
  authorization_id: string;
  /** The gateway record that showed the authorization. */
  record_id: string;
  amount: number;
  currency: string;
  reference: string;
  payment_id: string | null;
  merchant_id: string | null;
  state: RemediationState;
  tries: number;
  fence: number;
  result: string | null;
  created_at: number;
  done_at: number | null;
}

export type NewRemediation = Omit<RemediationRow, 'id' | 'state' | 'tries' | 'fence' | 'result' | 'done_at'> & { run_after: number };

/**
 * Case classes, and the team each goes to:
 * - `unrequested_operation` (support): the gateway executed an operation Idem never asked for
 *   (e.g. a capture made in the gateway's dashboard); adopted where the state machine allows;
 * - `contradiction` (support): the gateway's result contradicts Idem's and cannot be adopted
 *   (a success where Idem recorded a decline, an operation Idem's state cannot take);
 * - `remediation_failed` (support): the gateway refused a remediation (e.g. the authorization
 *   was captured before the void);
 * - `amount_mismatch`, `currency_mismatch` (settlement): the gateway executed Idem's operation
 *   for another amount or currency;
 * - `missing_at_gateway` (settlement): Idem recorded a success the gateway's log still does
 *   not show after the settlement window;
 * - `match_review` (support): a gateway record that lost its keys, which the scored matcher
 *   could not tie to one of Idem's operations with the precision asked (a tie, a low score), or
 *   tied to one whose state the gateway's record would change (a void, an adoption): a person
 *   decides, with the candidates and their evidence; nothing is done on a guess.
 */
export const CASE_CLASSES = [
  'unrequested_operation',
  'contradiction',
  'remediation_failed',
  'amount_mismatch',
  'currency_mismatch',
  'missing_at_gateway',
  'match_review',
] as const;
export type CaseClass = (typeof CASE_CLASSES)[number];

export const CASE_TEAMS = ['support', 'settlement'] as const;
export type CaseTeam = (typeof CASE_TEAMS)[number];

/** The team a class of case goes to. */
export function teamFor(c: CaseClass): CaseTeam {
  return c === 'amount_mismatch' || c === 'currency_mismatch' || c === 'missing_at_gateway' ? 'settlement' : 'support';
}

export const CASE_STATUSES = ['open', 'resolved'] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];

/** One case, with the records on both sides and what was done. */
export interface CaseRow {
  id: string;
  /** Opening the same case twice is a no-op: the same finding always has the same key. */
  dedupe_key: string;
  /** Null when no merchant owns the records (an orphan): visible to the operator only. */
  merchant_id: string | null;
  payment_id: string | null;
  gateway: string;
  class: CaseClass;
  team: CaseTeam;
  status: CaseStatus;
  /** The gateway record(s), Idem's record(s) and the match evidence. */
  evidence: Record<string, unknown>;
  /** What reconciliation did about it: `adopted`, `none`, `void_refused`, … */
  action: string;
  action_result: string | null;
  resolution: string | null;
  opened_at: number;
  resolved_at: number | null;
}

export type NewCase = Omit<CaseRow, 'status' | 'resolution' | 'resolved_at'>;

/**
 * The gateway key of the void that remediates one authorization: one per (gateway,
 * authorization), whoever decides it and however often, so the gateway executes it once.
 *
 * @example remediationKey('sim-a', 'auth_x') === 'recon.void.sim-a.auth_x'
 */
export function remediationKey(gateway: string, authorizationId: string): string {
  return `${REMEDIATION_KEY_PREFIX}${gateway}.${authorizationId}`;
}

/** Every remediation's gateway key starts with this; no attempt's key does (`pay_….op.n`). */
export const REMEDIATION_KEY_PREFIX = 'recon.void.';
