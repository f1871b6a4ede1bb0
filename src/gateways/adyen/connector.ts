/**
 * The Adyen connector (docs/gateways.md, "Adyen"): Checkout v71 `/payments`, and `/captures`,
 * `/cancels`, `/refunds` on a payment's pspReference, through the official
 * `@adyen/api-library` (which builds and serialises each request and sets `Idempotency-Key`).
 * Its transport is Idem's own fetch with the injected timers, so the library never retries,
 * the base URL can point at a test server, and what happened on the wire reaches the pure
 * transformer (`./transform.ts`) as it happened. A modification answered `received` is
 * pending: it settles when its notification is stored (`./notifications.ts`), which the
 * status lookup reads.
 */
import adyen from '@adyen/api-library';
import type { Clock, Timers } from '../../ports/clock.js';
import { sendExchange } from '../http/connector.js';
import { metadataHeaders } from '../http/metadataHeaders.js';
import type { HttpExchange } from '../http/transform.js';
import type { GatewayCallContext, GatewayConnector, GatewayRequest, TransactionLogPage } from '../port.js';
import { type NotificationLog, operationOfKey, statusFromNotifications, toGatewayRecord } from './notifications.js';
import { scanSettlementReports, type SettlementFileLog } from './settlementFiles.js';
import { toAdyenOutcome } from './transform.js';

/** Adyen's Checkout API on its test platform, at the version whose published document Idem is checked against. */
export const ADYEN_TEST_BASE_URL = 'https://checkout-test.adyen.com/v71';

/** What {@link createAdyenConnector} needs. Secrets are taken here and never logged. */
export interface AdyenConnectorOptions {
  /** The gateway's name in `IDEM_GATEWAYS`, e.g. `adyen`. */
  name: string;
  /** Adyen API key (`X-API-Key`). */
  apiKey: string;
  merchantAccount: string;
  /** Checkout base URL including the version, e.g. {@link ADYEN_TEST_BASE_URL} or a live prefix URL. */
  baseUrl?: string | undefined;
  /** Whole request budget; on expiry the outcome is `unknown`. */
  timeoutMs: number;
  timers: Timers;
  /** Where the notifications this gateway sent are stored (the status lookup and the log read them). */
  notifications: NotificationLog;
  /** `returnUrl` Checkout requires on `/payments`; never used for a card paid with a stored token. */
  returnUrl?: string;
  /** A folder of Settlement details reports read into the log (./settlementFiles.ts), where the files read are kept, and the clock that dates them. */
  settlementReports?: { dir: string; files: SettlementFileLog; clock: Clock } | undefined;
}

type RequestOptions = adyen.Types.requestOptions.IRequest.Options & { wire?: { exchange?: HttpExchange; signal?: AbortSignal | undefined; headers?: Record<string, string> } };

/**
 * Creates the Adyen connector.
 *
 * @example
 * const adyenGateway = createAdyenConnector({ name: 'adyen', apiKey, merchantAccount, timeoutMs: 5000, timers: systemTimers, notifications });
 */
export function createAdyenConnector(options: AdyenConnectorOptions): GatewayConnector {
  const { name, merchantAccount, timeoutMs, timers, notifications } = options;
  const baseUrl = (options.baseUrl ?? ADYEN_TEST_BASE_URL).replace(/\/+$/, '');
  const returnUrl = options.returnUrl ?? 'https://idem.invalid/adyen/return';

  const transport = {
    async request(endpoint: string, json: string | Buffer, config: adyen.Config, _apiKeyRequired: boolean, requestOptions?: RequestOptions): Promise<string> {
      const wire = requestOptions?.wire ?? {};
      const headers: Record<string, string> = { ...wire.headers, 'content-type': 'application/json', 'x-api-key': config.apiKey ?? '' };
      if (requestOptions?.idempotencyKey) headers['idempotency-key'] = requestOptions.idempotencyKey;
      const exchange = await sendExchange(rebase(endpoint), { method: requestOptions?.method ?? 'POST', headers, body: typeof json === 'string' ? json : new Uint8Array(json) }, timeoutMs, timers, wire.signal);
      wire.exchange = exchange;
      if (exchange.kind === 'answer' && exchange.status >= 200 && exchange.status < 300) return JSON.stringify(exchange.body ?? {});
      // The connector reads the exchange, not this error; the library only needs a rejection.
      throw new Error(exchange.kind === 'answer' ? `adyen answered HTTP ${exchange.status}` : `adyen did not answer: ${exchange.reason}`);
    },
  };
  const client = new adyen.Client(new adyen.Config({ apiKey: options.apiKey, environment: adyen.EnvironmentEnum.TEST }), transport);
  const checkout = new adyen.CheckoutAPI(client);

  /** The library's URL (its own version and host) moved onto `baseUrl`: `…/v72/payments` → `<baseUrl>/payments`. */
  function rebase(endpoint: string): string {
    const m = /^https?:\/\/[^/]+(?:\/checkout)?\/v\d+(\/.*)$/.exec(endpoint);
    return `${baseUrl}${m ? m[1] : new URL(endpoint).pathname}`;
  }

  /** Gateway key → the pspReference Adyen answered a modification with (bounded: the oldest go first). */
  const modificationPsp = new Map<string, string>();
  function remember(key: string, psp: string): void {
    modificationPsp.delete(key);
    modificationPsp.set(key, psp);
    if (modificationPsp.size > 100_000) modificationPsp.delete(modificationPsp.keys().next().value!);
  }

  async function call(request: GatewayRequest, signal: AbortSignal | undefined, context: GatewayCallContext | undefined): Promise<HttpExchange> {
    const wire: NonNullable<RequestOptions['wire']> = { signal, headers: context ? metadataHeaders(context.metadata, context.traceparent) : {} };
    const opts: RequestOptions = { idempotencyKey: request.gatewayKey, wire };
    const amount = { value: request.amount, currency: request.currency };
    // Idem's gateway key is the Idempotency-Key and the reference, so notifications name it.
    const reference = request.gatewayKey;
    try {
      if (request.operation === 'authorize') {
        await checkout.PaymentsApi.payments(
          {
            amount,
            merchantAccount,
            reference,
            paymentMethod: { type: adyen.Types.checkout.CardDetails.TypeEnum.Scheme, storedPaymentMethodId: request.token ?? '' },
            shopperInteraction: adyen.Types.checkout.PaymentRequest.ShopperInteractionEnum.ContAuth,
            recurringProcessingModel: adyen.Types.checkout.PaymentRequest.RecurringProcessingModelEnum.UnscheduledCardOnFile,
            returnUrl,
            // Idem captures in a step of its own, also for automatic capture (docs/payments.md).
            additionalData: { manualCapture: 'true' },
            metadata: { idem_payment_id: request.reference, idem_gateway_key: request.gatewayKey },
          },
          opts,
        );
      } else {
        const psp = request.authorizationId ?? '';
        const api = checkout.ModificationsApi;
        if (request.operation === 'capture') await api.captureAuthorisedPayment(psp, { amount, merchantAccount, reference }, opts);
        else if (request.operation === 'void') await api.cancelAuthorisedPaymentByPspReference(psp, { merchantAccount, reference }, opts);
        else await api.refundCapturedPayment(psp, { amount, merchantAccount, reference }, opts);
      }
    } catch {
      // Read below: the exchange says what happened (a library error before sending leaves none).
    }
    return wire.exchange ?? { kind: 'no_answer', sent: false, reason: 'adyen_library_refused_before_sending' };
  }

  return {
    name,

    async execute(request, signal, context) {
      const exchange = await call(request, signal, context);
      // A modification's own pspReference, as Adyen answered `received`: its notification may
      // name the payment's reference rather than the modification's (see `status`).
      const psp = request.operation !== 'authorize' && exchange.kind === 'answer' && exchange.status >= 200 && exchange.status < 300 ? (exchange.body as { pspReference?: unknown } | null)?.pspReference : undefined;
      if (typeof psp === 'string' && psp !== '') remember(request.gatewayKey, psp);
      return toAdyenOutcome(request.operation, exchange);
    },

    /**
     * Adyen has no lookup by reference for modifications: what it did is what its notifications
     * said. None yet is "not found", and Idem re-sends under the same Idempotency-Key.
     */
    async status(key) {
      const operation = operationOfKey(key);
      if (operation === null) return { found: 'unknown', reason: 'not a gateway key Idem sends' };
      try {
        const found = statusFromNotifications(operation, await notifications.find(name, key));
        const psp = modificationPsp.get(key);
        if (found.found || psp === undefined) return found;
        // Adyen's Webhooks document calls `merchantReference` the payment's reference: a
        // modification's notification may carry the authorisation's key there, and is then
        // known by the pspReference Adyen answered the modification with (`originalReference`
        // naming the payment). A re-send under the same key after a restart answers it again.
        return statusFromNotifications(operation, await notifications.findByPsp(name, psp));
      } catch (err) {
        return { found: 'unknown', reason: `notification store unreadable: ${err instanceof Error ? err.message : 'error'}` };
      }
    },

    /**
     * The log for reconciliation: the stored notifications by row id, then the settlement
     * report files by row id (the folder looked at when the notifications are read to the end).
     * Cursor `n:<notification id>;s:<file id>` (a bare id, as handed out before reports, is the
     * notifications' alone). `sinceMs` bounds the notifications; a report file is read once.
     */
    async transactions(sinceMs, cursor, limit): Promise<TransactionLogPage> {
      const at = parseCursor(cursor);
      try {
        const rows = await notifications.page(name, at.n, sinceMs, limit);
        const n = rows.at(-1)?.id ?? at.n;
        const page: Extract<TransactionLogPage, { ok: true }> = { ok: true, records: [], rejected: [], nextCursor: cursor, hasMore: rows.length === limit };
        for (const row of rows) {
          const record = toGatewayRecord(row);
          if (typeof record === 'string') page.rejected.push({ raw: row, reason: record });
          else page.records.push({ record, raw: row });
        }
        let s = at.s;
        const reports = options.settlementReports;
        if (!page.hasMore && reports !== undefined) {
          const scan = await scanSettlementReports(name, reports.dir, reports.files, reports.clock.now()).catch((err: NodeJS.ErrnoException) => ({ failed: [{ name: reports.dir, reason: err.code ?? err.message }] }));
          for (const f of scan.failed) page.rejected.push({ raw: { settlement_report: f.name }, reason: `settlement report ${f.name} unreadable: ${f.reason}` });
          // One file a page: a report's rows go to staging together.
          const files = await reports.files.page(name, s, 2);
          const file = files[0];
          if (file !== undefined) {
            for (const r of file.records) page.records.push({ record: r.record, raw: { source: 'adyen_settlement_report', file: file.name, sha256: file.sha256, gross: { amount: r.record.amount, currency: r.record.currency }, net: r.net } });
            for (const r of file.rejected) page.rejected.push({ raw: { settlement_report: file.name, line: r.line }, reason: `settlement report ${file.name}: ${r.reason}` });
            s = file.id;
            page.hasMore = files.length > 1;
          }
        }
        page.nextCursor = s === null ? n : `n:${n ?? ''};s:${s}`;
        return page;
      } catch (err) {
        return { ok: false, reason: `notification store unreadable: ${err instanceof Error ? err.message : 'error'}` };
      }
    },
  };
}

/** `n:<id>;s:<id>` (either part may be empty), or a bare notification row id as handed out before settlement reports. */
function parseCursor(cursor: string | null): { n: string | null; s: string | null } {
  if (cursor === null || /^\d+$/.test(cursor)) return { n: cursor, s: null };
  const m = /^n:(\d*);s:(\d*)$/.exec(cursor);
  return { n: m?.[1] || null, s: m?.[2] || null };
}
