import type { GatewayRecord } from '../reconciliation/records.js';

/**
 * The gateway connector port. A connector moves bytes to one payment processor and maps every
 * answer onto one of four outcome classes (docs/payments.md, "The pipeline") in a pure
 * transformer; the core decides what to do next from the class alone.
 */

import type { TransactionMetadata } from '../events/metadata.js';

import type { GatewayOperation } from './operations.js';

export { GATEWAY_OPERATIONS, type GatewayOperation } from './operations.js';

export interface GatewayRequest {
  operation: GatewayOperation;
  /** Derived deterministically from (payment id, operation, attempt number): see `gatewayKey`. */
  gatewayKey: string;
  amount: number;
  currency: string;
  /** Idem's payment id. */
  reference: string;
  /** The gateway's own id for the authorization, for capture / void / refund. */
  authorizationId?: string;
  /** The card token (`tok_…`), for authorize. */
  token?: string;
}

/**
 * - `success`: approved; `transactionId` is the gateway's id for this operation.
 * - `decline`: definitive business refusal; never retried, never failed over.
 * - `not_processed`: the gateway did nothing (refused before sending, 429, 503 that says so);
 *   safe to retry or fail over as a new attempt.
 * - `unknown`: it may or may not have happened (timeout, reset after sending, ambiguous 5xx);
 *   only re-send with the same gateway key or query status; never fail over.
 */
export type GatewayOutcome =
  | { class: 'success'; transactionId: string; authorizationId?: string }
  | { class: 'decline'; declineCode: string; message?: string }
  | { class: 'not_processed'; reason: string; retryAfterMs?: number }
  | { class: 'unknown'; reason: string };

/** What a gateway reports about an operation it was asked for, by gateway key. */
export type GatewayOperationStatus =
  | { found: false }
  | { found: true; outcome: GatewayOutcome };

/**
 * A lookup that could not tell. `refused`: the gateway said it serves nothing now (a 503 that
 * says it did nothing, 429, connection refused), as opposed to going silent or answering
 * something unclassifiable.
 */
export interface StatusUnknown {
  found: 'unknown';
  reason: string;
  refused?: true;
}

/**
 * Who is calling and why, for the gateway's logs and traces (docs/metadata.md): a connector
 * that speaks HTTP sends it as headers; one that cannot ignores it.
 */
export interface GatewayCallContext {
  /** The attempt's standard transaction metadata. */
  metadata: TransactionMetadata;
  /** W3C `traceparent` of the attempt's span (or of the client's, when Idem does not trace). */
  traceparent?: string | undefined;
}

/**
 * One page of a gateway's transaction log (docs/reconciliation.md, "Gateway logs"). Each entry
 * the gateway sent is either a valid record or rejected with the reason; a page that could not
 * be read at all (down, garbage, a cursor that went backwards) is `ok: false`.
 */
export type TransactionLogPage =
  | {
      ok: true;
      records: Array<{ record: GatewayRecord; raw: unknown }>;
      rejected: Array<{ raw: unknown; reason: string }>;
      /** Where the next page starts; pass it back as `cursor`. */
      nextCursor: string | null;
      hasMore: boolean;
    }
  | { ok: false; reason: string };

export interface GatewayConnector {
  readonly name: string;
  execute(request: GatewayRequest, signal?: AbortSignal, context?: GatewayCallContext): Promise<GatewayOutcome>;
  /** Looks an operation up by its gateway key; `unknown` if the gateway can't tell now. */
  status(gatewayKey: string, signal?: AbortSignal, context?: GatewayCallContext): Promise<GatewayOperationStatus | StatusUnknown>;
  /**
   * Reads the gateway's transaction log incrementally: from `cursor` when given (a cursor this
   * method returned), else from the records executed at or after `sinceMs`; at most `limit`.
   * A connector without it cannot be reconciled.
   */
  transactions?(sinceMs: number, cursor: string | null, limit: number, signal?: AbortSignal): Promise<TransactionLogPage>;
}

/**
 * The gateway idempotency key for one attempt: the same (payment, operation, attempt) always
 * yields the same key, so a re-send after a crash or timeout is deduplicated by the gateway.
 *
 * @example gatewayKey('pay_abc', 'capture', 2) === 'pay_abc.capture.2'
 */
export function gatewayKey(paymentId: string, operation: GatewayOperation, attemptNo: number): string {
  return `${paymentId}.${operation}.${attemptNo}`;
}
