/**
 * The one pure mapping from what Stripe (through the official `stripe` library) answered to
 * Idem's four outcome classes. The table is in docs/gateways.md ("Stripe: outcome table") and
 * `transform.test.ts` checks it case by case on Stripe's own example objects. The connector only
 * calls the library and hands the resolved object or the thrown error here.
 */
import type { GatewayOperation, GatewayOperationStatus, GatewayOutcome, StatusUnknown } from '../port.js';

/** What one library call gave: the object it resolved with, or what it threw. */
export type StripeAnswer = { kind: 'object'; object: unknown } | { kind: 'error'; error: unknown };

/** Connection failures that prove the request never left: nothing can have run at Stripe. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENETDOWN']);

/** Marks a reason that means Idem itself is wrong (the connector reports it loudly). */
export const BUG_PREFIX = 'bug: ';

/**
 * Classifies one answer to `operation`. Total: never throws.
 *
 * @example
 * toStripeOutcome('authorize', { kind: 'error', error: { statusCode: 402, rawType: 'card_error', decline_code: 'insufficient_funds' } })
 * // → { class: 'decline', declineCode: 'insufficient_funds' }
 */
export function toStripeOutcome(operation: GatewayOperation, answer: StripeAnswer): GatewayOutcome {
  try {
    return answer.kind === 'object' ? fromObject(operation, answer.object) : fromError(answer.error);
  } catch (err) {
    return { class: 'unknown', reason: `unclassifiable Stripe answer: ${err instanceof Error ? err.message : 'error'}` };
  }
}

/**
 * What a lookup found, as the port's status: the object the operation left behind (a
 * PaymentIntent, or the Refund made under the key), `null` when Stripe holds nothing for the
 * key, or the error the lookup itself got (`refused` when that error proves Stripe served
 * nothing: down, 429, connection refused).
 */
export function toStripeStatus(operation: GatewayOperation, found: StripeAnswer | null): GatewayOperationStatus | StatusUnknown {
  if (found === null) return { found: false };
  const outcome = toStripeOutcome(operation, found);
  if (found.kind === 'object') {
    // A PaymentIntent still waiting for what this operation would have done: it did not happen.
    if (outcome.class === 'unknown' && stillBefore(operation, found.object)) return { found: false };
    return outcome.class === 'success' || outcome.class === 'decline' ? { found: true, outcome } : { found: 'unknown', reason: outcome.reason };
  }
  if (outcome.class === 'not_processed') return { found: 'unknown', reason: outcome.reason, refused: true };
  return { found: 'unknown', reason: `lookup failed: ${describeOutcome(outcome)}` };
}

/** One line for an outcome, for reasons and logs. */
export function describeOutcome(outcome: GatewayOutcome): string {
  switch (outcome.class) {
    case 'success':
      return `success ${outcome.transactionId}`;
    case 'decline':
      return outcome.declineCode;
    default:
      return outcome.reason;
  }
}

function fromObject(operation: GatewayOperation, object: unknown): GatewayOutcome {
  const kind = str(object, 'object');
  const id = str(object, 'id');
  if (id === undefined) return { class: 'unknown', reason: 'stripe answer without an id' };
  if (operation === 'refund') {
    if (kind !== 'refund') return { class: 'unknown', reason: `refund answered with a ${kind ?? 'nameless'} object` };
    const status = str(object, 'status');
    const paymentIntent = str(object, 'payment_intent');
    if (status === 'succeeded' || status === 'pending') {
      return paymentIntent === undefined ? { class: 'success', transactionId: id } : { class: 'success', transactionId: id, authorizationId: paymentIntent };
    }
    if (status === 'failed' || status === 'canceled') return { class: 'decline', declineCode: str(object, 'failure_reason') ?? `refund_${status}` };
    return { class: 'unknown', reason: `refund ${status ?? 'without a status'}` };
  }
  if (kind !== 'payment_intent') return { class: 'unknown', reason: `${operation} answered with a ${kind ?? 'nameless'} object` };
  const status = str(object, 'status');
  const charge = chargeId(object);
  // The authorization is the PaymentIntent; a capture is its Charge (what a balance transaction
  // names, docs/gateways.md "Stripe: reconciliation"), so the two never share a transaction id.
  const success: GatewayOutcome = { class: 'success', transactionId: id, authorizationId: id };
  switch (operation) {
    case 'authorize':
      if (status === 'requires_capture' || status === 'succeeded') return success;
      // Canceled after it was authorized (a void came later): the authorization did happen.
      if (status === 'canceled' && charge !== undefined) return success;
      if (status === 'requires_payment_method' || status === 'canceled') {
        const error = field(object, 'last_payment_error');
        const code = str(error, 'decline_code') ?? str(error, 'code') ?? (status === 'canceled' ? 'canceled' : undefined);
        if (code !== undefined) return withMessage({ class: 'decline', declineCode: code }, str(error, 'message'));
      }
      if (status === 'requires_action') return { class: 'decline', declineCode: 'authentication_required', message: 'the card asks for customer authentication, which a server-side authorization cannot give' };
      return { class: 'unknown', reason: `payment_intent ${status ?? 'without a status'}` };
    case 'capture':
      return status === 'succeeded' ? { class: 'success', transactionId: charge ?? id, authorizationId: id } : { class: 'unknown', reason: `capture left the payment_intent ${status ?? 'without a status'}` };
    case 'void':
      return status === 'canceled' ? { class: 'success', transactionId: id, authorizationId: id } : { class: 'unknown', reason: `cancel left the payment_intent ${status ?? 'without a status'}` };
  }
}

function fromError(error: unknown): GatewayOutcome {
  const type = str(error, 'type');
  const rawType = str(error, 'rawType') ?? str(error, 'type');
  const statusCode = num(error, 'statusCode');
  const code = str(error, 'code');
  const message = str(error, 'message');
  if (type === 'StripeConnectionError' || (statusCode === undefined && rawType === undefined)) {
    const cause = connectionCode(field(error, 'detail')) ?? connectionCode(error);
    if (cause !== undefined && NOT_SENT_CODES.has(cause)) return { class: 'not_processed', reason: `stripe_unreachable_${cause}` };
    return { class: 'unknown', reason: cause === undefined ? 'stripe_connection_error' : `stripe_connection_error_${cause}` };
  }
  if (statusCode === 429 || rawType === 'rate_limit_error' || code === 'rate_limit' || code === 'lock_timeout') {
    const retryAfterMs = parseRetryAfter(header(field(error, 'headers'), 'retry-after'));
    const reason = code ?? 'rate_limit';
    return retryAfterMs === undefined ? { class: 'not_processed', reason } : { class: 'not_processed', reason, retryAfterMs };
  }
  if (rawType === 'idempotency_error') {
    // The key already ran with other parameters: Idem derived one key for two different requests.
    return { class: 'unknown', reason: `${BUG_PREFIX}stripe idempotency_error: the gateway key was sent before with other parameters${message ? ` (${message})` : ''}` };
  }
  if (statusCode === 409) return { class: 'unknown', reason: `stripe_409_${code ?? 'conflict'}: a request under this key is still running` };
  if (statusCode === 401 || statusCode === 403 || rawType === 'authentication_error') return { class: 'not_processed', reason: `stripe_${statusCode ?? 401}_${code ?? rawType ?? 'refused'}` };
  if (rawType === 'card_error' || statusCode === 402) {
    return withMessage({ class: 'decline', declineCode: str(error, 'decline_code') || code || 'card_declined' }, message);
  }
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return withMessage({ class: 'decline', declineCode: code ?? `http_${statusCode}` }, message);
  }
  // 5xx (`api_error`): Stripe saves it under the key, so a re-send replays it and cannot tell
  // whether the operation ran; only a lookup of what Stripe holds can.
  return { class: 'unknown', reason: `stripe_${statusCode ?? 'error'}_${rawType ?? 'api_error'} (saved under the key; resolved by lookup)` };
}

/** The PaymentIntent shows this operation has not happened (yet), so the key never ran. */
function stillBefore(operation: GatewayOperation, object: unknown): boolean {
  const status = str(object, 'status');
  if (operation === 'capture' || operation === 'void') return status === 'requires_capture';
  return false;
}

function chargeId(object: unknown): string | undefined {
  const latest = field(object, 'latest_charge');
  return typeof latest === 'string' && latest !== '' ? latest : str(latest, 'id');
}

function withMessage<T extends { class: 'decline'; declineCode: string }>(outcome: T, message: string | undefined): T & { message?: string } {
  return message === undefined ? outcome : { ...outcome, message };
}

function connectionCode(detail: unknown): string | undefined {
  const seen = new Set<unknown>();
  let current = detail;
  while (current !== null && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const inner = (current as { errors?: unknown }).errors;
    if (Array.isArray(inner) && inner.length > 0) return connectionCode(inner[0]);
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d+(\.\d+)?\s*$/.test(value)) return undefined;
  return Math.round(Number(value) * 1000);
}

function header(headers: unknown, name: string): string | undefined {
  if (headers === null || typeof headers !== 'object') return undefined;
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
    if (k.toLowerCase() !== name) continue;
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  }
  return undefined;
}

function field(o: unknown, name: string): unknown {
  return o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[name] : undefined;
}

function str(o: unknown, name: string): string | undefined {
  const v = field(o, name);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function num(o: unknown, name: string): number | undefined {
  const v = field(o, name);
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}
