/**
 * The client's types, read from the OpenAPI document the server serves (generated into
 * ./generated/openapi.ts by `npm run build`, docs/client.md) by path and method — never by
 * component schema name, so they follow the document whatever its schemas are called.
 */
import type { paths } from './generated/openapi.js';

type Op<P extends keyof paths, M extends string> = M extends keyof paths[P] ? NonNullable<paths[P][M]> : never;
type Json<C> = C extends { content: { 'application/json': infer B } } ? B : never;

/** The JSON body a route takes. */
export type BodyOf<P extends keyof paths, M extends string> = Op<P, M> extends { requestBody?: infer R } ? Json<NonNullable<R>> : never;
/** The JSON answer of a route with this status. */
export type AnswerOf<P extends keyof paths, M extends string, S extends number> = Op<P, M> extends { responses: infer R } ? (S extends keyof R ? Json<R[S]> : never) : never;
/** A route's query parameters. */
export type QueryOf<P extends keyof paths, M extends string> = Op<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;
/** A list query with its parameters as numbers or strings, whichever the document types them as. */
export type ListParams<Q> = { [K in keyof Q]?: Q[K] | (Q[K] extends string | undefined ? number : never) };

export type Payment = AnswerOf<'/v1/payments/{id}', 'get', 200>;
export type PaymentStatus = Payment['status'];
export type CreatePaymentParams = BodyOf<'/v1/payments', 'post'>;
export type CaptureParams = BodyOf<'/v1/payments/{id}/capture', 'post'>;
export type RefundParams = BodyOf<'/v1/payments/{id}/refunds', 'post'>;
export type PaymentList = AnswerOf<'/v1/payments', 'get', 200>;
export type PaymentTimeline = AnswerOf<'/v1/payments/{id}/events', 'get', 200>;
export type Event = AnswerOf<'/v1/events/{id}', 'get', 200>;
export type EventList = AnswerOf<'/v1/events', 'get', 200>;
export type WebhookEndpoint = AnswerOf<'/v1/webhook_endpoints/{id}', 'get', 200>;
/** The create answer: the endpoint with its signing secret, shown this once. */
export type NewWebhookEndpoint = AnswerOf<'/v1/webhook_endpoints', 'post', 201>;
export type CreateWebhookEndpointParams = BodyOf<'/v1/webhook_endpoints', 'post'>;
export type WebhookEndpointList = AnswerOf<'/v1/webhook_endpoints', 'get', 200>;
export type DeletedWebhookEndpoint = AnswerOf<'/v1/webhook_endpoints/{id}', 'delete', 200>;
export type ReplayParams = BodyOf<'/v1/webhook_endpoints/{id}/replay', 'post'>;
export type ReplayAnswer = AnswerOf<'/v1/webhook_endpoints/{id}/replay', 'post', 202>;
export type GatewayList = AnswerOf<'/v1/gateways', 'get', 200>;
export type ReconciliationCase = AnswerOf<'/v1/reconciliation/cases/{id}', 'get', 200>;
export type ReconciliationCaseList = AnswerOf<'/v1/reconciliation/cases', 'get', 200>;
export type ResolveCaseParams = BodyOf<'/v1/reconciliation/cases/{id}/resolve', 'post'>;
export type PaymentListQuery = ListParams<QueryOf<'/v1/payments', 'get'>>;
export type EventListQuery = ListParams<QueryOf<'/v1/events', 'get'>>;
export type CaseListQuery = ListParams<QueryOf<'/v1/reconciliation/cases', 'get'>>;
export type EventStreamQuery = QueryOf<'/v1/events/stream', 'get'>;
