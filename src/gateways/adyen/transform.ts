/**
 * Pure mapping of Adyen Checkout v71 answers onto the four gateway outcome classes
 * (docs/gateways.md, "Adyen"). The connector only moves bytes; every decision about what an
 * answer *means* is made here, and is tested case by case on `./fixtures.json`.
 */
import type { GatewayOperation, GatewayOutcome } from '../port.js';
import type { HttpExchange } from '../http/transform.js';

export type { HttpExchange };

/**
 * Classifies one exchange with Adyen. Total: it never throws.
 *
 * | answer | class |
 * |---|---|
 * | `/payments` 200 `resultCode` `Authorised` | success (`transactionId` = `authorizationId` = `pspReference`) |
 * | `/payments` 200 `Refused`, `Cancelled`, `Error` | decline, code `refusalReasonCode` / `refusalReason` (`adyen_refused`, …) |
 * | `/payments` 200 `RedirectShopper`, `ChallengeShopper`, `IdentifyShopper`, `PresentToShopper` | decline `adyen_shopper_action_required` (Idem pays server to server with stored tokens) |
 * | `/payments` 200 `Received`, `Pending`, `PartiallyAuthorised`, other | unknown: the AUTHORISATION notification (or reconciliation) tells |
 * | captures / cancels / refunds 201 `status: received` | unknown `adyen_received`: **pending**, settled by the CAPTURE / CANCELLATION / REFUND notification |
 * | 400 (request not accepted), 401, 403 | not processed (`adyen_<errorCode>`) |
 * | 422 (validation refused: e.g. amount over what is left) | decline `adyen_<errorCode>` |
 * | 429 | not processed, `retryAfterMs` from `Retry-After` |
 * | 5xx, other statuses, a 2xx without `pspReference` | unknown |
 * | no answer, not sent (connection refused, DNS) | not processed |
 * | no answer, sent (timeout, reset) | unknown |
 *
 * @example
 * toAdyenOutcome('capture', { kind: 'answer', status: 201, body: { status: 'received', pspReference: 'QF…' } })
 * // → { class: 'unknown', reason: 'adyen_received' }
 */
export function toAdyenOutcome(operation: GatewayOperation, exchange: HttpExchange): GatewayOutcome {
  try {
    return classify(operation, exchange);
  } catch (err) {
    return { class: 'unknown', reason: `unclassifiable answer: ${err instanceof Error ? err.message : 'error'}` };
  }
}

const SHOPPER_ACTIONS = new Set(['RedirectShopper', 'ChallengeShopper', 'IdentifyShopper', 'PresentToShopper']);
const REFUSALS: Record<string, string> = { Refused: 'adyen_refused', Cancelled: 'adyen_cancelled', Error: 'adyen_error' };

function classify(operation: GatewayOperation, exchange: HttpExchange): GatewayOutcome {
  if (exchange === null || typeof exchange !== 'object') return { class: 'unknown', reason: 'no exchange' };
  if (exchange.kind === 'no_answer') {
    const reason = typeof exchange.reason === 'string' && exchange.reason !== '' ? exchange.reason : 'no_answer';
    return exchange.sent === false ? { class: 'not_processed', reason } : { class: 'unknown', reason };
  }
  if (exchange.kind !== 'answer' || typeof exchange.status !== 'number') return { class: 'unknown', reason: 'malformed exchange' };
  const { status, body } = exchange;

  if (status >= 200 && status < 300) {
    const psp = text(body, 'pspReference');
    if (psp === undefined) return { class: 'unknown', reason: `http_${status}_without_pspReference` };
    if (operation !== 'authorize') {
      return text(body, 'status') === 'received' ? { class: 'unknown', reason: 'adyen_received' } : { class: 'unknown', reason: `adyen_status_${text(body, 'status') ?? 'missing'}` };
    }
    const result = text(body, 'resultCode');
    if (result === 'Authorised') return { class: 'success', transactionId: psp, authorizationId: psp };
    if (result !== undefined && REFUSALS[result] !== undefined) {
      const message = text(body, 'refusalReason');
      const declineCode = text(body, 'refusalReasonCode') !== undefined ? `adyen_refusal_${text(body, 'refusalReasonCode')}` : REFUSALS[result]!;
      return message === undefined ? { class: 'decline', declineCode } : { class: 'decline', declineCode, message };
    }
    if (result !== undefined && SHOPPER_ACTIONS.has(result)) return { class: 'decline', declineCode: 'adyen_shopper_action_required', message: result };
    return { class: 'unknown', reason: `adyen_result_${result ?? 'missing'}` };
  }

  const code = `adyen_${text(body, 'errorCode') ?? `http_${status}`}`;
  if (status === 429) {
    const retryAfterMs = retryAfter(exchange.headers);
    return retryAfterMs === undefined ? { class: 'not_processed', reason: code } : { class: 'not_processed', reason: code, retryAfterMs };
  }
  if (status === 400 || status === 401 || status === 403) return { class: 'not_processed', reason: code };
  if (status === 422) {
    const message = text(body, 'message');
    return message === undefined ? { class: 'decline', declineCode: code } : { class: 'decline', declineCode: code, message };
  }
  return { class: 'unknown', reason: status >= 500 ? `http_${status}_${code}` : `http_${status}` };
}

function retryAfter(headers: Record<string, string | string[] | undefined> | undefined): number | undefined {
  if (headers === null || typeof headers !== 'object') return undefined;
  const entry = Object.entries(headers).find(([k]) => k.toLowerCase() === 'retry-after')?.[1];
  const value = Array.isArray(entry) ? entry[0] : entry;
  if (typeof value !== 'string' || !/^\s*\d+(\.\d+)?\s*$/.test(value)) return undefined;
  return Math.round(Number(value) * 1000);
}

function text(body: unknown, name: string): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const v = Object.prototype.hasOwnProperty.call(body, name) ? (body as Record<string, unknown>)[name] : undefined;
  return typeof v === 'string' && v !== '' ? v : undefined;
}
