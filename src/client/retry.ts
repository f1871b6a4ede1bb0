/**
 * When the client sends a request again, and how long it waits first (docs/client.md, "Retries").
 * The contract is the server's backoff (docs/payments.md, "Backoff"): capped exponential delay,
 * spread by jitter, never shorter than the other side's `Retry-After`. The code is the client's
 * own, so `idem/client` depends on nothing of the server.
 */

/** What the client does with one answer (or failure to get one). */
export type Verdict = 'final' | 'retry';

/**
 * The rule, for one HTTP answer: a connection error, a 5xx, a 202 while the operation is still
 * `processing` and a 409 `IDEM_IN_PROGRESS` are sent again with the same key; every other
 * answer — every other 4xx included — is final.
 *
 * @param pendingOn202 the route answers 202 while an outcome is unknown (the payment POSTs);
 *   elsewhere a 202 is the final answer (a webhook replay was queued).
 */
export function verdictOf(status: number, code: string | undefined, pendingOn202: boolean): Verdict {
  if (status >= 500) return 'retry';
  if (status === 202 && pendingOn202) return 'retry';
  if (status === 409 && code === 'IDEM_IN_PROGRESS') return 'retry';
  return 'final';
}

export interface RetryOptions {
  /** Requests sent at most per call, the first included (default 10). `Infinity`: until `deadlineMs`. */
  maxAttempts?: number;
  /** No retry starts later than this after the call began (default 60 s). */
  deadlineMs?: number;
  /** The wait before the first retry (default 100 ms); doubles each retry. */
  baseMs?: number;
  /** No wait grows past this before jitter (default 5 s); a `Retry-After` may ask for more. */
  capMs?: number;
}

export const defaultRetry: Required<RetryOptions> = { maxAttempts: 10, deadlineMs: 60_000, baseMs: 100, capMs: 5_000 };

/**
 * The wait before retry number `retry` + 1 (`retry` = retries already made, from 0): "equal"
 * jitter over `min(capMs, baseMs × 2^retry)` — half of it, plus a uniform share of the other
 * half — and never less than `retryAfterMs`. `random` is in [0, 1).
 */
export function backoffMs(o: Required<RetryOptions>, retry: number, random: number, retryAfterMs = 0): number {
  const exp = Math.min(o.capMs, o.baseMs * 2 ** Math.max(0, retry));
  return Math.max(retryAfterMs, Math.floor(exp / 2 + random * (exp / 2)));
}

/**
 * `Retry-After` in milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); 0 when
 * absent or unreadable, never negative.
 */
export function retryAfterMs(header: string | null, nowMs: number): number {
  if (header === null) return 0;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : 0;
}
