/**
 * What a call can fail with (docs/client.md, "Errors"). Branch on `code` — the stable error code
 * of docs/errors.md, typed from the server's registry at build time — never on the message.
 */
import { errorStatuses, type IdemErrorCode } from './generated/errorCodes.js';
import type { CallMeta } from './meta.js';

export { errorStatuses, type IdemErrorCode };

/** The RFC 9457 problem document Idem answers errors with. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: IdemErrorCode;
  [extension: string]: unknown;
}

/** Every error the client throws. `meta` says what was sent: key, attempts, last Request-Id. */
export class IdemClientError extends Error {
  override name = 'IdemClientError';
  constructor(
    message: string,
    readonly meta: CallMeta,
  ) {
    super(message);
  }
}

/** A final answer that is not a success: a 4xx (or a 5xx once retries ran out), with its problem. */
export class IdemApiError extends IdemClientError {
  override name = 'IdemApiError';
  readonly status: number;
  readonly code: IdemErrorCode | 'UNKNOWN';
  readonly problem: Problem | null;
  constructor(status: number, problem: Problem | null, meta: CallMeta) {
    super(`${status} ${problem?.code ?? 'UNKNOWN'}: ${problem?.detail ?? 'no problem document in the answer'}`, meta);
    this.status = status;
    this.problem = problem;
    this.code = problem && problem.code in errorStatuses ? problem.code : 'UNKNOWN';
  }
}

/** No answer: the connection failed (refused, reset, timed out) on the last attempt allowed. */
export class IdemConnectionError extends IdemClientError {
  override name = 'IdemConnectionError';
  constructor(
    message: string,
    meta: CallMeta,
    override readonly cause: unknown,
  ) {
    super(message, meta);
  }
}

/**
 * Retries ran out while the operation was still in flight (202 `processing`, 409
 * `IDEM_IN_PROGRESS`). Nothing is lost: call again with `meta.idempotencyKey` (or
 * `payments.waitUntilFinal`) to get the outcome.
 */
export class IdemStillProcessingError extends IdemClientError {
  override name = 'IdemStillProcessingError';
  constructor(
    message: string,
    meta: CallMeta,
    /** The last answer's body (the payment in flight, or the 409 problem). */
    readonly body: unknown,
  ) {
    super(message, meta);
  }
}

/** True when `err` is an {@link IdemApiError} with this stable code. */
export function isIdemError<C extends IdemErrorCode>(err: unknown, code: C): err is IdemApiError & { code: C } {
  return err instanceof IdemApiError && err.code === code;
}
