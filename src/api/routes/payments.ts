import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { IdemError } from '../../errors/registry.js';
import type { PaymentRequestKind } from '../../payments/result.js';
import type { PaymentService } from '../../payments/service.js';
import type { GatewayRouter } from '../../gateways/router.js';
import type { GatedHandler } from '../plugins/idempotency.js';
import { answers } from '../openapi.js';
import {
  CaptureBody,
  CreatePaymentBody,
  RefundBody,
  VoidBody,
  ListQuery,
  Payment,
  PaymentEvents,
  PaymentList,
  PaymentParams,
  PostHeaders,
  ref,
} from '../schemas.js';

const payment = (description: string) => ({ schema: Payment, description });
const pending = { schema: Payment, description: 'The outcome is not known yet (a gateway timeout): the payment in flight. Not stored: send the same request with the same key again, or wait for its event' };
const declined = 'PAYMENT_DECLINED' as const;

/**
 * Everything a create-payment body must be beyond its shape, checked before the key is
 * claimed: with the schema (ISO 4217 currencies, lengths, no unknown fields) this is the whole
 * of create-payment validation; a refusal leaves the key unused.
 */
function checkGateway(gateways: GatewayRouter, gateway: string | undefined): void {
  if (gateway !== undefined && !gateways.has(gateway)) {
    throw new IdemError('VALIDATION_FAILED', `body.gateway "${gateway}" is not configured (have: ${gateways.names.join(', ')})`);
  }
}

/**
 * `/v1/payments` routes. Registered in a context that already has auth and the gate: each POST
 * handler runs at most once per key and returns its outcome, which the gate stores and sends.
 */
export function registerPaymentRoutes(app: FastifyInstance, payments: PaymentService, gateways: GatewayRouter): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/v1/payments',
    {
      // Its first write (the payment, attempt and outbox row) claims the key too: one round trip fewer.
      config: { operation: 'create' satisfies PaymentRequestKind, claimInFirstWrite: true },
      schema: {
        operationId: 'createPayment',
        tags: ['payments'],
        summary: 'Create a payment and authorize it (and capture it when capture_method is automatic)',
        headers: PostHeaders,
        body: ref(CreatePaymentBody),
        response: answers({ 201: payment('The payment, authorized (or captured)'), 202: pending }, [declined], { gated: true }),
      },
      preHandler: async (request) => checkGateway(gateways, (request.body as CreatePaymentBody).gateway),
    },
    (async (request) => {
      const body = request.body as CreatePaymentBody;
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
      );
    }) satisfies GatedHandler as never,
  );

  r.post(
    '/v1/payments/:id/capture',
    {
      config: { operation: 'capture' satisfies PaymentRequestKind },
      schema: {
        operationId: 'capturePayment',
        tags: ['payments'],
        summary: 'Capture all or part of an authorization',
        headers: PostHeaders,
        params: PaymentParams,
        body: ref(CaptureBody),
        response: answers({ 200: payment('The payment, captured'), 202: pending }, [declined, 'PAYMENT_NOT_FOUND', 'PAYMENT_INVALID_STATE', 'AMOUNT_EXCEEDS_AVAILABLE'], { gated: true }),
      },
    },
    (async (request) => {
      const { id } = request.params as { id: string };
      const { amount } = request.body as CaptureBody;
      return payments.capture(request.merchantId, request.idempotencyKey, id, amount, request.claim);
    }) satisfies GatedHandler as never,
  );

  r.post(
    '/v1/payments/:id/void',
    {
      config: { operation: 'void' satisfies PaymentRequestKind },
      schema: {
        operationId: 'voidPayment',
        tags: ['payments'],
        summary: 'Cancel an uncaptured authorization (no body needed)',
        headers: PostHeaders,
        params: PaymentParams,
        body: VoidBody,
        response: answers({ 200: payment('The payment, voided'), 202: pending }, [declined, 'PAYMENT_NOT_FOUND', 'PAYMENT_INVALID_STATE'], { gated: true }),
      },
    },
    (async (request) => {
      const { id } = request.params as { id: string };
      return payments.void(request.merchantId, request.idempotencyKey, id, request.claim);
    }) satisfies GatedHandler as never,
  );

  r.post(
    '/v1/payments/:id/refunds',
    {
      config: { operation: 'refund' satisfies PaymentRequestKind },
      schema: {
        operationId: 'refundPayment',
        tags: ['payments'],
        summary: 'Refund all or part of a capture',
        headers: PostHeaders,
        params: PaymentParams,
        body: ref(RefundBody),
        response: answers({ 200: payment('The payment, refunded'), 202: pending }, [declined, 'PAYMENT_NOT_FOUND', 'PAYMENT_INVALID_STATE', 'AMOUNT_EXCEEDS_AVAILABLE'], { gated: true }),
      },
    },
    (async (request) => {
      const { id } = request.params as { id: string };
      const { amount } = request.body as RefundBody;
      return payments.refund(request.merchantId, request.idempotencyKey, id, amount, request.claim);
    }) satisfies GatedHandler as never,
  );

  r.get(
    '/v1/payments/:id',
    {
      schema: {
        operationId: 'getPayment',
        tags: ['payments'],
        summary: 'A payment with its attempts',
        params: PaymentParams,
        response: answers({ 200: payment('The payment') }, ['PAYMENT_NOT_FOUND']),
      },
    },
    async (request) => {
      request.metadata.payment_id = request.params.id;
      return payments.get(request.merchantId, request.params.id);
    },
  );

  r.get(
    '/v1/payments',
    {
      schema: {
        operationId: 'listPayments',
        tags: ['payments'],
        summary: 'Payments, newest first',
        querystring: ListQuery,
        response: answers({ 200: { schema: PaymentList, description: 'A page of payments; `next_cursor` fetches the next' } }, []),
      },
    },
    async (request) => {
      const page = await payments.list(request.merchantId, request.query.limit ?? 20, request.query.cursor);
      return { object: 'list' as const, ...page };
    },
  );

  r.get(
    '/v1/payments/:id/events',
    {
      schema: {
        operationId: 'listPaymentEvents',
        tags: ['payments'],
        summary: "The payment's lifecycle timeline",
        params: PaymentParams,
        response: answers({ 200: { schema: PaymentEvents, description: 'Every event of the payment, oldest first' } }, ['PAYMENT_NOT_FOUND']),
      },
    },
    async (request) => {
      request.metadata.payment_id = request.params.id;
      return { object: 'list' as const, data: await payments.events(request.merchantId, request.params.id) };
    },
  );
}
