import type { FastifyInstance } from 'fastify';
import { Type, type TSchema } from 'typebox';
import { answers } from '../openapi.js';

export interface ReadinessProbe {
  /** Throws if PostgreSQL (or PGlite) cannot answer. */
  database(): Promise<void>;
  /** 'absent' when no Redis is configured. */
  redis(): 'up' | 'down' | 'absent';
}

const Health = Type.Object({ status: Type.Literal('ok') }, { $id: 'Health' });
const Ready = Type.Object(
  {
    status: Type.Union([Type.Literal('ready'), Type.Literal('degraded'), Type.Literal('unavailable')], { description: '`degraded`: Redis is configured but down' }),
    database: Type.Union([Type.Literal('up'), Type.Literal('down')]),
    redis: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('absent')]),
  },
  { $id: 'Readiness' },
);
/** The named schemas of these routes, registered on the app by src/api/app.ts. */
export const healthSchemas = (): TSchema[] => [Health, Ready];

/** Public: no key, no rate limit (`security: []`). */
const PUBLIC = { tags: ['health'], security: [] };

/** `/healthz` (the process answers), `/readyz` (its stores answer). */
export function registerHealthRoutes(app: FastifyInstance, probe: ReadinessProbe): void {
  app.get(
    '/healthz',
    { schema: { ...PUBLIC, operationId: 'getHealth', summary: 'Liveness', response: answers({ 200: { schema: Health, description: 'The process answers' } }, [], { public: true }) } },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        ...PUBLIC,
        operationId: 'getReadiness',
        summary: 'Readiness: the database answers (Redis is reported, not required)',
        response: answers({ 200: { schema: Ready, description: 'Ready (or degraded: Redis down)' }, 503: { schema: Ready, description: 'The database does not answer' } }, [], { public: true }),
      },
    },
    async (_request, reply) => {
      const redis = probe.redis();
      try {
        await probe.database();
        return { status: redis === 'down' ? ('degraded' as const) : ('ready' as const), database: 'up' as const, redis };
      } catch {
        return reply.code(503).send({ status: 'unavailable' as const, database: 'down' as const, redis });
      }
    },
  );
}
