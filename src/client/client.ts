/**
 * `IdemClient`: Idem's API as typed methods (docs/client.md). Every method resolves to the
 * answer's body; `.withMeta()` on the same call resolves to `{ data, meta }` with the key, the
 * attempts, `Request-Id` and `Idempotent-Replayed`.
 *
 * @example
 * const idem = new IdemClient({ baseUrl: 'http://127.0.0.1:8080', apiKey: process.env.IDEM_API_KEY! });
 * const payment = await idem.payments.create({ amount: 2500, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } });
 * const { data, meta } = await idem.payments.capture(payment.id, {}).withMeta(); // meta.replayed, meta.attempts
 */
import { cryptoFloat } from './keys.js';
import type { RetryOptions } from './retry.js';
import { streamEvents, type EventStream } from './sse.js';
import { Transport, type CallOptions, type CallResult, type ClientHooks, type ClientRuntime, type Request } from './transport.js';
import type * as T from './types.js';

export interface IdemClientOptions {
  /** e.g. `https://idem.example.com`; or a function asked before every attempt (a failover list). */
  baseUrl: string | (() => string | Promise<string>);
  /** The merchant's secret key, `sk_…`. Keep it on servers: a browser bundle should not hold it. */
  apiKey: string;
  /** Default: the global `fetch`. */
  fetch?: typeof globalThis.fetch;
  /** Default: `Date.now`. */
  now?: () => number;
  /** Default: `setTimeout`. */
  sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1); default: WebCrypto. */
  random?: () => number;
  retry?: RetryOptions;
  /** One attempt's limit in ms (default 30 s). */
  timeoutMs?: number;
  hooks?: ClientHooks;
}

/** A call: awaits to the body; `.withMeta()` awaits to the body and what it took. */
export type ApiCall<D> = Promise<D> & { withMeta(): Promise<CallResult<D>> };

/** The payment statuses that are not final (docs/payments.md); a test keeps them in step with the server's. */
export const IN_FLIGHT_STATUSES: readonly T.PaymentStatus[] = ['processing', 'capturing', 'voiding', 'refunding'];

export class IdemClient {
  readonly payments: Payments;
  readonly events: Events;
  readonly webhookEndpoints: WebhookEndpoints;
  readonly gateways: { list(options?: CallOptions): ApiCall<T.GatewayList> };
  readonly reconciliation: { cases: ReconciliationCases };
  private readonly transport: Transport;

  constructor(o: IdemClientOptions) {
    const runtime: ClientRuntime = {
      fetch: o.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      now: o.now ?? (() => Date.now()),
      sleep: o.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      random: o.random ?? cryptoFloat,
    };
    this.transport = new Transport({ baseUrl: o.baseUrl, apiKey: o.apiKey, runtime, retry: o.retry ?? {}, timeoutMs: o.timeoutMs ?? 30_000, hooks: o.hooks ?? {} });
    const call = <D>(req: Request): ApiCall<D> => apiCall(this.transport.call<D>(req));
    this.payments = new Payments(call, runtime);
    this.events = new Events(call, this.transport, o);
    this.webhookEndpoints = new WebhookEndpoints(call);
    this.gateways = { list: (options = {}) => call({ ...options, method: 'GET', path: '/v1/gateways' }) };
    this.reconciliation = { cases: new ReconciliationCases(call) };
  }
}

type Caller = <D>(req: Request) => ApiCall<D>;

function apiCall<D>(result: Promise<CallResult<D>>): ApiCall<D> {
  const data = result.then((r) => r.data) as ApiCall<D>;
  data.withMeta = () => result;
  // Whichever of the two the caller awaits reports the error; the other must not count as unhandled.
  result.catch(() => {});
  data.catch(() => {});
  return data;
}

const seg = (id: string) => encodeURIComponent(id);

export class Payments {
  constructor(
    private readonly call: Caller,
    private readonly runtime: ClientRuntime,
  ) {}

  /** `POST /v1/payments`: authorizes (and captures, when automatic); retried until final. */
  create(params: T.CreatePaymentParams, options: CallOptions = {}): ApiCall<T.Payment> {
    return this.call({ ...options, method: 'POST', path: '/v1/payments', body: params, pendingOn202: true });
  }

  capture(id: string, params: T.CaptureParams = {}, options: CallOptions = {}): ApiCall<T.Payment> {
    return this.call({ ...options, method: 'POST', path: `/v1/payments/${seg(id)}/capture`, body: params, pendingOn202: true });
  }

  void(id: string, options: CallOptions = {}): ApiCall<T.Payment> {
    return this.call({ ...options, method: 'POST', path: `/v1/payments/${seg(id)}/void`, body: {}, pendingOn202: true });
  }

  refund(id: string, params: T.RefundParams = {}, options: CallOptions = {}): ApiCall<T.Payment> {
    return this.call({ ...options, method: 'POST', path: `/v1/payments/${seg(id)}/refunds`, body: params, pendingOn202: true });
  }

  get(id: string, options: CallOptions = {}): ApiCall<T.Payment> {
    return this.call({ ...options, method: 'GET', path: `/v1/payments/${seg(id)}` });
  }

  list(query: T.PaymentListQuery = {}, options: CallOptions = {}): ApiCall<T.PaymentList> {
    return this.call({ ...options, method: 'GET', path: '/v1/payments', query });
  }

  /** The payment's lifecycle timeline. */
  timeline(id: string, options: CallOptions = {}): ApiCall<T.PaymentTimeline> {
    return this.call({ ...options, method: 'GET', path: `/v1/payments/${seg(id)}/events` });
  }

  /**
   * Reads the payment until its status is final (not processing, capturing, voiding or
   * refunding), every `everyMs` (default 500), at most `timeoutMs` (default 60 s).
   */
  async waitUntilFinal(id: string, o: { everyMs?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T.Payment> {
    const end = this.runtime.now() + (o.timeoutMs ?? 60_000);
    for (;;) {
      const payment = await this.get(id, o.signal ? { signal: o.signal } : {});
      if (!IN_FLIGHT_STATUSES.includes(payment.status)) return payment;
      if (this.runtime.now() >= end) throw new Error(`payment ${id} is still ${payment.status} after ${o.timeoutMs ?? 60_000} ms`);
      await this.runtime.sleep(o.everyMs ?? 500);
    }
  }
}

export class Events {
  constructor(
    private readonly call: Caller,
    private readonly transport: Transport,
    private readonly o: IdemClientOptions,
  ) {}

  list(query: T.EventListQuery = {}, options: CallOptions = {}): ApiCall<T.EventList> {
    return this.call({ ...options, method: 'GET', path: '/v1/events', query });
  }

  get(id: string, options: CallOptions = {}): ApiCall<T.Event> {
    return this.call({ ...options, method: 'GET', path: `/v1/events/${seg(id)}` });
  }

  /**
   * `GET /v1/events/stream` as an async iterable of events; reconnects after a dropped
   * connection with `Last-Event-ID`, so no event is missed or seen twice. End it with `signal`
   * or `return()` (a `break` out of `for await`).
   */
  stream(query: T.EventStreamQuery = {}, options: { signal?: AbortSignal } = {}): EventStream {
    return streamEvents({ runtime: this.transport.runtime, baseUrl: this.o.baseUrl, apiKey: this.o.apiKey, query, signal: options.signal, retry: this.o.retry ?? {} });
  }
}

export class WebhookEndpoints {
  constructor(private readonly call: Caller) {}

  /** The answer holds the signing secret (`whsec_…`), shown this once (and on a replay of the key). */
  create(params: T.CreateWebhookEndpointParams, options: CallOptions = {}): ApiCall<T.NewWebhookEndpoint> {
    return this.call({ ...options, method: 'POST', path: '/v1/webhook_endpoints', body: params });
  }

  list(options: CallOptions = {}): ApiCall<T.WebhookEndpointList> {
    return this.call({ ...options, method: 'GET', path: '/v1/webhook_endpoints' });
  }

  get(id: string, options: CallOptions = {}): ApiCall<T.WebhookEndpoint> {
    return this.call({ ...options, method: 'GET', path: `/v1/webhook_endpoints/${seg(id)}` });
  }

  delete(id: string, options: CallOptions = {}): ApiCall<T.DeletedWebhookEndpoint> {
    return this.call({ ...options, method: 'DELETE', path: `/v1/webhook_endpoints/${seg(id)}` });
  }

  disable(id: string, options: CallOptions = {}): ApiCall<T.WebhookEndpoint> {
    return this.call({ ...options, method: 'POST', path: `/v1/webhook_endpoints/${seg(id)}/disable`, body: {} });
  }

  enable(id: string, options: CallOptions = {}): ApiCall<T.WebhookEndpoint> {
    return this.call({ ...options, method: 'POST', path: `/v1/webhook_endpoints/${seg(id)}/enable`, body: {} });
  }

  rotateSecret(id: string, options: CallOptions = {}): ApiCall<T.WebhookEndpoint> {
    return this.call({ ...options, method: 'POST', path: `/v1/webhook_endpoints/${seg(id)}/rotate_secret`, body: {} });
  }

  /** Queues the endpoint's events created in [from, to) again; answers 202 (final: queued). */
  replay(id: string, params: T.ReplayParams, options: CallOptions = {}): ApiCall<T.ReplayAnswer> {
    return this.call({ ...options, method: 'POST', path: `/v1/webhook_endpoints/${seg(id)}/replay`, body: params });
  }
}

export class ReconciliationCases {
  constructor(private readonly call: Caller) {}

  list(query: T.CaseListQuery = {}, options: CallOptions = {}): ApiCall<T.ReconciliationCaseList> {
    return this.call({ ...options, method: 'GET', path: '/v1/reconciliation/cases', query });
  }

  get(id: string, options: CallOptions = {}): ApiCall<T.ReconciliationCase> {
    return this.call({ ...options, method: 'GET', path: `/v1/reconciliation/cases/${seg(id)}` });
  }

  resolve(id: string, params: T.ResolveCaseParams, options: CallOptions = {}): ApiCall<T.ReconciliationCase> {
    return this.call({ ...options, method: 'POST', path: `/v1/reconciliation/cases/${seg(id)}/resolve`, body: params });
  }
}
