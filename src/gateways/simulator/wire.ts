/**
 * The simulated processor's request and answer as a transport carries them — the one mapping
 * both transports use: the HTTP server (`./server.ts`) parses `POST /v1/<operation>` into a
 * processor request with it, and the in-process connector (`./connector.ts`) sends Idem's
 * gateway request through the same body, so the simulator cannot answer the two differently.
 *
 *   GatewayRequest ─► operationBody ─┐                        ┌─► HTTP reply (server)
 *   POST body + Idempotency-Key ─────┴► toSimulatorRequest ─► processor ─► wireAnswer
 *                                                                      └─► HttpExchange (connector)
 */
import Type, { type Static } from 'typebox';
import type { GatewayOperation, GatewayRequest } from '../port.js';
import type { SimulatorAnswer } from './processor.js';
import type { SimulatorRequest } from './request.js';

/** The JSON body of `POST /v1/<operation>`; the gateway key travels as `Idempotency-Key`. */
export const OperationBody = Type.Object({
  amount: Type.Integer({ minimum: 0 }),
  currency: Type.String({ pattern: '^[A-Z]{3}$' }),
  reference: Type.String({ minLength: 1, maxLength: 255 }),
  authorization_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  token: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
});

export type OperationBody = Static<typeof OperationBody>;

/** Idem's gateway request as the body a simulator expects (fields Idem does not set are left out). */
export function operationBody(request: GatewayRequest): OperationBody {
  return {
    amount: request.amount,
    currency: request.currency,
    reference: request.reference,
    ...(request.authorizationId !== undefined ? { authorization_id: request.authorizationId } : {}),
    ...(request.token !== undefined ? { token: request.token } : {}),
  };
}

/** An operation's body and key (and the merchant the caller names) as the processor's request. */
export function toSimulatorRequest(operation: GatewayOperation, idempotencyKey: string, body: OperationBody, merchantId?: string): SimulatorRequest {
  return {
    operation,
    idempotencyKey,
    amount: body.amount,
    currency: body.currency,
    reference: body.reference,
    authorizationId: body.authorization_id ?? null,
    token: body.token ?? null,
    merchantId: merchantId ?? null,
  };
}

/**
 * A processor answer as it reaches the client: status, headers and a JSON body that shares no
 * object with the processor (a JSON round trip, as on the wire). Latency and dropped answers
 * are the transport's part.
 */
export function wireAnswer(answer: SimulatorAnswer): { status: number; headers: Record<string, string>; body: unknown } {
  return { status: answer.status, headers: { ...answer.headers }, body: JSON.parse(JSON.stringify(answer.body)) as unknown };
}
