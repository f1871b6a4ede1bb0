import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';

/**
 * Integer query parameters (`limit`) are declared as integers, so the document and generated
 * clients type them as numbers; a URL carries them as digits. Validation does not coerce types
 * (src/api/app.ts), so each route whose query schema declares integers reads their digits into
 * numbers first; anything else stays a string and the schema refuses it.
 */
export function registerQueryIntegers(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const props = (route.schema?.querystring as { properties?: Record<string, { type?: string }> } | undefined)?.properties ?? {};
    const names = Object.keys(props).filter((name) => props[name]!.type === 'integer');
    if (names.length === 0) return;
    const preValidation = route.preValidation ? [route.preValidation].flat() : [];
    route.preValidation = [
      async (request: FastifyRequest) => {
        const query = request.query as Record<string, unknown>;
        for (const name of names) {
          const v = query[name];
          if (typeof v === 'string' && /^[0-9]{1,15}$/.test(v)) query[name] = Number(v);
        }
      },
      ...preValidation,
    ];
  });
}
