/**
 * Checkouts driven through `idem/client` (docs/client.md), for the SDK's tests under faults:
 * each intent is create → capture → refund, every call with the key the SDK mints, and every
 * call's outcome recorded (key, attempts, final status, exact body) so the test can hold it to
 * the gateway's log, the proxy's count and a replay.
 *
 * A seeded few intents end in a final 4xx on purpose — a declined card (402) or a refund over
 * what was captured (422) — so "no 4xx is retried" is checked on real refusals.
 */
import { IdemApiError, IdemClient, type ApiCall, type AttemptReport, type CallMeta, type CallOptions, type CallResult, type CreatePaymentParams, type Payment } from '../../src/client/index.js';
import { seededRandom } from '../../src/ports/seeded.js';

export type CheckoutOp = 'create' | 'capture' | 'refund';

export interface CallRecord {
  intent: number;
  op: CheckoutOp;
  path: string;
  body: Record<string, unknown>;
  meta: CallMeta;
  /** `ok`: a 2xx; `refused`: a final 4xx the plan asked for; `failed`: anything else. */
  outcome: 'ok' | 'refused' | 'failed';
  error?: string;
}

export interface Intent {
  index: number;
  amount: number;
  declined: boolean;
  overRefund: boolean;
  paymentId: string | null;
}

export interface RetryCounts {
  connection: number;
  serverError: number;
  processing: number;
  inProgress: number;
}

/** Counts every retry the client made, by the answer that caused it. */
export function countRetries(): { counts: RetryCounts; afterAttempt(a: AttemptReport): void } {
  const counts: RetryCounts = { connection: 0, serverError: 0, processing: 0, inProgress: 0 };
  return {
    counts,
    afterAttempt(a) {
      if (a.retryInMs === null) return;
      if (a.status === null) counts.connection++;
      else if (a.status >= 500) counts.serverError++;
      else if (a.status === 202) counts.processing++;
      else counts.inProgress++;
    },
  };
}

export function planIntents(seed: number, n: number): Intent[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, (_v, index) => ({ index, amount: 500 + Math.floor(r.float() * 9_500), declined: r.float() < 0.06, overRefund: r.float() < 0.05, paymentId: null }));
}

/** Runs every intent, `concurrency` at a time; resolves with every call's record. */
export async function runCheckouts(client: IdemClient, intents: Intent[], concurrency: number, seed: number): Promise<CallRecord[]> {
  const calls: CallRecord[] = [];
  const r = seededRandom(seed ^ 0xc0ffee);
  const partial = intents.map(() => [r.float() < 0.3, r.float() < 0.4] as const);

  async function record(intent: Intent, op: CheckoutOp, path: string, body: Record<string, unknown>, run: Promise<CallResult<Payment>>, expectedCode?: string): Promise<Payment | null> {
    try {
      const { data, meta } = await run;
      calls.push({ intent: intent.index, op, path, body, meta, outcome: expectedCode ? 'failed' : 'ok', ...(expectedCode ? { error: `expected ${expectedCode}, got ${meta.status}` } : {}) });
      return data;
    } catch (err) {
      const refused = err instanceof IdemApiError && err.status < 500 && err.code === expectedCode;
      const meta = err instanceof IdemApiError ? err.meta : ({ method: 'POST', path, idempotencyKey: null, attempts: 0, status: null, requestId: null, replayed: false, rawBody: '' } satisfies CallMeta);
      calls.push({ intent: intent.index, op, path, body, meta, outcome: refused ? 'refused' : 'failed', error: String(err) });
      if (err instanceof IdemApiError && typeof err.problem?.payment_id === 'string') intent.paymentId = err.problem.payment_id;
      return null;
    }
  }

  async function drive(intent: Intent): Promise<void> {
    const [halfCapture, halfRefund] = partial[intent.index]!;
    const create = {
      amount: intent.amount,
      currency: 'EUR' as const,
      capture_method: 'manual' as const,
      payment_method: { type: 'card' as const, token: intent.declined ? 'tok_decline_insufficient_funds' : 'tok_visa' },
      reference: `checkout-${seed}-${intent.index}`,
    };
    const created = await record(intent, 'create', '/v1/payments', create, client.payments.create(create).withMeta(), intent.declined ? 'PAYMENT_DECLINED' : undefined);
    if (!created) return;
    intent.paymentId = created.id;
    const capture = halfCapture ? { amount: Math.ceil(intent.amount / 2) } : {};
    const captured = await record(intent, 'capture', `/v1/payments/${created.id}/capture`, capture, client.payments.capture(created.id, capture).withMeta());
    if (!captured) return;
    const refund = intent.overRefund ? { amount: captured.amount_captured + 1 } : halfRefund ? { amount: Math.max(1, Math.floor(captured.amount_captured / 2)) } : {};
    await record(intent, 'refund', `/v1/payments/${created.id}/refunds`, refund, client.payments.refund(created.id, refund).withMeta(), intent.overRefund ? 'AMOUNT_EXCEEDS_AVAILABLE' : undefined);
  }

  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < intents.length) await drive(intents[next++]!);
    }),
  );
  return calls;
}

/** The SDK call for a payment POST given by its path (`/v1/payments`, `…/{id}/capture|void|refunds`). */
export function paymentCall(client: IdemClient, path: string, body: Record<string, unknown>, options: CallOptions): ApiCall<Payment> {
  const [, , , id, verb] = path.split('/');
  if (id === undefined) return client.payments.create(body as CreatePaymentParams, options);
  if (verb === 'capture') return client.payments.capture(id, body, options);
  if (verb === 'void') return client.payments.void(id, options);
  if (verb === 'refunds') return client.payments.refund(id, body, options);
  throw new Error(`not a payment POST: ${path}`);
}

/** Sends the call again with its key (same route and body); answers Idem's status, replay flag and body. */
export async function replayCall(client: IdemClient, call: CallRecord): Promise<CallMeta> {
  try {
    return (await paymentCall(client, call.path, call.body, { idempotencyKey: call.meta.idempotencyKey! }).withMeta()).meta;
  } catch (err) {
    if (err instanceof IdemApiError) return err.meta;
    throw err;
  }
}
