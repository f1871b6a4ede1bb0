import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { IdemError } from '../../errors/registry.js';
import { isCurrency } from '../../payments/money.js';
import type { PaymentRequestKind } from '../../payments/result.js';
import type { PaymentService } from '../../payments/service.js';
import type { GatewayRouter } from '../../gateways/router.js';
import type { GatedHandler } from '../plugins/idempotency.js';
import {
  AuthHeaders,
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
  problemResponses,
} from '../schemas.js';

/**
 * `/v1/payments` routes. Registered in a context that already has auth and the gate: each POST
 * handler runs at most once per key and returns its outcome, which the gate stores and sends.
 */
export function registerPaymentRoutes(app: FastifyInstance, payments: PaymentService, gateways: GatewayRouter): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/v1/payments',
    {
      config: { operation: 'create' satisfies PaymentRequestKind },
      schema: {
        summary: 'Create a payment and authorize it (and capture it when capture_method is automatic)',
        headers: PostHeaders,
        body: CreatePaymentBody,
        response: { 201: Payment, 202: Payment, ...problemResponses },
      },
    },
    (async (request) => {
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
      );
    }) satisfies GatedHandler as never,
  );

  r.post(
    '/v1/payments/:id/capture',
    {
      config: { operation: 'capture' satisfies PaymentRequestKind },
      schema: {
        summary: 'Capture all or part of an authorization',
        headers: PostHeaders,
        params: PaymentParams,
        body: CaptureBody,
        response: { 200: Payment, 202: Payment, ...problemResponses },
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
        summary: 'Cancel an uncaptured authorization',
        headers: PostHeaders,
        params: PaymentParams,
        body: VoidBody,
        response: { 200: Payment, 202: Payment, ...problemResponses },
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
        summary: 'Refund all or part of a capture',
        headers: PostHeaders,
        params: PaymentParams,
        body: RefundBody,
        response: { 200: Payment, 202: Payment, ...problemResponses },
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
    { schema: { summary: 'A payment with its attempts', headers: AuthHeaders, params: PaymentParams, response: { 200: Payment, ...problemResponses } } },
    async (request) => {
      request.metadata.payment_id = request.params.id;
      return payments.get(request.merchantId, request.params.id);
    },
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
    async (request) => {
      request.metadata.payment_id = request.params.id;
      return { object: 'list' as const, data: await payments.events(request.merchantId, request.params.id) };
    },
  );
}
