import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { IdemError } from '../../errors/registry.js';
import type { Clock } from '../../ports/clock.js';
import { type AdyenNotificationTarget, receiveAdyenNotifications } from '../../gateways/adyen/receive.js';
import { answers } from '../openapi.js';

/** Adyen's notification bodies are a few KiB; one with many items stays far below this. */
export const NOTIFICATION_BODY_LIMIT = 64 * 1024;

const NotificationParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) });

const NotificationRequest = Type.Object(
  {
    live: Type.Optional(Type.String()),
    notificationItems: Type.Array(Type.Object({ NotificationRequestItem: Type.Record(Type.String(), Type.Unknown()) }, { additionalProperties: true }), { minItems: 1 }),
  },
  { $id: 'AdyenNotificationRequest', additionalProperties: true, description: 'Adyen standard webhook (Webhooks v1 `NotificationRequest`); each item HMAC-signed' },
);

/**
 * `POST /v1/gateways/{name}/notifications`: where a processor tells the outcome of operations
 * it answered for later (docs/gateways.md, "How notifications flow"). Public with respect to
 * bearer auth — the processor has no Idem key — and trusted only through each item's HMAC.
 * Stored before `[accepted]` is answered; a refusal (bad signature, malformed, another merchant
 * account) stores nothing, and no answer or log line carries a key or a signature.
 */
export function registerGatewayNotificationRoutes(app: FastifyInstance, targets: ReadonlyMap<string, AdyenNotificationTarget>, clock: Clock): void {
  app.post<{ Params: { name: string } }>(
    '/v1/gateways/:name/notifications',
    {
      bodyLimit: NOTIFICATION_BODY_LIMIT,
      schema: {
        operationId: 'receiveGatewayNotifications',
        tags: ['gateways'],
        summary: 'Receive a processor notification (Adyen standard webhook), HMAC-verified, stored, then acknowledged',
        security: [],
        params: NotificationParams,
        body: NotificationRequest,
        // Public (no bearer key, each item's HMAC is the proof) and not gated: the processor sends
        // no Idempotency-Key and a duplicate changes nothing (docs/api.md, "The one POST without a key").
        response: answers(
          { 200: { schema: Type.Literal('[accepted]'), description: 'Stored (or already stored): Adyen\u2019s expected acknowledgement', media: 'text/plain' } },
          ['CARD_DATA_REFUSED', 'NOTIFICATION_SIGNATURE_INVALID', 'GATEWAY_NOT_FOUND'],
          { public: true },
        ),
      },
    },
    async (request, reply) => {
      const gateway = request.params.name;
      const target = targets.get(gateway);
      if (target === undefined) throw new IdemError('GATEWAY_NOT_FOUND', `no gateway named ${JSON.stringify(gateway.slice(0, 100))} takes notifications`);
      const received = await receiveAdyenNotifications(target, request.body, clock.now());
      switch (received.kind) {
        case 'malformed':
          request.log.warn({ gateway, why: received.reason }, 'notification refused: malformed');
          throw new IdemError('VALIDATION_FAILED', `the notification is malformed: ${received.reason}`);
        case 'bad_signature':
          request.log.warn({ gateway, psp_reference: received.pspReference }, 'notification refused: its HMAC signature does not verify');
          throw new IdemError('NOTIFICATION_SIGNATURE_INVALID', 'a notification item is unsigned or its HMAC signature does not verify; nothing was stored');
        case 'other_account':
          request.log.warn({ gateway }, 'notification refused: for another merchant account');
          throw new IdemError('VALIDATION_FAILED', 'the notification is for another merchant account than this gateway\u2019s; nothing was stored');
        case 'accepted':
          for (const item of received.items) {
            const fields = { gateway, psp_reference: item.pspReference, event_code: item.eventCode, success: item.success, gateway_key: item.merchantReference };
            if (item.recorded) request.log.info(fields, 'notification stored');
            else request.log.warn(fields, 'notification for no attempt Idem recorded: stored for reconciliation, nothing settled');
          }
          return reply.code(200).type('text/plain; charset=utf-8').send('[accepted]');
      }
    },
  );
}
