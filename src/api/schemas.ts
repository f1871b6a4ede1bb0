import { Type, type Static } from 'typebox';
import { MAX_AMOUNT } from '../payments/money.js';
import { GATEWAY_OPERATIONS } from '../gateways/port.js';
import { ATTEMPT_STATUSES, PAYMENT_STATUSES } from '../payments/states.js';

/** Route schemas: one declaration gives validation, response serialization, types and OpenAPI. */

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    request_id: Type.Optional(Type.String({ description: 'The request that got this answer (its `Request-Id`); a stored answer replayed names the request that produced it' })),
  },
  { additionalProperties: true, $id: 'Problem', description: 'RFC 9457 problem details with a stable `code`' },
);

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const Attempt = Type.Object({
  id: Type.String(),
  operation: Type.Union(GATEWAY_OPERATIONS.map((o) => Type.Literal(o))),
  attempt_no: Type.Integer(),
  gateway: Type.String(),
  gateway_key: Type.String(),
  amount: Type.Integer(),
  status: Type.Union(ATTEMPT_STATUSES.map((s) => Type.Literal(s))),
  decline_code: Nullable(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
  completed_at: Nullable(Type.String({ format: 'date-time' })),
});

export const Payment = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('payment'),
    amount: Type.Integer(),
    currency: Type.String(),
    capture_method: Type.Union([Type.Literal('automatic'), Type.Literal('manual')]),
    status: Type.Union(PAYMENT_STATUSES.map((s) => Type.Literal(s))),
    payment_method: Type.Object({ type: Type.Literal('card'), token: Type.String() }),
    reference: Nullable(Type.String()),
    metadata: Type.Record(Type.String(), Type.String()),
    gateway: Nullable(Type.String()),
    amount_authorized: Type.Integer(),
    amount_captured: Type.Integer(),
    amount_refunded: Type.Integer(),
    amount_voided: Type.Integer(),
    decline_code: Nullable(Type.String()),
    idempotency_key: Type.String(),
    attempts: Type.Array(Attempt),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'Payment' },
);

export const CreatePaymentBody = Type.Object(
  {
    amount: Type.Integer({ minimum: 1, maximum: MAX_AMOUNT, description: 'minor units' }),
    currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217, upper-case' }),
    capture_method: Type.Union([Type.Literal('automatic'), Type.Literal('manual')]),
    payment_method: Type.Object(
      {
        type: Type.Literal('card'),
        token: Type.String({ pattern: '^tok_[A-Za-z0-9_]{1,120}$', description: 'a gateway token, never a card number' }),
      },
      { additionalProperties: false },
    ),
    reference: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    gateway: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
    // Not Type.Record: its `^.*$` key pattern misses keys with line breaks, whose values then
    // went unchecked, and it dropped the key length.
    metadata: Type.Optional(
      Type.Unsafe<Record<string, string>>(
        Type.Object({}, { additionalProperties: Type.String({ maxLength: 500 }), propertyNames: { maxLength: 40 }, maxProperties: 50 }),
      ),
    ),
  },
  { additionalProperties: false },
);
export type CreatePaymentBody = Static<typeof CreatePaymentBody>;

const Amount = Type.Integer({ minimum: 1, maximum: MAX_AMOUNT, description: 'minor units' });

export const CaptureBody = Type.Object(
  { amount: Type.Optional({ ...Amount, description: 'minor units; default: the whole authorization' }) },
  { additionalProperties: false },
);
export type CaptureBody = Static<typeof CaptureBody>;

export const VoidBody = Type.Object({}, { additionalProperties: false });

export const RefundBody = Type.Object(
  {
    amount: Type.Optional({ ...Amount, description: 'minor units; default: all that is left to refund' }),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  },
  { additionalProperties: false },
);
export type RefundBody = Static<typeof RefundBody>;

export const PaymentParams = Type.Object(
  { id: Type.String({ pattern: '^pay_[0-9a-z]{1,64}$' }) },
  { additionalProperties: false },
);

export const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: '1–100, default 20' })),
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

export const PaymentList = Type.Object({
  object: Type.Literal('list'),
  data: Type.Array(Payment),
  has_more: Type.Boolean(),
  next_cursor: Nullable(Type.String()),
});

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
  { additionalProperties: false },
);

/** One event (docs/events.md). */
export const Event = Type.Object({
  id: Type.String(),
  object: Type.Literal('event'),
  type: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  merchant_id: Nullable(Type.String()),
  payment_id: Nullable(Type.String()),
  sequence: Nullable(Type.Integer()),
  data: Type.Record(Type.String(), Type.Unknown()),
  metadata: EventMetadata,
});

export const PaymentEvents = Type.Object({
  object: Type.Literal('list'),
  data: Type.Array(Event),
});

export const AuthHeaders = Type.Object({ authorization: Type.Optional(Type.String()) });
export const PostHeaders = Type.Object({
  authorization: Type.Optional(Type.String()),
  'idempotency-key': Type.Optional(Type.String({ description: '1–255 printable ASCII characters; required' })),
});

export const problemResponses = {
  '4xx': Type.Ref('Problem'),
  '5xx': Type.Ref('Problem'),
};

export const EventList = Type.Object({
  object: Type.Literal('list'),
  data: Type.Array(Event),
  has_more: Type.Boolean(),
});

const EVENT_ID = '^evt_[0-9a-z_]{1,64}$';
const TYPE_LIST = '^[a-z_.]{1,64}(,[a-z_.]{1,64}){0,31}$';

export const EventListQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: '1–100, default 20' })),
    starting_after: Type.Optional(Type.String({ pattern: EVENT_ID, description: 'an event id: the page starts after it' })),
    type: Type.Optional(Type.String({ pattern: TYPE_LIST, description: 'event types, comma-separated' })),
  },
  { additionalProperties: false },
);

export const EventStreamQuery = Type.Object(
  {
    starting_after: Type.Optional(Type.String({ pattern: EVENT_ID })),
    type: Type.Optional(Type.String({ pattern: TYPE_LIST })),
  },
  { additionalProperties: false },
);

export const EventParams = Type.Object({ id: Type.String({ pattern: EVENT_ID }) });

export const WebhookEndpoint = Type.Object({
  id: Type.String(),
  object: Type.Literal('webhook_endpoint'),
  url: Type.String(),
  event_types: Nullable(Type.Array(Type.String())),
  status: Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]),
  disabled_reason: Nullable(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  secret: Type.Optional(Type.String({ description: 'whsec_…: shown only when the endpoint is created or its secret rotated' })),
  previous_secret_expires_at: Type.Optional(Nullable(Type.String({ format: 'date-time' }))),
});

export const WebhookEndpointList = Type.Object({ object: Type.Literal('list'), data: Type.Array(WebhookEndpoint) });

export const CreateWebhookEndpointBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 4096 }),
    event_types: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { minItems: 1, maxItems: 64 })),
  },
  { additionalProperties: false },
);
export type CreateWebhookEndpointBody = Static<typeof CreateWebhookEndpointBody>;

export const EmptyBody = Type.Object({}, { additionalProperties: false });

export const ReplayBody = Type.Object(
  {
    from: Type.String({ format: 'date-time', maxLength: 40 }),
    to: Type.String({ format: 'date-time', maxLength: 40 }),
  },
  { additionalProperties: false },
);
export type ReplayBody = Static<typeof ReplayBody>;

export const ReplayAnswer = Type.Object({
  object: Type.Literal('webhook_replay'),
  webhook_endpoint: Type.String(),
  from: Type.String(),
  to: Type.String(),
  queued: Type.Integer(),
  truncated: Type.Boolean(),
});

export const WebhookEndpointParams = Type.Object({ id: Type.String({ pattern: '^we_[0-9a-z]{1,64}$' }) });
export const DeletedWebhookEndpoint = Type.Object({ id: Type.String(), object: Type.Literal('webhook_endpoint'), deleted: Type.Literal(true) });
