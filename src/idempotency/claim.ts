import type { TransactionMetadata } from '../events/metadata.js';
import type { Span } from '../ports/tracing.js';
import type { ClaimTx, FenceWrite, StoredResponse } from './store.js';

/*
 * What an operation behind the gate (./gate.ts) is handed and answers: the claim on its
 * Idempotency-Key with the fenced writes it makes, and its result.
 */

/**
 * What the core knows of the request it serves (docs/metadata.md): the standard metadata so
 * far — one object for the request, which the pipeline completes (`payment_id`) so that the
 * request's last log line carries it — and the span its work hangs under.
 */
export interface RequestContext {
  readonly metadata: TransactionMetadata;
  readonly span: Span;
}

/**
 * What an operation behind the gate gets: its fence, the resource an earlier owner already
 * created (when it resumes one), and the three fenced writes it makes inside its own
 * transactions.
 */
export interface Claim {
  readonly merchantId: string;
  readonly key: string;
  readonly fence: number;
  /** Set when an earlier execution of this key got as far as creating its resource. */
  readonly resourceId: string | null;
  /** Aborted when the lease is lost to a takeover; the work should stop. */
  readonly signal: AbortSignal;
  /** The request being served, for logs, spans and gateway headers; absent: none known. */
  readonly context?: RequestContext;
  /** Locks the key row, checks the fence, renews the lease. Call first in each transaction. */
  guard(tx: ClaimTx): Promise<void>;
  /** Records the resource this execution created, so a takeover resumes it. */
  bindResource(tx: ClaimTx, resourceId: string): Promise<void>;
  /** Stores the final response in the transaction that makes the final business change. */
  complete(tx: ClaimTx, response: StoredResponse): Promise<void>;
  /**
   * `guard` as a write of a round's plan, taken now (src/payments/round.ts); null when the
   * fence can't be checked inside one statement with the round's writes (a detached claim's
   * fence is the outbox row the round closes): its rounds are transactions that call `guard`.
   */
  guardWrite(): FenceWrite | null;
  /** `complete` as a write of a round's plan; null when the claim stores no response. */
  completeWrite(response: StoredResponse): FenceWrite | null;
  /**
   * For a write that checks the fence itself, in one statement (`PaymentRounds.openPayment`): `write`
   * gets the key's fence and the lease to renew; its null answer means the fence was lost,
   * and this throws as `guard` would.
   */
  fenced<T>(write: (key: FencedKey) => Promise<T | null>): Promise<T>;
}

/** What a self-fencing write needs of the claim: the key, its fence, and the lease to renew. */
export interface FencedKey {
  merchantId: string;
  key: string;
  fence: number;
  now: number;
  leaseMs: number;
}

/**
 * - `final`: `claim.complete` ran in a committed transaction; every later request replays it.
 * - `pending`: the outcome is not known yet (a gateway timeout): answered now (202), not
 *   stored; the key stays in progress with its lease ended so a retry or recovery resumes it.
 */
export type OperationResult = { kind: 'final'; response: StoredResponse } | { kind: 'pending'; response: StoredResponse };

export type Operation = (claim: Claim) => Promise<OperationResult>;
