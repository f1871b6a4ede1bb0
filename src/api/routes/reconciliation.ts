import type { FastifyInstance } from 'fastify';
import { Type, type Static, type TSchema } from 'typebox';
import { IdemError } from '../../errors/registry.js';
import type { Runtime } from '../../ports/clock.js';
import { CASE_CLASSES, CASE_STATUSES, CASE_TEAMS, type CaseRow } from '../../reconciliation/cases.js';
import { resolveCaseIn } from '../../reconciliation/casework.js';
import type { Store } from '../../store/port.js';
import type { GatedHandler } from '../plugins/idempotency.js';
import { JSON_TYPE, serializerFor } from '../render.js';
import { answers } from '../openapi.js';
import { PostHeaders, ref } from '../schemas.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const ReconciliationCase = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('reconciliation_case'),
    status: Type.Union(CASE_STATUSES.map((v) => Type.Literal(v))),
    class: Type.Union(CASE_CLASSES.map((v) => Type.Literal(v))),
    team: Type.Union(CASE_TEAMS.map((v) => Type.Literal(v))),
    gateway: Type.String(),
    payment_id: Nullable(Type.String()),
    evidence: Type.Record(Type.String(), Type.Unknown()),
    action: Type.String(),
    action_result: Nullable(Type.String()),
    resolution: Nullable(Type.String()),
    opened_at: Type.String({ format: 'date-time' }),
    resolved_at: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'ReconciliationCase', description: 'A discrepancy reconciliation could not settle alone (docs/reconciliation.md, "Cases")' },
);

const CaseList = Type.Object({ object: Type.Literal('list'), data: Type.Array(Type.Ref('ReconciliationCase')) }, { $id: 'ReconciliationCaseList' });
const CaseParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const ListQuery = Type.Object({ status: Type.Optional(Type.Union(CASE_STATUSES.map((v) => Type.Literal(v)))) }, { additionalProperties: false });
/** The named schemas of these routes, registered on the app by src/api/app.ts. */
export const reconciliationSchemas = (): TSchema[] => [ReconciliationCase, CaseList, ResolveBody];

const ResolveBody = Type.Object(
  { resolution: Type.String({ minLength: 1, maxLength: 2000 }) },
  { additionalProperties: false, $id: 'ResolveCaseRequest', examples: [{ resolution: 'refunded by hand at the gateway, ticket 4411' }] },
);

/** A case as its merchant sees it. */
export function caseView(c: CaseRow): Record<string, unknown> {
  return {
    id: c.id,
    object: 'reconciliation_case',
    status: c.status,
    class: c.class,
    team: c.team,
    gateway: c.gateway,
    payment_id: c.payment_id,
    evidence: c.evidence,
    action: c.action,
    action_result: c.action_result,
    resolution: c.resolution,
    opened_at: new Date(c.opened_at).toISOString(),
    resolved_at: c.resolved_at === null ? null : new Date(c.resolved_at).toISOString(),
  };
}

/** The resolve answer as stored for replay: through the route's response schema (src/api/render.ts). */
const caseJson = serializerFor(ReconciliationCase);

const notFound = (id: string) => new IdemError('CASE_NOT_FOUND', `no reconciliation case ${id}`, { extensions: { case_id: id } });

/**
 * `/v1/reconciliation/cases` routes, merchant-scoped: a merchant sees and resolves only the
 * cases about its own payments. Registered in the context with auth and the gate, so the
 * resolve POST runs once per key and its answer is replayed.
 */
export function registerReconciliationRoutes(app: FastifyInstance, store: Store, runtime: Runtime): void {
  app.get(
    '/v1/reconciliation/cases',
    {
      schema: {
        operationId: 'listReconciliationCases',
        tags: ['reconciliation'],
        summary: 'Reconciliation cases about this merchant\u2019s payments, oldest first',
        querystring: ListQuery,
        response: answers({ 200: { schema: CaseList, description: 'The cases' } }, []),
      },
    },
    async (request) => {
      const { status } = request.query as Static<typeof ListQuery>;
      // The operator key without Idem-Merchant sees every merchant's cases (docs/dashboard.md).
      const scope = request.operator && request.merchantId === '' ? {} : { merchantId: request.merchantId };
      const cases = await store.listCases({ ...scope, ...(status !== undefined ? { status } : {}) });
      return { object: 'list' as const, data: cases.map(caseView) };
    },
  );

  app.get(
    '/v1/reconciliation/cases/:id',
    {
      schema: {
        operationId: 'getReconciliationCase',
        tags: ['reconciliation'],
        summary: 'One reconciliation case with its evidence',
        params: CaseParams,
        response: answers({ 200: { schema: ReconciliationCase, description: 'The case' } }, ['CASE_NOT_FOUND']),
      },
    },
    async (request) => {
      const { id } = request.params as Static<typeof CaseParams>;
      const c = await store.findCase(id);
      if (!c || (c.merchant_id !== request.merchantId && !(request.operator && request.merchantId === ''))) throw notFound(id);
      return caseView(c);
    },
  );

  app.post(
    '/v1/reconciliation/cases/:id/resolve',
    {
      config: { operation: 'resolve_case' },
      schema: {
        operationId: 'resolveReconciliationCase',
        tags: ['reconciliation'],
        summary: 'Resolve an open case',
        headers: PostHeaders,
        params: CaseParams,
        body: ref(ResolveBody),
        response: answers({ 200: { schema: ReconciliationCase, description: 'The case, resolved' } }, ['CASE_NOT_FOUND', 'CASE_NOT_OPEN'], { gated: true }),
      },
    },
    (async (request) => {
      const { id } = request.params as Static<typeof CaseParams>;
      const { resolution } = request.body as Static<typeof ResolveBody>;
      const claim = request.claim;
      const response = await store.transaction(async (tx) => {
        await claim.guard(tx);
        const r = await resolveCaseIn(tx, id, resolution, runtime.clock.now(), request.merchantId);
        if (r === 'not_found') throw notFound(id);
        if (r === 'not_open') throw new IdemError('CASE_NOT_OPEN', `case ${id} is already resolved`, { extensions: { case_id: id } });
        const stored = { status: 200, contentType: JSON_TYPE, body: caseJson(caseView(r)) };
        await claim.complete(tx, stored);
        return stored;
      });
      return { kind: 'final', response };
    }) satisfies GatedHandler as never,
  );
}
