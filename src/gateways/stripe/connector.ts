/**
 * A GatewayConnector for Stripe on the official `stripe` library (docs/gateways.md, "Stripe").
 * It only calls the library: authorize = PaymentIntent create with `confirm: true`, capture
 * (full or partial, `amount_to_capture`), void = cancel, refund = Refund; Idem's gateway key is
 * Stripe's `Idempotency-Key`, and Idem's payment id, attempt id and gateway key travel in
 * `metadata`. What each answer means is decided by the pure `./transform.ts`; lookups of unknown
 * outcomes are `./lookup.ts`; the reconciliation source is `./transactions.ts`.
 */
import Stripe from 'stripe';
import { ConfigError } from '../../config/config.js';
import type { Clock } from '../../ports/clock.js';
import type { Secret } from '../credentials.js';
import type { GatewayCallContext, GatewayConnector, GatewayRequest } from '../port.js';
import { createStripeLookup, type KeyMemory } from './lookup.js';
import { readStripeTransactions } from './transactions.js';
import { BUG_PREFIX, type StripeAnswer, toStripeOutcome } from './transform.js';

/** The Stripe API version Idem speaks, explicit (docs/gateways.md): the library's own. */
export const STRIPE_API_VERSION = '2026-11-18.endive' as const;

/** Metadata keys Idem writes on every PaymentIntent and Refund (and reads back in lookups). */
export const STRIPE_METADATA = { paymentId: 'idem_payment_id', attemptId: 'idem_attempt_id', gatewayKey: 'idem_gateway_key', captureKey: 'idem_capture_key' } as const;

/** What {@link createStripeConnector} needs. */
export interface StripeConnectorOptions {
  /** The gateway's name in `IDEM_GATEWAYS`. */
  name: string;
  /** The secret key (`sk_…` or `rk_…`), from `credentials_ref`. */
  secret: Secret;
  /** Overrides `https://api.stripe.com` (the local fake in tests). */
  baseUrl?: string | undefined;
  /** Whole request budget; on expiry the outcome is `unknown`. */
  timeoutMs: number;
  clock: Clock;
  /** `manual` (default): authorize holds the funds and Idem captures later; `automatic` captures at once. */
  captureMethod?: 'manual' | 'automatic';
  /**
   * How long a PaymentIntent search that finds nothing is not believed (Stripe's search index
   * lags writes, about a minute normally): meanwhile the lookup says unknown, so Idem asks again
   * later and never fails over. Default 60 s.
   */
  searchSettleMs?: number;
  /** Told when an answer means Idem is wrong (a key reused with other parameters). Default: a process warning. */
  onBug?: (gateway: string, reason: string) => void;
}

/**
 * Creates the Stripe connector. Refuses (a `ConfigError` naming the gateway) a secret that is
 * not a Stripe secret or restricted key, or a `baseUrl` it cannot read.
 *
 * @example
 * const stripe = createStripeConnector({ name: 'stripe', secret: resolveCredential('stripe', 'env:STRIPE_SECRET_KEY'),
 *   timeoutMs: 10_000, clock: systemClock });
 */
export function createStripeConnector(options: StripeConnectorOptions): GatewayConnector {
  const { name, timeoutMs, clock } = options;
  if (!/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/.test(options.secret.reveal())) {
    throw new ConfigError(`gateway "${name}": the credential is not a Stripe secret key (sk_…) or restricted key (rk_…)`, 'GATEWAY_CREDENTIALS');
  }
  const stripe = new Stripe(options.secret.reveal(), {
    apiVersion: STRIPE_API_VERSION,
    // Idem's policy decides retries (docs/resilience.md); the library's own would hide answers.
    maxNetworkRetries: 0,
    httpClient: oneRetryAfterClose(clock),
    timeout: timeoutMs,
    telemetry: false,
    ...hostOf(name, options.baseUrl),
  });
  const onBug = options.onBug ?? ((gateway, reason) => process.emitWarning(`gateway ${gateway}: ${reason}`, 'IdemGatewayBug'));
  const memory: KeyMemory = new Map();
  const lookup = createStripeLookup({ stripe, clock, memory, searchSettleMs: options.searchSettleMs ?? 60_000 });

  async function call(request: GatewayRequest, context: GatewayCallContext | undefined): Promise<StripeAnswer> {
    const metadata: Record<string, string> = { [STRIPE_METADATA.paymentId]: request.reference, [STRIPE_METADATA.gatewayKey]: request.gatewayKey };
    if (context?.metadata.attempt_id !== undefined) metadata[STRIPE_METADATA.attemptId] = context.metadata.attempt_id;
    // The library takes no abort signal: its own timeout (`timeout_ms`) bounds the call.
    const requestOptions = { idempotencyKey: request.gatewayKey };
    try {
      switch (request.operation) {
        case 'authorize':
          return { kind: 'object', object: await stripe.paymentIntents.create(authorizeParams(request, metadata, options.captureMethod ?? 'manual'), requestOptions) };
        case 'capture':
          return {
            kind: 'object',
            object: await stripe.paymentIntents.capture(
              request.authorizationId!,
              { amount_to_capture: request.amount, metadata: { [STRIPE_METADATA.captureKey]: request.gatewayKey } },
              requestOptions,
            ),
          };
        case 'void':
          return { kind: 'object', object: await stripe.paymentIntents.cancel(request.authorizationId!, {}, requestOptions) };
        case 'refund':
          return { kind: 'object', object: await stripe.refunds.create({ payment_intent: request.authorizationId!, amount: request.amount, metadata }, requestOptions) };
      }
    } catch (error) {
      return { kind: 'error', error };
    }
  }

  return {
    name,

    async execute(request, signal, context) {
      if (signal?.aborted) return { class: 'not_processed', reason: 'aborted_before_sending' };
      if (request.operation !== 'authorize' && request.authorizationId === undefined) {
        return { class: 'decline', declineCode: 'missing_authorization', message: `${request.operation} needs the PaymentIntent id` };
      }
      lookup.remember(request);
      const outcome = toStripeOutcome(request.operation, await call(request, context));
      if (outcome.class === 'unknown' && outcome.reason.startsWith(BUG_PREFIX)) onBug(name, `${request.gatewayKey}: ${outcome.reason}`);
      if (outcome.class === 'success' && outcome.authorizationId !== undefined) lookup.learned(request.gatewayKey, outcome.authorizationId);
      return outcome;
    },

    status(key) {
      return lookup.status(key);
    },

    transactions(sinceMs, cursor, limit) {
      return readStripeTransactions(stripe, name, sinceMs, cursor, limit);
    },
  };
}

/**
 * The library's HTTP client, with its one hidden retry made safe. stripe-node sends a request
 * again when its connection closed (ECONNRESET, EPIPE), even with `maxNetworkRetries: 0` (its
 * `_shouldRetry`, stripe/stripe-node#1336: usually a pooled socket the server had just closed),
 * and reads whatever the second try got as the answer. But a connection can close after Stripe
 * executed the request: had Stripe gone down in between, the second try's "connection refused"
 * reads as never sent, and an authorization that holds money would fail over to another
 * gateway. Here the second send is made by this client, under the same `Idempotency-Key`
 * (Stripe replays the first execution, or runs the request once), within what is left of the
 * timeout; an answer from it is the answer, and a failure of it is passed on without a
 * connection code (the first error kept as `cause`), so the outcome is unknown — never "not
 * processed" — and the library makes no try of its own.
 */
function oneRetryAfterClose(clock: Clock): NonNullable<Stripe.StripeConfig['httpClient']> {
  const inner = Stripe.createNodeHttpClient();
  const closed = Stripe.HttpClient.CONNECTION_CLOSED_ERROR_CODES;
  const codeOf = (error: unknown) => {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' ? code : undefined;
  };
  return {
    getClientName: () => inner.getClientName(),
    async makeRequest(host, port, path, method, headers, requestData, protocol, timeout) {
      const started = clock.now();
      try {
        return await inner.makeRequest(host, port, path, method, headers, requestData, protocol, timeout);
      } catch (first) {
        const code = codeOf(first);
        if (code === undefined || !closed.includes(code)) throw first;
        const closedError = (why: string) => new Error(`connection closed after the request was sent (${code}); ${why}`, { cause: first });
        const left = timeout - (clock.now() - started);
        if (left < MIN_RETRY_MS) throw closedError('no time left to send it again');
        try {
          return await inner.makeRequest(host, port, path, method, headers, requestData, protocol, left);
        } catch (second) {
          throw closedError(`sending it again failed (${codeOf(second) ?? 'error'})`);
        }
      }
    },
  };
}

/** The least time left of a call's timeout for which a send after a closed connection is worth making. */
const MIN_RETRY_MS = 250;

function authorizeParams(request: GatewayRequest, metadata: Record<string, string>, captureMethod: 'manual' | 'automatic'): Stripe.PaymentIntentCreateParams {
  const token = request.token ?? '';
  return {
    amount: request.amount,
    currency: request.currency.toLowerCase(),
    confirm: true,
    capture_method: captureMethod,
    // Cards only, and never a redirect: a server-side authorization has nowhere to send the customer.
    automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
    // A server-side authorization cannot show a 3-D Secure challenge: Stripe declines instead.
    error_on_requires_action: true,
    metadata,
    ...(token.startsWith('pm_') ? { payment_method: token } : { payment_method_data: { type: 'card', card: { token } } as Stripe.PaymentIntentCreateParams.PaymentMethodData }),
  };
}

/** The library's `host`, `port` and `protocol` from a base URL (tests point it at the fake). */
function hostOf(name: string, baseUrl: string | undefined): { host?: string; port?: number; protocol?: 'http' | 'https' } {
  if (baseUrl === undefined) return {};
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ConfigError(`gateway "${name}": base_url is not a URL`);
  }
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port === '' ? (protocol === 'http' ? 80 : 443) : Number(url.port), protocol };
}
