import { Type, type Static, type TSchema } from 'typebox';
import { currencies, MAX_AMOUNT } from '../payments/money.js';
import { GATEWAY_OPERATIONS } from '../gateways/port.js';
import { ATTEMPT_STATUSES, PAYMENT_STATUSES } from '../payments/states.js';

/**
 * Route schemas: one declaration gives validation, response serialization, types and OpenAPI.
 * Every schema a client names has an `$id`, which becomes its name under
 * `components.schemas` in `/openapi.json` (src/api/openapi.ts).
 */

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
/** A reference to a named schema (its `$id`), typed as the schema itself. */
export const ref = <T extends TSchema & { $id?: string }>(schema: T) => Type.Unsafe<Static<T>>(Type.Ref(schema.$id!));
/** A closed set of strings, as one `enum` (what generated clients turn into a string union). */
export const OneOf = <const T extends readonly string[]>(values: T, options: { description?: string; $id?: string } = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });

export const Problem = Type.Object(
  {
    type: Type.String({ format: 'uri', description: 'https://idem.dev/errors/<code>' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'A stable code (docs/errors.md)' }),
    request_id: Type.Optional(Type.String({ description: 'The request that got this answer (its `Request-Id`); a stored answer replayed names the request that produced it' })),
  },
  {
    additionalProperties: true,
    $id: 'Problem',
    description: 'RFC 9457 problem details with a stable `code`; some codes add members (`payment_id`, `payment_status`, …)',
    examples: [
      {
        type: 'https://idem.dev/errors/IDEM_KEY_MISSING',
        title: 'Idempotency-Key header is required',
        status: 400,
        detail: 'send an Idempotency-Key header (1–255 printable ASCII characters) with every POST',
        code: 'IDEM_KEY_MISSING',
        request_id: 'req_0123456789abcdef',
      },
    ],
  },
);

export const PaymentStatus = OneOf(PAYMENT_STATUSES);

/** 402 `PAYMENT_DECLINED`: the problem with the gateway's decline code and the payment it concerns. */
export const PaymentDeclinedProblem = Type.Object(
  {
    type: Type.String({ format: 'uri' }),
    title: Type.String(),
    status: Type.Literal(402),
    detail: Type.String(),
    code: Type.Literal('PAYMENT_DECLINED'),
    payment_id: Type.String(),
    decline_code: Type.String({ description: 'The gateway’s reason, as it gave it (e.g. `insufficient_funds`, `do_not_honor`)' }),
    payment_status: PaymentStatus,
    request_id: Type.Optional(Type.String({ description: 'The request that made the payment declined; a replay names it too' })),
  },
  {
    $id: 'PaymentDeclinedProblem',
    description: 'The gateway declined the operation; stored and replayed like a success',
    examples: [
      {
        type: 'https://idem.dev/errors/PAYMENT_DECLINED',
        title: 'The payment was declined',
        status: 402,
        detail: 'the gateway declined the payment (insufficient_funds)',
        code: 'PAYMENT_DECLINED',
        payment_id: 'pay_01hx2c3d4e5f6g7h8j9k',
        decline_code: 'insufficient_funds',
        payment_status: 'declined',
        request_id: 'req_0123456789abcdef',
      },
    ],
  },
);

export const Attempt = Type.Object(
  {
    id: Type.String(),
    operation: OneOf(GATEWAY_OPERATIONS),
    attempt_no: Type.Integer(),
    gateway: Type.String(),
    gateway_key: Type.String(),
    amount: Type.Integer(),
    status: OneOf(ATTEMPT_STATUSES),
    decline_code: Nullable(Type.String()),
    created_at: Type.String({ format: 'date-time' }),
    completed_at: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'Attempt', description: 'One try of one operation at one gateway' },
);

const paymentFields = {
  id: Type.String(),
  object: Type.Literal('payment'),
  amount: Type.Integer({ description: 'minor units' }),
  currency: Type.String(),
  capture_method: OneOf(['automatic', 'manual'] as const),
  status: PaymentStatus,
  payment_method: Type.Object({ type: Type.Literal('card'), token: Type.String() }),
  reference: Nullable(Type.String()),
  metadata: Type.Unsafe<Record<string, string>>(Type.Object({}, { additionalProperties: Type.String() })),
  gateway: Nullable(Type.String()),
  amount_authorized: Type.Integer(),
  amount_captured: Type.Integer(),
  amount_refunded: Type.Integer(),
  amount_voided: Type.Integer(),
  decline_code: Nullable(Type.String()),
  idempotency_key: Type.String(),
};

const paymentExample = {
  id: 'pay_01hx2c3d4e5f6g7h8j9k',
  object: 'payment',
  amount: 2500,
  currency: 'EUR',
  capture_method: 'manual',
  status: 'authorized',
  payment_method: { type: 'card', token: 'tok_visa' },
  reference: 'order-1042',
  metadata: { order: '1042' },
  gateway: 'sim_a',
  amount_authorized: 2500,
  amount_captured: 0,
  amount_refunded: 0,
  amount_voided: 0,
  decline_code: null,
  idempotency_key: '0190f8a2-7c1e-7b3a-9d2e-3f4a5b6c7d8e',
};
const stamps = { created_at: '2026-01-05T10:00:00.000Z', updated_at: '2026-01-05T10:00:00.120Z' };

export const Payment = Type.Object(
  { ...paymentFields, attempts: Type.Array(Type.Ref('Attempt')), created_at: Type.String({ format: 'date-time' }), updated_at: Type.String({ format: 'date-time' }) },
  { $id: 'Payment', examples: [{ ...paymentExample, attempts: [], ...stamps }] },
);

/** The payment as `payment.*` events carry it (`data.payment`): without its attempts. */
export const PaymentSnapshot = Type.Object(
  { ...paymentFields, created_at: Type.String({ format: 'date-time' }), updated_at: Type.String({ format: 'date-time' }) },
  { $id: 'PaymentSnapshot', description: 'A payment as it stood when the event was written, without its attempts' },
);

export const CreatePaymentBody = Type.Object(
  {
    amount: Type.Integer({ minimum: 1, maximum: MAX_AMOUNT, description: 'minor units' }),
    currency: OneOf(currencies, { description: 'ISO 4217, upper-case' }),
    capture_method: OneOf(['automatic', 'manual'] as const),
    payment_method: Type.Object(
      {
        type: Type.Literal('card'),
        token: Type.String({ pattern: '^tok_[A-Za-z0-9_]{1,120}$', description: 'a gateway token, never a card number' }),
      },
      { additionalProperties: false },
    ),
    reference: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    gateway: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'one of the configured gateways (`GET /v1/gateways`); absent: the routing policy picks' })),
    // Not Type.Record: its `^.*$` key pattern misses keys with line breaks, whose values then
    // went unchecked, and it dropped the key length. (`propertyNames` needs OpenAPI 3.1.)
    metadata: Type.Optional(
      Type.Unsafe<Record<string, string>>(
        Type.Object(
          {},
          { additionalProperties: Type.String({ maxLength: 500 }), propertyNames: { maxLength: 40 }, maxProperties: 50, description: 'up to 50 keys of at most 40 characters, values at most 500' },
        ),
      ),
    ),
  },
  {
    additionalProperties: false,
    $id: 'CreatePaymentRequest',
    examples: [{ amount: 2500, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' }, reference: 'order-1042', metadata: { order: '1042' } }],
  },
);
export type CreatePaymentBody = Static<typeof CreatePaymentBody>;

const Amount = Type.Integer({ minimum: 1, maximum: MAX_AMOUNT, description: 'minor units' });

export const CaptureBody = Type.Object(
  { amount: Type.Optional({ ...Amount, description: 'minor units; default: the whole authorization' }) },
  { additionalProperties: false, $id: 'CaptureRequest', examples: [{ amount: 1500 }] },
);
export type CaptureBody = Static<typeof CaptureBody>;

export const VoidBody = Type.Object({}, { additionalProperties: false });

export const RefundBody = Type.Object(
  {
    amount: Type.Optional({ ...Amount, description: 'minor units; default: all that is left to refund' }),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  },
  { additionalProperties: false, $id: 'RefundRequest', examples: [{ amount: 500, reason: 'returned item' }] },
);
export type RefundBody = Static<typeof RefundBody>;

export const PaymentParams = Type.Object(
  { id: Type.String({ pattern: '^pay_[0-9a-z]{1,64}$', examples: ['pay_01hx2c3d4e5f6g7h8j9k'] }) },
  { additionalProperties: false },
);

/** `limit`: an integer 1–100 in the URL (ajv reads the digits: `coerceTypes` is on for query strings only). */
const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'page size, 1–100' }));

export const ListQuery = Type.Object(
  {
    limit: Limit,
    cursor: Type.Optional(Type.String({ maxLength: 500, description: '`next_cursor` of the previous page' })),
  },
  { additionalProperties: false },
);

export const PaymentList = Type.Object(
  {
    object: Type.Literal('list'),
    data: Type.Array(Type.Ref('Payment')),
    has_more: Type.Boolean(),
    next_cursor: Nullable(Type.String()),
  },
  { $id: 'PaymentList' },
);

/** The standard transaction metadata on every event (docs/metadata.md). */
export const EventMetadata = Type.Object(
  {
    merchant_id: Type.Optional(Type.String()),
    payment_id: Type.Optional(Type.String()),
    idempotency_key: Type.Optional(Type.String()),
    request_id: Type.Optional(Type.String()),
    attempt_id: Type.Optional(Type.String()),
    attempt_no: Type.Optional(Type.Integer()),
    operation: Type.Optional(Type.String()),
    gateway: Type.Optional(Type.String()),
    gateway_key: Type.Optional(Type.String()),
    trace_id: Type.Optional(Type.String()),
  },
  { additionalProperties: false, $id: 'EventMetadata' },
);

/** What an event carries besides its envelope: `payment` on `payment.*` events, `attempt` on `attempt.*`, … (docs/events.md). */
export const EventData = Type.Object(
  { payment: Type.Optional(Type.Ref('PaymentSnapshot')) },
  { additionalProperties: true, $id: 'EventData', description: '`payment` (the payment as it stood) on every `payment.*` event; other members by type (docs/events.md)' },
);

/** One event (docs/events.md). */
export const Event = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('event'),
    type: Type.String({ description: 'e.g. `payment.captured` (docs/events.md lists them all)' }),
    created_at: Type.String({ format: 'date-time' }),
    merchant_id: Nullable(Type.String()),
    payment_id: Nullable(Type.String()),
    sequence: Nullable(Type.Integer()),
    data: Type.Ref('EventData'),
    metadata: Type.Ref('EventMetadata'),
  },
  { $id: 'Event' },
);

export const PaymentEvents = Type.Object({ object: Type.Literal('list'), data: Type.Array(Type.Ref('Event')) }, { $id: 'PaymentTimeline' });

export const PostHeaders = Type.Object({
  'idempotency-key': Type.String({
    minLength: 1,
    maxLength: 255,
    pattern: '^[\\x20-\\x7E]+$',
    description: 'Made once per intent by the client (a UUIDv7 is a good choice) and sent again, unchanged, with every retry (docs/idempotency.md)',
    examples: ['0190f8a2-7c1e-7b3a-9d2e-3f4a5b6c7d8e'],
  }),
});

export const EventList = Type.Object(
  {
    object: Type.Literal('list'),
    data: Type.Array(Type.Ref('Event')),
    has_more: Type.Boolean(),
  },
  { $id: 'EventList' },
);

const EVENT_ID = '^evt_[0-9a-z_]{1,64}$';
const TYPE_LIST = '^[a-z_.]{1,64}(,[a-z_.]{1,64}){0,31}$';

export const EventListQuery = Type.Object(
  {
    limit: Limit,
    starting_after: Type.Optional(Type.String({ pattern: EVENT_ID, description: 'an event id: the page starts after it' })),
    type: Type.Optional(Type.String({ pattern: TYPE_LIST, description: 'event types, comma-separated' })),
  },
  { additionalProperties: false },
);

export const EventStreamQuery = Type.Object(
  {
    starting_after: Type.Optional(Type.String({ pattern: EVENT_ID, description: 'an event id: the stream starts after it (`Last-Event-ID` wins when both are sent)' })),
    type: Type.Optional(Type.String({ pattern: TYPE_LIST, description: 'event types, comma-separated' })),
  },
  { additionalProperties: false },
);

export const EventParams = Type.Object({ id: Type.String({ pattern: EVENT_ID }) });

const endpointFields = {
  id: Type.String(),
  object: Type.Literal('webhook_endpoint'),
  url: Type.String(),
  event_types: Nullable(Type.Array(Type.String(), { description: 'null: the merchant-facing events (`payment.*`, `reconciliation.*`, `webhook_endpoint.*`), no `attempt.*` (docs/events.md)' })),
  status: OneOf(['enabled', 'disabled'] as const),
  disabled_reason: Nullable(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
};

export const WebhookEndpoint = Type.Object(endpointFields, { $id: 'WebhookEndpoint' });

/** The answer to create and rotate_secret: the endpoint with its signing secret, shown there only. */
export const WebhookEndpointWithSecret = Type.Object(
  {
    ...endpointFields,
    secret: Type.String({ description: 'whsec_…: shown only when the endpoint is created or its secret rotated' }),
    previous_secret_expires_at: Type.Optional(Nullable(Type.String({ format: 'date-time', description: 'after a rotation: until when the old secret still signs' }))),
  },
  { $id: 'WebhookEndpointWithSecret' },
);

export const WebhookEndpointList = Type.Object({ object: Type.Literal('list'), data: Type.Array(Type.Ref('WebhookEndpoint')) }, { $id: 'WebhookEndpointList' });

export const CreateWebhookEndpointBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 4096 }),
    event_types: Type.Optional(
      Type.Array(Type.String({ maxLength: 64 }), { minItems: 1, maxItems: 64, description: 'absent: the merchant-facing events; name `attempt.*` types to get them (docs/events.md)' }),
    ),
  },
  { additionalProperties: false, $id: 'CreateWebhookEndpointRequest', examples: [{ url: 'https://shop.example/hooks/idem', event_types: ['payment.captured', 'payment.refunded'] }] },
);
export type CreateWebhookEndpointBody = Static<typeof CreateWebhookEndpointBody>;

export const EmptyBody = Type.Object({}, { additionalProperties: false });

export const ReplayBody = Type.Object(
  {
    from: Type.String({ format: 'date-time', maxLength: 40 }),
    to: Type.String({ format: 'date-time', maxLength: 40 }),
  },
  { additionalProperties: false, $id: 'WebhookReplayRequest', examples: [{ from: '2026-01-05T00:00:00Z', to: '2026-01-06T00:00:00Z' }] },
);
export type ReplayBody = Static<typeof ReplayBody>;

export const ReplayAnswer = Type.Object(
  {
    object: Type.Literal('webhook_replay'),
    webhook_endpoint: Type.String(),
    from: Type.String({ format: 'date-time' }),
    to: Type.String({ format: 'date-time' }),
    queued: Type.Integer(),
    truncated: Type.Boolean(),
  },
  { $id: 'WebhookReplay' },
);

export const WebhookEndpointParams = Type.Object({ id: Type.String({ pattern: '^we_[0-9a-z]{1,64}$' }) });
export const DeletedWebhookEndpoint = Type.Object(
  { id: Type.String(), object: Type.Literal('webhook_endpoint'), deleted: Type.Literal(true) },
  { $id: 'DeletedWebhookEndpoint' },
);

/**
 * Every schema a route names by `$ref`, by its `$id`: registered once on the app (so validation,
 * serialization and the document share them) and the context to check a value against one.
 *
 * @example
 * Value.Check(NAMED_SCHEMAS, Payment, body)
 */
export const NAMED_SCHEMAS = {
  Problem,
  PaymentDeclinedProblem,
  Attempt,
  Payment,
  PaymentSnapshot,
  PaymentList,
  PaymentTimeline: PaymentEvents,
  CreatePaymentRequest: CreatePaymentBody,
  CaptureRequest: CaptureBody,
  RefundRequest: RefundBody,
  EventMetadata,
  EventData,
  Event,
  EventList,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
  WebhookEndpointList,
  CreateWebhookEndpointRequest: CreateWebhookEndpointBody,
  WebhookReplayRequest: ReplayBody,
  WebhookReplay: ReplayAnswer,
  DeletedWebhookEndpoint,
};
