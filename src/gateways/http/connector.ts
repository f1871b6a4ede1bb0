/**
 * A GatewayConnector speaking the simulator's HTTP protocol with Node's global fetch (undici,
 * keep-alive by default). It only moves bytes and reports what happened on the wire; the meaning
 * of an answer is decided by the pure transformer in `./transform.ts`.
 */
import type { Timers } from '../../ports/clock.js';
import type { GatewayCallContext, GatewayConnector, GatewayRequest } from '../port.js';
import { metadataHeaders } from './metadataHeaders.js';
import { toTransactionLogPage } from './transactions.js';
import { type HttpExchange, toOperationStatus, toOutcome } from './transform.js';

/** What {@link createHttpConnector} needs. */
export interface HttpConnectorOptions {
  /** The connector's name, e.g. `sim-a`. */
  name: string;
  /** e.g. `http://127.0.0.1:4010`; paths `/v1/…` are appended. */
  baseUrl: string;
  /** Whole request budget (connect, send, answer, body); on expiry the outcome is `unknown`. */
  timeoutMs: number;
  /** Injected so the timeout follows simulated time in a deterministic run. */
  timers: Timers;
}

/**
 * Error codes that prove the request never left this process: no connection was made, so the
 * gateway cannot have acted on it. Anything else after `fetch` started is treated as "sent".
 */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENETDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_INVALID_URL',
]);

/**
 * Creates the HTTP connector.
 *
 * @example
 * const gateway = createHttpConnector({ name: 'sim-a', baseUrl: sim.url, timeoutMs: 2000, timers: systemTimers });
 * const outcome = await gateway.execute({ operation: 'authorize', gatewayKey: gatewayKey('pay_1', 'authorize', 1),
 *   amount: 1000, currency: 'EUR', reference: 'pay_1', token: 'tok_visa' });
 */
export function createHttpConnector(options: HttpConnectorOptions): GatewayConnector {
  const { name, timeoutMs, timers } = options;
  const baseUrl = options.baseUrl.replace(/\/+$/, '');

  return {
    name,

    async execute(request: GatewayRequest, signal?: AbortSignal, context?: GatewayCallContext) {
      const body: Record<string, unknown> = {
        amount: request.amount,
        currency: request.currency,
        reference: request.reference,
      };
      if (request.authorizationId !== undefined) body.authorization_id = request.authorizationId;
      if (request.token !== undefined) body.token = request.token;
      const exchange = await send(
        `${baseUrl}/v1/${request.operation}`,
        {
          method: 'POST',
          headers: { ...headersFor(context), 'content-type': 'application/json', 'idempotency-key': request.gatewayKey },
          body: JSON.stringify(body),
        },
        signal,
      );
      return toOutcome(exchange);
    },

    async status(key: string, signal?: AbortSignal, context?: GatewayCallContext) {
      const exchange = await send(`${baseUrl}/v1/operations/${encodeURIComponent(key)}`, { method: 'GET', headers: headersFor(context) }, signal);
      return toOperationStatus(exchange);
    },

    async transactions(sinceMs: number, cursor: string | null, limit: number, signal?: AbortSignal) {
      const query = new URLSearchParams({ limit: String(limit) });
      if (cursor === null) query.set('since', new Date(sinceMs).toISOString());
      else query.set('cursor', cursor);
      const exchange = await send(`${baseUrl}/v1/transactions?${query.toString()}`, { method: 'GET' }, signal);
      return toTransactionLogPage(name, exchange, cursor);
    },
  };

  function send(url: string, init: RequestInit, signal: AbortSignal | undefined): Promise<HttpExchange> {
    return sendExchange(url, init, timeoutMs, timers, signal);
  }
}

/**
 * One request with Node's fetch within `timeoutMs` (on the injected timers), reported as what
 * happened on the wire: an answer, or no answer and whether the request may have been sent.
 */
export async function sendExchange(url: string, init: RequestInit, timeoutMs: number, timers: Timers, signal: AbortSignal | undefined): Promise<HttpExchange> {
  if (signal?.aborted) return { kind: 'no_answer', sent: false, reason: 'aborted_before_sending' };
  const controller = new AbortController();
  let timedOut = false;
  const cancelTimer = timers.after(timeoutMs, () => {
    timedOut = true;
    controller.abort();
  });
  const onCallerAbort = () => controller.abort();
  signal?.addEventListener('abort', onCallerAbort, { once: true });
  try {
    const response = await fetch(url, { ...init, signal: controller.signal });
    const text = await response.text();
    return { kind: 'answer', status: response.status, headers: headersOf(response.headers), body: parseBody(text) };
  } catch (err) {
    if (controller.signal.aborted) {
      // The timeout or the caller fired after fetch started: the request may be on the wire.
      return { kind: 'no_answer', sent: true, reason: timedOut ? 'timeout' : 'aborted' };
    }
    const code = errorCode(err);
    return { kind: 'no_answer', sent: !NOT_SENT_CODES.has(code), reason: code };
  } finally {
    cancelTimer();
    signal?.removeEventListener('abort', onCallerAbort);
  }
}

/** The call's metadata and `traceparent` as headers (docs/metadata.md, "Gateway calls"). */
function headersFor(context: GatewayCallContext | undefined): Record<string, string> {
  return context ? metadataHeaders(context.metadata, context.traceparent) : {};
}

function headersOf(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** undici wraps socket errors: `TypeError('fetch failed', { cause })`, sometimes an AggregateError. */
function errorCode(err: unknown): string {
  const seen = new Set<unknown>();
  let current: unknown = err;
  while (current !== null && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const inner = (current as { errors?: unknown }).errors;
    if (Array.isArray(inner) && inner.length > 0) {
      const codes = inner.map(errorCode);
      // Happy-eyeballs tries several addresses; only "every attempt was refused" proves not sent.
      return codes.every((c) => NOT_SENT_CODES.has(c)) ? codes[0]! : codes.find((c) => !NOT_SENT_CODES.has(c))!;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return 'network_error';
}
