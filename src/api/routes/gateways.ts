import type { FastifyInstance } from 'fastify';
import { Type, type TSchema } from 'typebox';
import type { GatewayView } from '../../resilience/book.js';
import { answers } from '../openapi.js';

const State = Type.Union(['healthy', 'degraded', 'down', 'recovering'].map((s) => Type.Literal(s)));
const Breaker = Type.Union(['closed', 'open', 'half_open'].map((s) => Type.Literal(s)));
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const Evidence = Type.Object({
  answers: Type.Integer(),
  failure_cusum: Type.Number(),
  degraded_cusum: Type.Number(),
  latency_cusum: Type.Number(),
  baseline_failure_rate: Type.Number(),
  baseline_latency_ms: Nullable(Type.Number()),
  state_changes_last_minute: Type.Integer(),
});

const OperationHealth = Type.Object({
  state: State,
  breaker: Breaker,
  since: Type.String({ format: 'date-time' }),
  success_rate: Type.Number(),
  latency_ms: Type.Object({ p50: Nullable(Type.Number()), p99: Nullable(Type.Number()) }),
  evidence: Evidence,
});

export const Gateway = Type.Object(
  {
    name: Type.String(),
    ...OperationHealth.properties,
    retry_delay_ms: Type.Integer(),
    retry_budget: Type.Object({ retries: Type.Number(), allowed: Type.Number() }),
    operations: Type.Record(Type.String(), OperationHealth),
  },
  { $id: 'Gateway', description: 'A gateway as Idem has learned it from every instance\u2019s traffic (docs/resilience.md)' },
);

const GatewayList = Type.Object({ object: Type.Literal('list'), policy: Type.String(), data: Type.Array(Type.Ref('Gateway')) }, { $id: 'GatewayList' });

/** The named schemas of this route, registered on the app by src/api/app.ts. */
export const gatewaySchemas = (): TSchema[] => [Gateway, GatewayList];

/** The rows as the API shows them: times as ISO strings. */
export function gatewayRows(views: GatewayView[]): unknown[] {
  const iso = (ms: number) => new Date(ms).toISOString();
  return views.map((v) => ({
    ...v,
    since: iso(v.since),
    operations: Object.fromEntries(Object.entries(v.operations).map(([op, h]) => [op, { ...h, since: iso(h.since) }])),
  }));
}

/** `GET /v1/gateways`: every configured gateway's learned health (authenticated: it is operational detail). */
export function registerGatewayRoutes(app: FastifyInstance, source: { policy: string; view(): GatewayView[] }): void {
  app.get(
    '/v1/gateways',
    {
      schema: {
        operationId: 'listGateways',
        tags: ['gateways'],
        summary: 'Every gateway with its learned state, success rate, latency, breaker and retry delay',
        response: answers({ 200: { schema: GatewayList, description: 'The routing policy and every gateway' } }, []),
      },
    },
    async () => ({ object: 'list' as const, policy: source.policy, data: gatewayRows(source.view()) }),
  );
}
