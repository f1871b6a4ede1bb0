/**
 * The standard transaction metadata (docs/metadata.md) as the payment pipeline knows it: what a
 * request adds to the events it writes, and the whole set for one gateway attempt.
 */
import { pickMetadata, type TransactionMetadata } from '../events/metadata.js';
import type { Claim } from '../idempotency/claim.js';
import type { AttemptRow } from './rows.js';

/**
 * What a request adds to the metadata of the events it writes (docs/metadata.md): the fields
 * the payment, attempt and key do not know.
 */
export type RequestMetadata = Pick<TransactionMetadata, 'request_id' | 'trace_id'> & {
  /** The request's span, kept on `attempt.started` so a recovery links to its trace. */
  traceparent?: string;
};

/** The caller's metadata, completed from the request context the gate carries (docs/metadata.md). */
export function requestMetadata(claim: Claim, meta: RequestMetadata): RequestMetadata {
  const c = claim.context;
  if (!c) return meta;
  const out: RequestMetadata = { ...meta };
  const requestId = meta.request_id ?? c.metadata.request_id;
  const traceId = meta.trace_id ?? c.metadata.trace_id ?? c.span.traceId;
  if (requestId) out.request_id = requestId;
  if (traceId) out.trace_id = traceId;
  if (c.span.traceparent) out.traceparent = c.span.traceparent;
  return out;
}

/** The standard metadata of one attempt (docs/metadata.md), in the documented order. */
export function attemptMetadata(merchantId: string, claim: Claim, attempt: AttemptRow): TransactionMetadata {
  const request = claim.context?.metadata;
  return pickMetadata({
    merchant_id: merchantId,
    payment_id: attempt.payment_id,
    idempotency_key: attempt.idempotency_key ?? (claim.key || undefined),
    request_id: request?.request_id,
    attempt_id: attempt.id,
    attempt_no: attempt.attempt_no,
    operation: attempt.operation,
    gateway: attempt.gateway,
    gateway_key: attempt.gateway_key,
    trace_id: request?.trace_id ?? claim.context?.span.traceId,
  });
}
