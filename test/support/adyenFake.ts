/**
 * A local Adyen Checkout that behaves like the processor where Idem's promises are at stake,
 * on a loopback socket: every request Idem sends is validated against Adyen's published
 * OpenAPI document (`test/fixtures/adyen/CheckoutService-v71.json`, MIT, LICENSE beside it)
 * and each violation counted; `Idempotency-Key` is honoured (same key and body → the first
 * answer again; same key, other body → 422); modifications are answered `received` and their
 * result told later by an HMAC-signed notification, which the test can delay, send twice,
 * send out of order or drop. Its own log — what it executed — is in `verifyLedger`'s format.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import adyen from '@adyen/api-library';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { GatewayOperation } from '../../src/gateways/port.js';
import type { GatewayLogEntry } from '../../src/ledger/verify.js';

/** What the fake does with the next request (of any operation) that carries a new key. */
export type AdyenFault = 'lose_answer' | 'error_500' | 'rate_limited' | 'refuse_connection';

/** How notifications leave: at once (`auto`), or held until the test releases them. */
export type NotificationMode = 'auto' | 'hold';

interface Route {
  operation: GatewayOperation;
  schema: string;
  eventCode: string;
}

const ROUTES: Array<{ pattern: RegExp; route: Route }> = [
  { pattern: /^\/v71\/payments$/, route: { operation: 'authorize', schema: 'PaymentRequest', eventCode: 'AUTHORISATION' } },
  { pattern: /^\/v71\/payments\/([^/]+)\/captures$/, route: { operation: 'capture', schema: 'PaymentCaptureRequest', eventCode: 'CAPTURE' } },
  { pattern: /^\/v71\/payments\/([^/]+)\/cancels$/, route: { operation: 'void', schema: 'PaymentCancelRequest', eventCode: 'CANCELLATION' } },
  { pattern: /^\/v71\/payments\/([^/]+)\/refunds$/, route: { operation: 'refund', schema: 'PaymentRefundRequest', eventCode: 'REFUND' } },
];

interface Stored {
  body: string;
  status: number;
  answer: unknown;
}

/** A notification item as Adyen sends it (Webhooks v1 `NotificationRequestItem`). */
export type NotificationItem = Record<string, unknown> & { eventCode: string; merchantReference: string; pspReference: string };

export class AdyenFake {
  readonly apiKey = `AQE_test_${randomBytes(8).toString('hex')}`;
  readonly hmacKey = randomBytes(32).toString('hex').toUpperCase();
  readonly merchantAccount = 'IdemTestECOM';
  /** Every request that broke the published document, with what broke. */
  readonly violations: Array<{ path: string; errors: string }> = [];
  /** Every request received: path, Idempotency-Key and the status answered. */
  readonly requests: Array<{ path: string; key: string | undefined; status: number }> = [];
  /** Every request as it arrived (answered or not), with its Idempotency-Key. */
  readonly arrivals: Array<{ path: string; key: string | undefined }> = [];
  /** What it executed, once per key. */
  readonly log: GatewayLogEntry[] = [];
  /** Notifications waiting to be released (mode `hold`). */
  readonly held: NotificationItem[] = [];
  /** Every notification delivered, with the answer it got. */
  readonly delivered: Array<{ item: NotificationItem; status: number; body: string }> = [];
  notificationMode: NotificationMode = 'auto';
  /** While true, every request with a new key executes and its answer is lost (the socket is reset). */
  loseAnswers = false;
  private notifyUrl: string | null = null;
  private readonly faults: AdyenFault[] = [];
  private readonly byKey = new Map<string, Stored>();
  private readonly inFlight = new Set<string>();
  private readonly authorizations = new Map<string, { amount: number; currency: string; captured: number; refunded: number; voided: boolean; reference: string }>();
  private readonly sending = new Set<Promise<unknown>>();
  private server: Server | null = null;
  private outage = false;
  private port = 0;

  async start(): Promise<string> {
    validatorFor('PaymentRequest'); // compiled before the first request, whose timeout must not pay for it
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this.baseUrl;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.outage ? this.port : (this.server!.address() as AddressInfo).port}/v71`;
  }

  /** Where notifications go (Idem's `POST /v1/gateways/<name>/notifications`). */
  notifyTo(url: string): void {
    this.notifyUrl = url;
  }

  /** Queues faults for the next requests that carry a new key. */
  inject(...faults: AdyenFault[]): void {
    this.faults.push(...faults);
  }

  /** While on, nothing listens on the fake's port: connections are refused, nothing executes. */
  async setOutage(on: boolean): Promise<void> {
    if (on === this.outage) return;
    this.outage = on;
    if (on) {
      this.port = (this.server!.address() as AddressInfo).port;
      await new Promise<void>((resolve) => {
        this.server!.closeAllConnections();
        this.server!.close(() => resolve());
      });
    } else {
      await new Promise<void>((resolve, reject) => {
        this.server!.once('error', reject);
        this.server!.listen(this.port, '127.0.0.1', () => resolve());
      });
    }
  }

  /** Sends the held notifications: in reverse order, each twice, or drops them. */
  async release(how: { reverse?: boolean; twice?: boolean; drop?: boolean } = {}): Promise<void> {
    const items = this.held.splice(0, this.held.length);
    if (how.drop) return;
    for (const item of how.reverse ? items.reverse() : items) {
      await this.deliver(item);
      if (how.twice) await this.deliver(item);
    }
  }

  /** A notification item signed with this fake's HMAC key (or another key, to test refusals). */
  signed(item: NotificationItem, hmacKey = this.hmacKey): NotificationItem {
    const hmacSignature = new adyen.hmacValidator().calculateHmac(item as never, hmacKey);
    return { ...item, additionalData: { hmacSignature } };
  }

  /** Posts one notification request carrying `item`; resolves with Idem's answer. */
  async deliver(item: NotificationItem): Promise<{ status: number; body: string }> {
    if (this.notifyUrl === null) throw new Error('the Adyen fake has nowhere to send notifications: call notifyTo first');
    const response = await fetch(this.notifyUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] }),
    });
    const answer = { status: response.status, body: await response.text() };
    this.delivered.push({ item, ...answer });
    return answer;
  }

  /** Resolves once every notification sent in `auto` mode has been answered. */
  async settled(): Promise<void> {
    while (this.sending.size > 0) await Promise.allSettled([...this.sending]);
  }

  async stop(): Promise<void> {
    await this.settled();
    if (this.outage) return;
    await new Promise<void>((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '').split('?')[0]!;
    const key = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : undefined;
    this.arrivals.push({ path, key });
    const found = ROUTES.map(({ pattern, route }) => ({ m: pattern.exec(path), route })).find((x) => x.m !== null);
    const answer = (status: number, body: unknown) => {
      this.requests.push({ path, key, status });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || found === undefined) {
      this.violations.push({ path, errors: `${req.method} ${path} is not an operation of the document` });
      return answer(404, { status: 404, errorCode: '000', message: 'not found', errorType: 'validation' });
    }
    if (req.headers['x-api-key'] !== this.apiKey) return answer(401, { status: 401, errorCode: '000', message: 'HTTP Status Response - Unauthorized', errorType: 'security' });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      this.violations.push({ path, errors: 'the body is not JSON' });
      return answer(400, { status: 400, errorCode: '702', message: 'Structure could not be parsed', errorType: 'validation' });
    }
    this.check(path, found.route.schema, body, key, req.headers['content-type']);
    if (key === undefined) return this.execute(found.route, found.m![1], body, text, null, answer, res);
    const stored = this.byKey.get(key);
    if (stored) {
      if (stored.body !== text) return answer(422, { status: 422, errorCode: '000', message: 'Idempotency key reused with another request', errorType: 'validation' });
      return answer(stored.status, stored.answer);
    }
    if (this.inFlight.has(key)) return answer(409, { status: 409, errorCode: '000', message: 'Request already in progress', errorType: 'validation' });
    return this.execute(found.route, found.m![1], body, text, key, answer, res);
  }

  private check(path: string, schema: string, body: unknown, key: string | undefined, contentType: string | undefined): void {
    const validate = validatorFor(schema);
    const problems: string[] = [];
    if (!validate(body)) problems.push(...(validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`));
    if (key !== undefined && key.length > 64) problems.push('Idempotency-Key is longer than 64 characters');
    if (!String(contentType ?? '').startsWith('application/json')) problems.push('content-type is not application/json');
    if (problems.length > 0) this.violations.push({ path, errors: problems.join('; ') });
  }

  private execute(route: Route, psp: string | undefined, body: unknown, text: string, key: string | null, answer: (s: number, b: unknown) => void, res: ServerResponse): void {
    const fault = this.faults.shift() ?? (this.loseAnswers ? 'lose_answer' : undefined);
    if (fault === 'refuse_connection') return void res.socket?.destroy();
    if (fault === 'rate_limited') {
      res.setHeader('retry-after', '1');
      return answer(429, { status: 429, errorCode: '000', message: 'Too many requests', errorType: 'throttling' });
    }
    const b = body as { amount?: { value: number; currency: string }; reference?: string; paymentMethod?: { storedPaymentMethodId?: string } };
    const pspReference = newPsp();
    const reference = b.reference ?? '';
    let status: number;
    let result: unknown;
    let notification: { success: boolean; amount: { value: number; currency: string }; original?: string; reason?: string } | null = null;
    if (route.operation === 'authorize') {
      const amount = b.amount!;
      const refused = (b.paymentMethod?.storedPaymentMethodId ?? '').startsWith('tok_decline');
      status = 200;
      result = refused
        ? { pspReference, resultCode: 'Refused', refusalReason: 'Not enough balance', refusalReasonCode: '12', merchantReference: reference, amount }
        : { pspReference, resultCode: 'Authorised', merchantReference: reference, amount };
      if (!refused) this.authorizations.set(pspReference, { ...amount, amount: amount.value, captured: 0, refunded: 0, voided: false, reference });
      notification = { success: !refused, amount, ...(refused ? { reason: 'Not enough balance' } : {}) };
    } else {
      const auth = this.authorizations.get(psp ?? '');
      if (auth === undefined) {
        status = 422;
        result = { status: 422, errorCode: '167', message: 'Original pspReference required for this operation', errorType: 'validation' };
      } else {
        const amount = route.operation === 'void' ? { value: auth.amount, currency: auth.currency } : b.amount!;
        const ok =
          route.operation === 'capture' ? !auth.voided && auth.captured + amount.value <= auth.amount : route.operation === 'void' ? auth.captured === 0 && !auth.voided : auth.refunded + amount.value <= auth.captured;
        if (ok && route.operation === 'capture') auth.captured += amount.value;
        if (ok && route.operation === 'void') auth.voided = true;
        if (ok && route.operation === 'refund') auth.refunded += amount.value;
        status = 201;
        result = { merchantAccount: this.merchantAccount, paymentPspReference: psp, pspReference, reference, status: 'received', ...(route.operation === 'void' ? {} : { amount }) };
        notification = { success: ok, amount, original: psp!, ...(ok ? {} : { reason: 'Insufficient balance on payment' }) };
      }
    }
    if (key !== null) this.byKey.set(key, { body: text, status, answer: result });
    if (notification !== null) {
      const logEntry: GatewayLogEntry = {
        id: pspReference,
        idempotency_key: key ?? reference,
        operation: route.operation,
        amount: notification.amount.value,
        currency: notification.amount.currency,
        reference: reference.replace(/\.[a-z]+\.[0-9]+$/, ''),
        status: notification.success ? 'succeeded' : 'declined',
        authorization_id: notification.original ?? pspReference,
      };
      this.log.push(logEntry);
      this.notify(
        this.signed({
          pspReference,
          ...(notification.original ? { originalReference: notification.original } : {}),
          merchantAccountCode: this.merchantAccount,
          merchantReference: reference,
          amount: notification.amount,
          eventCode: route.eventCode,
          eventDate: new Date().toISOString(),
          success: notification.success ? 'true' : 'false',
          ...(notification.reason ? { reason: notification.reason } : {}),
        }),
      );
    }
    if (fault === 'lose_answer') return void res.socket?.destroy();
    if (fault === 'error_500') return answer(500, { status: 500, errorCode: '905', message: 'Payment details are not supported', errorType: 'internal' });
    answer(status, result);
  }

  private notify(item: NotificationItem): void {
    if (this.notificationMode === 'hold' || this.notifyUrl === null) {
      this.held.push(item);
      return;
    }
    // Idem may be gone (a test ending): Adyen would retry later; the fake records the failure.
    const sending = this.deliver(item)
      .catch(() => this.delivered.push({ item, status: 0, body: 'no answer' }))
      .finally(() => this.sending.delete(sending));
    this.sending.add(sending);
  }
}

let validators: Map<string, ValidateFunction> | null = null;

/** The request schemas of the published document, compiled once per test file (the document is large). */
function validatorFor(schema: string): ValidateFunction {
  if (validators === null) {
    const document = JSON.parse(readFileSync(new URL('../fixtures/adyen/CheckoutService-v71.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats.default(ajv);
    ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
    ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
    ajv.addSchema({ ...document, $id: 'checkout' });
    validators = new Map(ROUTES.map(({ route }) => [route.schema, ajv.compile({ $ref: `checkout#/components/schemas/${route.schema}` })]));
  }
  return validators.get(schema)!;
}

/** Adyen's pspReferences are 16 upper-case letters and digits. */
function newPsp(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  return [...randomBytes(16)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** Counts `/v71/payments…` requests by operation, for assertions. */
export function countOperations(fake: AdyenFake, path: RegExp): number {
  return fake.requests.filter((r) => path.test(r.path)).length;
}
