import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { IdemError } from '../../errors/registry.js';
import type { MerchantAuth } from '../../merchants/merchants.js';
import type { LocalLimiter } from './rateLimit.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated merchant; set on every /v1 route before the handler runs. */
    merchantId: string;
    /**
     * True when the operator key (IDEM_OPERATOR_KEY) authenticated the request: a read, scoped
     * to the merchant its `Idem-Merchant` header names, or (`merchantId` '') to none, which the
     * routes that can answer across merchants do (docs/dashboard.md).
     */
    operator: boolean;
  }
}

/** The operator's read-only key, and how an operator's request names a merchant. */
export interface OperatorAccess {
  key: string;
  merchantExists(merchantId: string): Promise<boolean>;
}

const MERCHANT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const digest = (s: string) => createHash('sha256').update(s).digest();

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
  /** IDEM_OPERATOR_KEY; absent: no operator. */
  operator?: OperatorAccess;
}

/**
 * Bearer API-key authentication for every route registered in the calling context. A refusal
 * is 401 `AUTH_REQUIRED` with `WWW-Authenticate: Bearer`; it reads nothing but the header, so
 * it is answered before the card-number scan and before the body is read.
 */
export function registerAuth(app: FastifyInstance, auth: MerchantAuth, options: AuthOptions = {}): void {
  app.decorateRequest('merchantId', '');
  app.decorateRequest('operator', false);
  const failures = options.failures;
  const operator = options.operator;
  const operatorDigest = operator ? digest(operator.key) : null;
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
    if (operatorDigest && timingSafeEqual(digest(m![1]!), operatorDigest)) return admitOperator(request, operator!);
    const merchantId = await auth.authenticate(m![1]!);
    if (merchantId === null) refuse(request, 'the API key is not valid', 'invalid_token');
    request.merchantId = merchantId!;
    request.metadata.merchant_id = merchantId!;
    request.log = request.log.child({ merchant_id: merchantId });
  });
}

/**
 * The operator key reads and never moves money: anything but GET and HEAD is refused 403 before
 * the body is read or an idempotency key is claimed. `Idem-Merchant` scopes the reads.
 */
async function admitOperator(request: FastifyRequest, operator: OperatorAccess): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    throw new IdemError('OPERATOR_READ_ONLY', `the operator key reads; ${request.method} needs the merchant's own API key`);
  }
  request.operator = true;
  const named = request.headers['idem-merchant'];
  if (named === undefined) return;
  if (typeof named !== 'string' || !MERCHANT_ID.test(named)) throw new IdemError('VALIDATION_FAILED', 'Idem-Merchant must be one merchant id');
  if (!(await operator.merchantExists(named))) throw new IdemError('MERCHANT_NOT_FOUND', `no merchant ${named}`, { extensions: { merchant_id: named } });
  request.merchantId = named;
  request.metadata.merchant_id = named;
  request.log = request.log.child({ merchant_id: named, operator: true });
}

function tooManyFailures(retryAfterMs: number): IdemError {
  return new IdemError('RATE_LIMITED', 'too many failed authentications from this address; wait before trying again', {
    headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  });
}
