import fastJson from 'fast-json-stringify';
import type { TSchema } from 'typebox';
import { problem } from '../errors/registry.js';
import type { EndpointAnswer, EndpointRenderer } from '../events/endpoints.js';
import type { StoredResponse } from '../idempotency/store.js';
import type { PaymentResult } from '../payments/result.js';
import { PROBLEM_TYPE } from './problems.js';
import { NAMED_SCHEMAS, Payment, PaymentDeclinedProblem, ReplayAnswer, WebhookEndpoint, WebhookEndpointWithSecret } from './schemas.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * A serializer through a route's response schema (docs/api.md, "The contract"): members the
 * schema does not name are left out, so what is stored for replay — and so every replay — is
 * what the document says, byte for byte the first answer.
 *
 * @example
 * const caseJson = serializerFor(ReconciliationCase);
 * claim.complete(tx, { status: 200, contentType: JSON_TYPE, body: caseJson(view) });
 */
export function serializerFor(schema: TSchema): (value: unknown) => string {
  return fastJson(schema as never, { schema: NAMED_SCHEMAS as never });
}

/**
 * The app's serializers (fastify's `buildSerializer`, given the app's shared schemas): a
 * reference to a named schema — what most routes answer — is compiled once per app; problem
 * documents are sent as the strings `sendProblem` (src/api/problems.ts) makes, so they get no
 * compiled serializer: one is declared per error status of every route, and compiling each
 * would slow every start for nothing.
 */
export function serializerCompiler(shared: Record<string, unknown>): (route: { schema?: unknown; contentType?: string | undefined }) => (value: unknown) => string {
  const byRef = new Map<string, (value: unknown) => string>();
  const compile = (schema: unknown) => fastJson(schema as never, { schema: shared as never });
  return ({ schema, contentType }) => {
    if (contentType?.startsWith('application/problem+json')) return (value) => JSON.stringify(value);
    const ref = (schema as { $ref?: unknown }).$ref;
    if (typeof ref !== 'string' || Object.keys(schema as object).length !== 1) return compile(schema);
    let json = byRef.get(ref);
    if (!json) byRef.set(ref, (json = compile(schema)));
    return json;
  };
}

const paymentJson = serializerFor(Payment);
const declinedJson = serializerFor(PaymentDeclinedProblem);

/**
 * The HTTP answer to a payment request, as stored for replay (docs/idempotency.md): the
 * payment (201 for create, 200 otherwise); 402 `PAYMENT_DECLINED` when the gateway refused the
 * operation; 202 with the payment in flight while the outcome is unknown (not stored). Wired
 * into the pipeline by `src/idem.ts` and the simulator alike, so a key finished by the API, by
 * recovery or in a simulation replays the same bytes.
 *
 * @example
 * new PaymentService({ store, gateways, runtime, render: renderPaymentResult });
 */
export function renderPaymentResult(result: PaymentResult): StoredResponse {
  const { request, payment } = result;
  if (result.outcome === 'pending') return { status: 202, contentType: JSON_TYPE, body: paymentJson(payment) };
  if (result.declineCode !== null) {
    const what = request === 'create' ? 'payment' : request;
    const body = problem('PAYMENT_DECLINED', `the gateway declined the ${what} (${result.declineCode})`, {
      payment_id: payment.id,
      decline_code: result.declineCode,
      payment_status: payment.status,
      ...(result.requestId !== undefined ? { request_id: result.requestId } : {}),
    });
    return { status: 402, contentType: PROBLEM_TYPE, body: declinedJson(body) };
  }
  return { status: request === 'create' ? 201 : 200, contentType: JSON_TYPE, body: paymentJson(payment) };
}

const endpointJson: Record<EndpointAnswer, (value: unknown) => string> = {
  endpoint: serializerFor(WebhookEndpoint),
  endpoint_with_secret: serializerFor(WebhookEndpointWithSecret),
  replay: serializerFor(ReplayAnswer),
};

/**
 * The answers of the webhook-endpoint POSTs as stored for replay, through their routes'
 * response schemas. Wired by `src/idem.ts`.
 *
 * @example
 * new WebhookEndpoints({ store, runtime, resolve, allowPrivate: false, render: renderEndpointAnswer });
 */
export const renderEndpointAnswer: EndpointRenderer = (answer, status, value) => ({ status, contentType: JSON_TYPE, body: endpointJson[answer](value) });
