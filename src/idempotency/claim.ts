import type { TransactionMetadata } from '../events/metadata.js';
import type { Span } from '../ports/tracing.js';
import type { ClaimTx, FenceWrite, KeyRequest, StoredResponse } from './store.js';

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
 * created (when it resumes one), and the fenced writes it makes inside its own transactions.
 */
export interface Claim {
  readonly merchantId: string;
  readonly key: string;
  /** The key's fence; when the claim was left to the first write ({@link Claim.open}), known once it has committed. */
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
   * The first write of the resource, which checks the key itself in one statement
   * (`PaymentRounds.openPayment`). `write` gets the key as {@link OpeningKey}: fenced, or — when
   * the gate left the claim to this write (docs/idempotency.md, claim step 5; `ExecuteOptions.claimInFirstWrite`) — the
   * request to claim a new key for. Its null answer means the fence was lost (this throws as
   * `guard` would) or the key already had a row (the gate then claims it the usual way). Make it
   * before any other write of the claim: until it commits, a deferred claim has no fence.
   */
  open<T extends { fence: number }>(write: (key: OpeningKey) => Promise<T | null>): Promise<T>;
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
 * A key the first write claims itself (docs/idempotency.md, claim step 5): a new row for `claim`, in progress with a new
 * fence, its lease until `now + leaseMs`; nothing is written when the key has a row already.
 */
export interface ClaimingKey {
  merchantId: string;
  key: string;
  claim: KeyRequest;
  now: number;
  leaseMs: number;
}

/** The key a first write ({@link Claim.open}) writes under. */
export type OpeningKey = FencedKey | ClaimingKey;

/**
 * - `final`: `claim.complete` ran in a committed transaction; every later request replays it.
 * - `pending`: the outcome is not known yet (a gateway timeout): answered now (202), not
 *   stored; the key stays in progress with its lease ended so a retry or recovery resumes it.
 */
export type OperationResult = { kind: 'final'; response: StoredResponse } | { kind: 'pending'; response: StoredResponse };

export type Operation = (claim: Claim) => Promise<OperationResult>;
