import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from 'typebox';
import { IdemError } from '../../errors/registry.js';
import type { Metrics } from '../../observability/metrics.js';
import type { Clock } from '../../ports/clock.js';
import type { DeliveryRow } from '../../events/webhookStore.js';
import type { Store } from '../../store/port.js';
import { answers } from '../openapi.js';
import { PaymentParams, WebhookEndpointParams } from '../schemas.js';

/**
 * Read-only views the dashboard draws (docs/dashboard.md): merchants (for the operator), the
 * overview's last hour, and what surrounds one payment — its ledger, its webhook deliveries, the
 * gateway's own records of it. GETs only, registered with auth: a merchant sees its own rows; the
 * operator key sees the merchant its `Idem-Merchant` header names, and the overview and the
 * merchant list across all of them.
 */

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const DateTime = Type.String({ format: 'date-time' });

export const Merchant = Type.Object({ id: Type.String(), name: Type.String() }, { $id: 'Merchant', description: 'A merchant (tenant)' });
const MerchantList = Type.Object(
  {
    object: Type.Literal('list'),
    viewer: Type.Union([Type.Literal('merchant'), Type.Literal('operator')], { description: 'who the key is: a merchant (reads and writes its own) or the operator (reads every merchant)' }),
    data: Type.Array(Type.Ref('Merchant')),
  },
  { $id: 'MerchantList' },
);

export const Overview = Type.Object(
  {
    object: Type.Literal('overview'),
    scope: Type.Union([Type.Literal('merchant'), Type.Literal('all_merchants')]),
    window_minutes: Type.Integer(),
    minutes: Type.Array(
      Type.Object({ minute: DateTime, counts: Type.Record(Type.String(), Type.Integer({ description: 'events of this type in the minute' })) }),
      { description: 'Minutes with events, oldest first' },
    ),
    open_cases: Type.Integer(),
    last_event_id: Nullable(Type.String({ description: 'The newest event of the scope: resume the stream after it' })),
    instance: Type.Object(
      {
        held_duplicates: Type.Number(),
        replays: Type.Number(),
        recoveries: Type.Number(),
      },
      { description: 'This instance\u2019s counters since it started (all merchants): duplicates held behind their first request, stored answers replayed, outbox rows recovery finished' },
    ),
  },
  { $id: 'Overview', description: 'The last hour of events per minute and type, open cases, and this instance\u2019s idempotency counters' },
);

export const LedgerEntry = Type.Object(
  {
    event: Type.String(),
    currency: Type.String(),
    postings: Type.Array(Type.Object({ account: Type.String(), amount: Type.Integer({ description: 'minor units; debits positive' }) })),
  },
  { $id: 'LedgerEntry', description: 'One balanced journal entry (docs/payments.md, "Ledger")' },
);
const LedgerEntryList = Type.Object({ object: Type.Literal('list'), data: Type.Array(Type.Ref('LedgerEntry')) }, { $id: 'LedgerEntryList' });

export const WebhookDelivery = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('webhook_delivery'),
    endpoint_id: Type.String(),
    event_id: Type.String(),
    event_type: Type.String(),
    payment_id: Nullable(Type.String()),
    state: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')]),
    attempts: Type.Integer(),
    last_status: Nullable(Type.Integer({ description: 'the receiver\u2019s last HTTP status' })),
    last_error: Nullable(Type.String()),
    next_attempt_at: DateTime,
    created_at: DateTime,
    completed_at: Nullable(DateTime),
    duration_ms: Nullable(Type.Integer({ description: 'from queued to settled' })),
  },
  { $id: 'WebhookDelivery', description: 'One event queued for one endpoint, with what its sends got (docs/events.md)' },
);
const WebhookDeliveryList = Type.Object({ object: Type.Literal('list'), data: Type.Array(Type.Ref('WebhookDelivery')) }, { $id: 'WebhookDeliveryList' });

export const GatewayRecord = Type.Object(
  {
    object: Type.Literal('gateway_record'),
    gateway: Type.String(),
    id: Type.String(),
    operation: Type.String(),
    status: Type.String(),
    amount: Type.Integer(),
    currency: Type.String(),
    executed_at: DateTime,
    gateway_key: Nullable(Type.String()),
    authorization_id: Nullable(Type.String()),
    reference: Nullable(Type.String()),
    verdict: Nullable(Type.String({ description: 'what reconciliation settled; null: not yet' })),
    verdict_detail: Nullable(Type.String()),
    matched_attempt_id: Nullable(Type.String()),
  },
  { $id: 'GatewayRecord', description: 'A record from the gateway\u2019s own log, as reconciliation read and settled it (docs/reconciliation.md)' },
);
const GatewayRecordList = Type.Object({ object: Type.Literal('list'), data: Type.Array(Type.Ref('GatewayRecord')) }, { $id: 'GatewayRecordList' });

/** The named schemas of these routes, registered on the app by src/api/app.ts. */
export const viewSchemas = (): TSchema[] => [Merchant, MerchantList, Overview, LedgerEntry, LedgerEntryList, WebhookDelivery, WebhookDeliveryList, GatewayRecord, GatewayRecordList];

const DeliveryQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'page size, 1–100, default 50' })) }, { additionalProperties: false });

const HOUR_MS = 60 * 60_000;
/** Gateway records are looked for from a minute before a payment's first attempt to a day after its last. */
const RECORD_SLACK_BEFORE_MS = 60_000;
const RECORD_SLACK_AFTER_MS = 24 * HOUR_MS;

const iso = (d: Date | number) => new Date(d).toISOString();

export function deliveryView(d: DeliveryRow): Record<string, unknown> {
  return {
    id: `whd_${d.id}`,
    object: 'webhook_delivery',
    endpoint_id: d.endpointId,
    event_id: d.eventId,
    event_type: d.eventType,
    payment_id: d.paymentId,
    state: d.state,
    attempts: d.attempts,
    last_status: d.lastStatus,
    last_error: d.lastError,
    next_attempt_at: iso(d.nextAttemptAt),
    created_at: iso(d.createdAt),
    completed_at: d.completedAt === null ? null : iso(d.completedAt),
    duration_ms: d.completedAt === null ? null : Math.max(0, d.completedAt.getTime() - d.createdAt.getTime()),
  };
}

/** Sums a counter's values over the given label values. */
async function counted(counter: { get(): Promise<{ values: Array<{ labels: Record<string, unknown>; value: number }> }> }, label: string, wanted: readonly string[]): Promise<number> {
  const { values } = await counter.get();
  return values.filter((v) => wanted.includes(String(v.labels[label]))).reduce((sum, v) => sum + v.value, 0);
}

export function registerViewRoutes(app: FastifyInstance, store: Store, clock: Clock, metrics: Metrics): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const acrossMerchants = (request: FastifyRequest) => request.operator && request.merchantId === '';

  const paymentOf = async (request: FastifyRequest, id: string) => {
    request.metadata.payment_id = id;
    const payment = await store.findPayment(request.merchantId, id);
    if (!payment) throw new IdemError('PAYMENT_NOT_FOUND', `no payment ${id}`, { extensions: { payment_id: id } });
    return payment;
  };

  r.get(
    '/v1/merchants',
    {
      schema: {
        operationId: 'listMerchants',
        tags: ['dashboard'],
        summary: 'Merchants: every one for the operator key, only its own for a merchant key',
        response: answers({ 200: { schema: MerchantList, description: 'The merchants this key may read, and who the key is' } }, []),
      },
    },
    async (request) => {
      const all = await store.listMerchants();
      return { object: 'list' as const, viewer: request.operator ? ('operator' as const) : ('merchant' as const), data: request.operator ? all : all.filter((m) => m.id === request.merchantId) };
    },
  );

  r.get(
    '/v1/overview',
    {
      schema: {
        operationId: 'getOverview',
        tags: ['dashboard'],
        summary: 'The last hour per minute (payments by state, retries, failovers, remediations), open cases, this instance\u2019s idempotency counters',
        response: answers({ 200: { schema: Overview, description: 'The last hour, open cases and this instance\u2019s counters' } }, []),
      },
    },
    async (request) => {
      const all = acrossMerchants(request);
      const merchant = all ? null : request.merchantId;
      const since = Math.floor((clock.now() - HOUR_MS) / 60_000) * 60_000;
      const activity = await store.eventActivity(merchant, since);
      const minutes = new Map<number, Record<string, number>>();
      for (const b of activity.buckets) minutes.set(b.minute, { ...minutes.get(b.minute), [b.type]: b.count });
      const open = await store.listCases({ ...(merchant === null ? {} : { merchantId: merchant }), status: 'open' });
      return {
        object: 'overview' as const,
        scope: all ? ('all_merchants' as const) : ('merchant' as const),
        window_minutes: 60,
        minutes: [...minutes].sort(([a], [b]) => a - b).map(([minute, counts]) => ({ minute: iso(minute), counts })),
        open_cases: open.length,
        last_event_id: activity.lastEventId,
        instance: {
          held_duplicates: await counted(metrics.gateEvents, 'event', ['held']),
          replays: await counted(metrics.gateEvents, 'event', ['replayed']),
          recoveries: await counted(metrics.recoveries, 'result', ['final']),
        },
      };
    },
  );

  r.get(
    '/v1/payments/:id/ledger',
    {
      schema: {
        operationId: 'listPaymentLedgerEntries',
        tags: ['dashboard'],
        summary: 'The payment\u2019s journal entries, oldest first',
        params: PaymentParams,
        response: answers({ 200: { schema: LedgerEntryList, description: 'The payment\u2019s journal entries' } }, ['PAYMENT_NOT_FOUND']),
      },
    },
    async (request) => {
      const payment = await paymentOf(request, request.params.id);
      return { object: 'list' as const, data: await store.listEntries(payment.id) };
    },
  );

  r.get(
    '/v1/payments/:id/webhook_deliveries',
    {
      schema: {
        operationId: 'listPaymentWebhookDeliveries',
        tags: ['dashboard'],
        summary: 'Webhook deliveries of the payment\u2019s events, newest first',
        params: PaymentParams,
        querystring: DeliveryQuery,
        response: answers({ 200: { schema: WebhookDeliveryList, description: 'The payment\u2019s webhook deliveries' } }, ['PAYMENT_NOT_FOUND']),
      },
    },
    async (request) => {
      const payment = await paymentOf(request, request.params.id);
      const rows = await store.listDeliveries(request.merchantId, { paymentId: payment.id }, request.query.limit ?? 50);
      return { object: 'list' as const, data: rows.map(deliveryView) };
    },
  );

  r.get(
    '/v1/payments/:id/gateway_records',
    {
      schema: {
        operationId: 'listPaymentGatewayRecords',
        tags: ['dashboard'],
        summary: 'The gateways\u2019 own records of the payment, as reconciliation read them',
        params: PaymentParams,
        response: answers({ 200: { schema: GatewayRecordList, description: 'The gateways\u2019 records of the payment' } }, ['PAYMENT_NOT_FOUND']),
      },
    },
    async (request) => {
      const payment = await paymentOf(request, request.params.id);
      const attempts = await store.listAttempts(payment.id);
      const keys = new Set(attempts.map((a) => a.gateway_key));
      const ids = new Set(attempts.map((a) => a.id));
      const found = [];
      for (const gateway of new Set(attempts.map((a) => a.gateway))) {
        const mine = attempts.filter((a) => a.gateway === gateway);
        const from = Math.min(...mine.map((a) => a.created_at.getTime())) - RECORD_SLACK_BEFORE_MS;
        const to = Math.max(...mine.map((a) => (a.completed_at ?? a.created_at).getTime())) + RECORD_SLACK_AFTER_MS;
        const records = await store.listStagedRecords(gateway, from, to);
        found.push(...records.filter((g) => (g.gatewayKey !== undefined && keys.has(g.gatewayKey)) || (g.matchedAttemptId !== null && ids.has(g.matchedAttemptId)) || g.reference === payment.id));
      }
      return {
        object: 'list' as const,
        data: found.map((g) => ({
          object: 'gateway_record' as const,
          gateway: g.gateway,
          id: g.id,
          operation: g.operation,
          status: g.status,
          amount: g.amount,
          currency: g.currency,
          executed_at: iso(g.at),
          gateway_key: g.gatewayKey ?? null,
          authorization_id: g.authorizationId ?? null,
          reference: g.reference ?? null,
          verdict: g.verdict,
          verdict_detail: g.verdictDetail,
          matched_attempt_id: g.matchedAttemptId,
        })),
      };
    },
  );

  r.get(
    '/v1/webhook_endpoints/:id/deliveries',
    {
      schema: {
        operationId: 'listWebhookEndpointDeliveries',
        tags: ['dashboard'],
        summary: 'Deliveries to one webhook endpoint with the receiver\u2019s status codes and timings, newest first',
        params: WebhookEndpointParams,
        querystring: DeliveryQuery,
        response: answers({ 200: { schema: WebhookDeliveryList, description: 'The endpoint\u2019s deliveries' } }, ['WEBHOOK_ENDPOINT_NOT_FOUND']),
      },
    },
    async (request) => {
      const { id } = request.params;
      if (!(await store.findEndpoint(request.merchantId, id))) throw new IdemError('WEBHOOK_ENDPOINT_NOT_FOUND', `no webhook endpoint ${id}`, { extensions: { webhook_endpoint_id: id } });
      const rows = await store.listDeliveries(request.merchantId, { endpointId: id }, request.query.limit ?? 50);
      return { object: 'list' as const, data: rows.map(deliveryView) };
    },
  );
}
