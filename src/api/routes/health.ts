import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';

export interface ReadinessProbe {
  /** Throws if PostgreSQL (or PGlite) cannot answer. */
  database(): Promise<void>;
  /** 'absent' when no Redis is configured. */
  redis(): 'up' | 'down' | 'absent';
}

const Health = Type.Object({ status: Type.String() });
const Ready = Type.Object({ status: Type.String(), database: Type.String(), redis: Type.String() });

/** `/healthz` (the process answers), `/readyz` (its stores answer). */
export function registerHealthRoutes(app: FastifyInstance, probe: ReadinessProbe): void {
  app.get('/healthz', { schema: { summary: 'Liveness', response: { 200: Health } } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { schema: { summary: 'Readiness: the database answers (Redis is reported, not required)', response: { 200: Ready, 503: Ready } } },
    async (_request, reply) => {
      const redis = probe.redis();
      try {
        await probe.database();
        return { status: redis === 'down' ? 'degraded' : 'ready', database: 'up', redis };
      } catch {
        return reply.code(503).send({ status: 'unavailable', database: 'down', redis });
      }
    },
  );
}
