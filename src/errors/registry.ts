/**
 * The one registry of stable error codes (docs/errors.md). Every problem+json response carries
 * one of these codes; `docs/errors.md` documents each, and a test keeps the two in step.
 */
export const errorCodes = {
  AUTH_REQUIRED: { status: 401, title: 'Authentication required' },
  VALIDATION_FAILED: { status: 400, title: 'The request is not valid' },
  CARD_DATA_REFUSED: { status: 400, title: 'Card numbers are refused; send a gateway token' },
  IDEM_KEY_MISSING: { status: 400, title: 'Idempotency-Key header is required' },
  IDEM_KEY_INVALID: { status: 400, title: 'Idempotency-Key header is malformed' },
  WEBHOOK_URL_INVALID: { status: 400, title: 'The webhook endpoint URL is not usable' },
  WEBHOOK_URL_PRIVATE: { status: 400, title: 'The webhook endpoint URL resolves to a private address' },
  OPERATOR_READ_ONLY: { status: 403, title: 'The operator key reads; it never moves money' },
  NOTIFICATION_SIGNATURE_INVALID: { status: 401, title: 'The notification signature does not verify' },
  PAYMENT_DECLINED: { status: 402, title: 'The payment was declined' },
  PAYMENT_NOT_FOUND: { status: 404, title: 'No such payment' },
  WEBHOOK_ENDPOINT_NOT_FOUND: { status: 404, title: 'No such webhook endpoint' },
  EVENT_NOT_FOUND: { status: 404, title: 'No such event' },
  ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  CASE_NOT_FOUND: { status: 404, title: 'No such reconciliation case' },
  MERCHANT_NOT_FOUND: { status: 404, title: 'No such merchant' },
  GATEWAY_NOT_FOUND: { status: 404, title: 'No such gateway takes notifications' },
  IDEM_IN_PROGRESS: { status: 409, title: 'A request with this Idempotency-Key is still in progress' },
  PAYMENT_INVALID_STATE: { status: 409, title: 'The payment is not in a state that allows this' },
  CASE_NOT_OPEN: { status: 409, title: 'The reconciliation case is already resolved' },
  URL_TOO_LONG: { status: 414, title: 'The URL is too long' },
  IDEM_KEY_REUSED: { status: 422, title: 'Idempotency-Key was already used for another request' },
  AMOUNT_EXCEEDS_AVAILABLE: { status: 422, title: 'The amount exceeds what is available' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  STREAM_LIMIT_REACHED: { status: 429, title: 'Too many open event streams' },
  INTERNAL: { status: 500, title: 'Internal error' },
  UNAVAILABLE: { status: 503, title: 'Unavailable for now; retry later' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCodes;

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(errorCodes, value);
}

/** RFC 9457 problem details as Idem sends them. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  [extension: string]: unknown;
}

/**
 * An error a client should see, with a stable code. `extensions` become extra members of the
 * problem document (e.g. `payment_id`); `headers` are sent with it (e.g. `Retry-After`).
 */
export class IdemError extends Error {
  override readonly name = 'IdemError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    detail: string,
    options: { cause?: unknown; extensions?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = errorCodes[code].status;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }

  toProblem(): Problem {
    return problem(this.code, this.message, this.extensions);
  }
}

export function problem(code: ErrorCode, detail: string, extensions: Record<string, unknown> = {}): Problem {
  const { status, title } = errorCodes[code];
  return { type: `https://idem.dev/errors/${code}`, title, status, detail, code, ...extensions };
}
