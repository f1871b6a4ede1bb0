/**
 * Pure mapping of a simulator-style HTTP exchange onto the four gateway outcome classes. The
 * connectors only move bytes; every decision about what an answer *means* is made here, and is
 * tested against recorded fixtures in `./fixtures/`.
 */
import type { GatewayOperationStatus, GatewayOutcome, StatusUnknown } from '../port.js';

/**
 * What happened on the wire for one request.
 *
 * - `answer`: a status line arrived (the body is parsed JSON, or the raw text if it wasn't JSON).
 * - `no_answer`: no status line. `sent` says whether the request may have reached the gateway:
 *   `false` only when it certainly did not (connection refused, DNS failure, aborted before
 *   sending); a timeout or a reset after connecting is `sent: true`.
 */
export type HttpExchange =
  | { kind: 'answer'; status: number; headers?: Record<string, string | string[] | undefined>; body: unknown }
  | { kind: 'no_answer'; sent: boolean; reason: string };

/** What a status lookup answered, in the connector port's terms. */
export type OperationStatusResult = GatewayOperationStatus | StatusUnknown;

/**
 * Classifies one exchange. Total: it never throws, whatever the status, headers or body.
 *
 * | answer | class |
 * |---|---|
 * | 200/201 with a string `id` | success (`transactionId` = `id`, `authorizationId` = `authorization_id`) |
 * | 402, 409, 422, other 4xx except below | decline, code from `decline_code`, else `error`, else `http_<status>` |
 * | 401, 403, 408, 425, 429 | not_processed (the gateway did nothing; another attempt may work) |
 * | 503 whose body says `processed: false` | not_processed, `retryAfterMs` from `Retry-After` |
 * | any other status (5xx, 1xx, 3xx, 2xx without an id) | unknown |
 * | no answer, not sent | not_processed |
 * | no answer, sent (timeout, reset) | unknown |
 *
 * @example
 * toOutcome({ kind: 'answer', status: 402, body: { error: 'declined', decline_code: 'insufficient_funds' } })
 * // → { class: 'decline', declineCode: 'insufficient_funds' }
 */
export function toOutcome(exchange: HttpExchange): GatewayOutcome {
  try {
    return classify(exchange);
  } catch (err) {
    // Only reachable with hostile inputs (a throwing getter or proxy); "unknown" is the one
    // class that never lets the core act as if it knew.
    return { class: 'unknown', reason: `unclassifiable answer: ${describe(err)}` };
  }
}

/**
 * Classifies the answer to `GET /v1/operations/:gatewayKey`. A 404 `{ error: 'not_found' }`
 * means the gateway never processed the key; a stored success or decline is `found: true`;
 * anything else (outage, timeout, 500) leaves it unknown, `refused` when the answer was one
 * that says the gateway did nothing (outage, 429, connection refused).
 */
export function toOperationStatus(exchange: HttpExchange): OperationStatusResult {
  try {
    if (exchange.kind === 'answer' && exchange.status === 404 && field(exchange.body, 'error') === 'not_found') {
      return { found: false };
    }
    const outcome = classify(exchange);
    if (outcome.class === 'success' || outcome.class === 'decline') return { found: true, outcome };
    return outcome.class === 'not_processed' ? { found: 'unknown', reason: outcome.reason, refused: true } : { found: 'unknown', reason: outcome.reason };
  } catch (err) {
    return { found: 'unknown', reason: `unclassifiable answer: ${describe(err)}` };
  }
}

function classify(exchange: HttpExchange): GatewayOutcome {
  if (exchange === null || typeof exchange !== 'object') return { class: 'unknown', reason: 'no exchange' };
  if (exchange.kind === 'no_answer') {
    const reason = typeof exchange.reason === 'string' && exchange.reason !== '' ? exchange.reason : 'no_answer';
    return exchange.sent === false ? { class: 'not_processed', reason } : { class: 'unknown', reason };
  }
  if (exchange.kind !== 'answer') return { class: 'unknown', reason: 'malformed exchange' };

  const { status, body } = exchange;
  if (typeof status !== 'number' || !Number.isInteger(status)) return { class: 'unknown', reason: 'malformed status' };

  if (status === 200 || status === 201) {
    const id = field(body, 'id');
    if (typeof id !== 'string' || id === '') return { class: 'unknown', reason: `http_${status}_without_id` };
    const authorizationId = field(body, 'authorization_id');
    return typeof authorizationId === 'string' && authorizationId !== ''
      ? { class: 'success', transactionId: id, authorizationId }
      : { class: 'success', transactionId: id };
  }

  if (status === 429 || status === 401 || status === 403 || status === 408 || status === 425) {
    return withRetryAfter({ class: 'not_processed', reason: errorCode(body) ?? `http_${status}` }, exchange.headers);
  }
  if (status === 503 && field(body, 'processed') === false) {
    return withRetryAfter({ class: 'not_processed', reason: errorCode(body) ?? 'http_503' }, exchange.headers);
  }

  if (status >= 400 && status < 500) {
    const declineCode = stringField(body, 'decline_code') ?? errorCode(body) ?? `http_${status}`;
    const message = stringField(body, 'message');
    return message === undefined ? { class: 'decline', declineCode } : { class: 'decline', declineCode, message };
  }

  return { class: 'unknown', reason: errorCode(body) === undefined ? `http_${status}` : `http_${status}_${errorCode(body)}` };
}

function withRetryAfter(
  outcome: { class: 'not_processed'; reason: string },
  headers: Record<string, string | string[] | undefined> | undefined,
): GatewayOutcome {
  const retryAfterMs = parseRetryAfter(header(headers, 'retry-after'));
  return retryAfterMs === undefined ? outcome : { ...outcome, retryAfterMs };
}

/** `Retry-After` in delay-seconds form; an HTTP-date needs a clock, so it is left to the caller. */
function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d+(\.\d+)?\s*$/.test(value)) return undefined;
  const ms = Math.round(Number(value) * 1000);
  return Number.isFinite(ms) ? ms : undefined;
}

function header(headers: Record<string, string | string[] | undefined> | undefined, name: string): string | undefined {
  if (headers === null || typeof headers !== 'object') return undefined;
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== name) continue;
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  }
  return undefined;
}

function field(body: unknown, name: string): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  return Object.prototype.hasOwnProperty.call(body, name) ? (body as Record<string, unknown>)[name] : undefined;
}

function stringField(body: unknown, name: string): string | undefined {
  const v = field(body, name);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function errorCode(body: unknown): string | undefined {
  return stringField(body, 'error');
}

function describe(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'error';
  }
}
