import type { FastifyInstance, FastifyRequest } from 'fastify';
import { IdemError } from '../../errors/registry.js';
import type { MerchantAuth } from '../../merchants/merchants.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated merchant; set on every /v1 route before the handler runs. */
    merchantId: string;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9_\-.]{1,200})$/;

/** Bearer API-key authentication for every route registered in the calling context. */
export function registerAuth(app: FastifyInstance, auth: MerchantAuth): void {
  app.decorateRequest('merchantId', '');
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const header = request.headers.authorization;
    const m = typeof header === 'string' ? BEARER.exec(header) : null;
    if (!m) throw new IdemError('AUTH_REQUIRED', 'send Authorization: Bearer <api key>');
    const merchantId = await auth.authenticate(m[1]!);
    if (merchantId === null) throw new IdemError('AUTH_REQUIRED', 'the API key is not valid');
    request.merchantId = merchantId;
    request.log = request.log.child({ merchant_id: merchantId });
  });
}
