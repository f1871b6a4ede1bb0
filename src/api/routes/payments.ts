import type { FastifyInstance, FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { IdemError, problem } from '../../errors/registry.js';
import type { StoredResponse } from '../../idempotency/store.js';
import { isCurrency } from '../../payments/money.js';
import type { PaymentResponder, PaymentService } from '../../payments/service.js';
import type { PaymentView } from '../../payments/view.js';
import type { GatewayRouter } from '../../gateways/router.js';
import type { GatedHandler } from '../plugins/idempotency.js';
import { PROBLEM_TYPE } from '../problems.js';
import {
  AuthHeaders,
  CreatePaymentBody,
  ListQuery,
  Payment,
  PaymentEvents,
  PaymentList,
  PaymentParams,
  PostHeaders,
  problemResponses,
} from '../schemas.js';

const JSON_TYPE = 'application/json; charset=utf-8';

/** `/v1/payments` routes. Registered in a context that already has auth and the gate. */
export function registerPaymentRoutes(app: FastifyInstance, payments: PaymentService, gateways: GatewayRouter): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/v1/payments',
    {
      schema: {
        summary: 'Create a payment and authorize it (and capture it when capture_method is automatic)',
        headers: PostHeaders,
        body: CreatePaymentBody,
        response: { 201: Payment, 202: Payment, ...problemResponses },
      },
    },
    (async (request, reply) => {
      const body = request.body as CreatePaymentBody;
      if (!isCurrency(body.currency)) throw new IdemError('VALIDATION_FAILED', `body.currency "${body.currency}" is not an ISO 4217 currency`);
      if (body.gateway !== undefined && !gateways.has(body.gateway)) {
        throw new IdemError('VALIDATION_FAILED', `body.gateway "${body.gateway}" is not configured (have: ${gateways.names.join(', ')})`);
      }
      return payments.create(
        request.merchantId,
        request.idempotencyKey,
        {
          amount: body.amount,
          currency: body.currency,
          captureMethod: body.capture_method,
          token: body.payment_method.token,
          reference: body.reference,
          gateway: body.gateway,
          metadata: body.metadata,
        },
        request.claim,
        responder(reply),
      );
    }) satisfies GatedHandler as never,
  );

  r.get(
    '/v1/payments/:id',
    { schema: { summary: 'A payment with its attempts', headers: AuthHeaders, params: PaymentParams, response: { 200: Payment, ...problemResponses } } },
    async (request) => payments.get(request.merchantId, request.params.id),
  );

  r.get(
    '/v1/payments',
    { schema: { summary: 'Payments, newest first', headers: AuthHeaders, querystring: ListQuery, response: { 200: PaymentList, ...problemResponses } } },
    async (request) => {
      const page = await payments.list(request.merchantId, Number(request.query.limit ?? 20), request.query.cursor);
      return { object: 'list' as const, ...page };
    },
  );

  r.get(
    '/v1/payments/:id/events',
    { schema: { summary: "The payment's lifecycle timeline", headers: AuthHeaders, params: PaymentParams, response: { 200: PaymentEvents, ...problemResponses } } },
    async (request) => ({ object: 'list' as const, data: await payments.events(request.merchantId, request.params.id) }),
  );
}

/**
 * Renders a payment as the stored answer of its POST: 201 with the payment, 402 problem for a
 * decline, 202 with the payment while its outcome is unknown. Serialized through the route's
 * response schema, so nothing outside it can leak into a stored response.
 */
function responder(reply: FastifyReply): PaymentResponder {
  const serialize = (status: number, view: PaymentView) => {
    const fn = reply.getSerializationFunction(String(status));
    if (!fn) throw new Error(`route has no response schema for ${status}`);
    return fn(view as unknown as Record<string, unknown>);
  };
  return {
    final(view: PaymentView): StoredResponse {
      if (view.status === 'declined') {
        const body = problem('PAYMENT_DECLINED', `the gateway declined the payment (${view.decline_code ?? 'declined'})`, {
          payment_id: view.id,
          decline_code: view.decline_code,
        });
        return { status: 402, contentType: PROBLEM_TYPE, body: JSON.stringify(body) };
      }
      return { status: 201, contentType: JSON_TYPE, body: serialize(201, view) };
    },
    pending(view: PaymentView): StoredResponse {
      return { status: 202, contentType: JSON_TYPE, body: serialize(202, view) };
    },
  };
}
