import type { FastifyInstance, FastifyRequest } from 'fastify';
import { IdemError } from '../../errors/registry.js';
import type { MerchantAuth } from '../../merchants/merchants.js';
import type { LocalLimiter } from './rateLimit.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated merchant; set on every /v1 route before the handler runs. */
    merchantId: string;
  }
}

/** RFC 6750: the scheme name is case-insensitive; one or more spaces before the token. */
const BEARER = /^bearer +([A-Za-z0-9_\-.]{1,200}) *$/i;

const challenge = (error?: 'invalid_request' | 'invalid_token') => ({
  'www-authenticate': error ? `Bearer realm="idem", error="${error}"` : 'Bearer realm="idem"',
});

/** How many Authorization headers the request carries (Node keeps only the first in `headers`). */
function authorizationCount(request: FastifyRequest): number {
  const raw = request.raw.rawHeaders;
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 13 && raw[i]!.toLowerCase() === 'authorization') n++;
  return n;
}

export interface AuthOptions {
  /**
   * Failed authentications per address: once an address has used its allowance it gets 429
   * `RATE_LIMITED` without its key being looked up. Absent: no limit.
   */
  failures?: LocalLimiter;
}

/**
 * Bearer API-key authentication for every route registered in the calling context. A refusal
 * is 401 `AUTH_REQUIRED` with `WWW-Authenticate: Bearer`; it reads nothing but the header, so
 * it is answered before the card-number scan and before the body is read.
 */
export function registerAuth(app: FastifyInstance, auth: MerchantAuth, options: AuthOptions = {}): void {
  app.decorateRequest('merchantId', '');
  const failures = options.failures;
  const refuse = (request: FastifyRequest, detail: string, error?: 'invalid_request' | 'invalid_token'): never => {
    if (failures) {
      const { allowed, retryAfterMs } = failures.takeNow(request.ip);
      if (!allowed) throw tooManyFailures(retryAfterMs);
    }
    throw new IdemError('AUTH_REQUIRED', detail, { headers: challenge(error) });
  };
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const header = request.headers.authorization;
    const m = typeof header === 'string' ? BEARER.exec(header) : null;
    // An address that used up its failures is answered without a database read; a key this
    // instance has just seen working still passes, so a guesser behind the same address does
    // not lock out the merchant's own traffic.
    if (failures?.exhausted(request.ip) && !(m && typeof auth.cached(m[1]!) === 'string')) throw tooManyFailures(1000);
    if (header === undefined) refuse(request, 'send Authorization: Bearer <api key>');
    if (authorizationCount(request) > 1) refuse(request, 'send one Authorization header, not several', 'invalid_request');
    if (!m) refuse(request, 'send Authorization: Bearer <api key>', 'invalid_request');
    const merchantId = await auth.authenticate(m![1]!);
    if (merchantId === null) refuse(request, 'the API key is not valid', 'invalid_token');
    request.merchantId = merchantId!;
    request.metadata.merchant_id = merchantId!;
    request.log = request.log.child({ merchant_id: merchantId });
  });
}

function tooManyFailures(retryAfterMs: number): IdemError {
  return new IdemError('RATE_LIMITED', 'too many failed authentications from this address; wait before trying again', {
    headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  });
}
