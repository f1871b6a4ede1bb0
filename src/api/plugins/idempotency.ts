import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { fingerprint } from '../../idempotency/fingerprint.js';
import type { Claim, OperationResult } from '../../idempotency/claim.js';
import type { Gate, GateAnswer } from '../../idempotency/gate.js';
import { isIdempotencyKey, parseIdempotencyKey } from '../../idempotency/key.js';
import { ShedError } from '../../idempotency/admission.js';
import { requestContext } from '../requestContext.js';
import { sendShed } from '../shed.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The kind of request a gated POST route serves (for payments: `create`, `capture`,
     * `void`, `refund`), stored with its idempotency key so recovery knows which request to
     * finish. Declared by the route, never read back from the URL.
     */
    operation?: string;
    /**
     * The handler's first write claims the key itself (docs/idempotency.md, claim step 5, `ExecuteOptions` in
     * src/idempotency/gate.ts): it must make that write (`Claim.open`) before any other.
     */
    claimInFirstWrite?: boolean;
  }
  interface FastifyRequest {
    /** The idempotency claim of a POST, set while its handler runs. */
    claim: Claim;
    idempotencyKey: string;
  }
}

/** A POST handler behind the gate: it runs at most once per (merchant, key) and returns its outcome. */
export type GatedHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<OperationResult>;

/**
 * The idempotency gate as a plugin: every POST route registered after it in this context runs
 * through `gate.execute`. The key is checked before body validation (so a missing key is the
 * first thing a client hears about) and is not consumed by requests refused before the gate.
 */
export function registerIdempotency(app: FastifyInstance, gate: Gate): void {
  app.decorateRequest('claim', null as unknown as Claim);
  app.decorateRequest('idempotencyKey', '');
  app.decorateRequest('shed', false);
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.includes('POST')) return;
    const handler = route.handler as unknown as GatedHandler;
    const operation = route.config?.operation;
    const how = { claimInFirstWrite: route.config?.claimInFirstWrite === true };
    const preValidation = route.preValidation ? [route.preValidation].flat() : [];
    const preParsing = route.preParsing ? [route.preParsing].flat() : [];
    route.preParsing = [
      // Past the concurrency limit, a first request is shed before its body is read (after
      // auth and the card-data checks of the URL and headers). A missing or bad key is left
      // for preValidation to refuse with its own code. The answer is sent from here, precomputed
      // (src/api/shed.ts): the body is never read.
      async (request: FastifyRequest, reply: FastifyReply) => {
        if (!request.merchantId) return;
        const key = request.headers['idempotency-key'];
        if (typeof key !== 'string' || !isIdempotencyKey(key)) return;
        const sent = request.raw.headersDistinct?.['idempotency-key'];
        if (sent !== undefined && sent.length !== 1) return;
        const screened = gate.screen(request.merchantId, key);
        const retryAfterS = screened === null ? null : await screened;
        if (retryAfterS !== null) sendShed(request, reply, retryAfterS);
      },
      ...preParsing,
    ];
    route.preValidation = [
      async (request: FastifyRequest) => {
        // Node joins a repeated header into one "a, b" string; the distinct values tell it was sent twice.
        const sent = request.raw.headersDistinct?.['idempotency-key']; // absent under inject()
        request.idempotencyKey = parseIdempotencyKey(sent !== undefined && sent.length > 1 ? sent : request.headers['idempotency-key']);
        // A POST without a body is an empty object: it fingerprints and validates as one.
        if (request.body === undefined || request.body === null) request.body = {};
        const { metadata } = request;
        metadata.idempotency_key = request.idempotencyKey;
        if (operation !== undefined) metadata.operation = operation;
        const id = (request.params as { id?: unknown } | undefined)?.id;
        if (typeof id === 'string') metadata.payment_id = id;
        request.log = request.log.child(operation === undefined ? { idempotency_key: request.idempotencyKey } : { idempotency_key: request.idempotencyKey, operation });
      },
      ...preValidation,
    ];
    route.handler = async function gated(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      const path = request.url.split('?', 1)[0]!;
      let answer: GateAnswer;
      try {
        answer = await gate.execute(
          {
            merchantId: request.merchantId,
            key: request.idempotencyKey,
            method: 'POST',
            path,
            fingerprint: fingerprint('POST', path, request.body ?? null),
            operation,
          },
          (claim) => {
            request.claim = claim;
            return handler.call(this, request, reply);
          },
          requestContext(request),
          how,
        );
      } catch (err) {
        // Shed in the gate (a read slot was free, or Redis could not tell): the same precomputed answer.
        if (!(err instanceof ShedError)) throw err;
        sendShed(request, reply, err.retryAfterS);
        return reply;
      }
      // A replayed creation names its payment only in the stored body, which starts with it.
      if (answer.replayed && request.metadata.payment_id === undefined) {
        const id = leadingPaymentId(answer.body);
        if (id !== undefined) request.metadata.payment_id = id;
      }
      return reply
        .code(answer.status)
        .header('content-type', answer.contentType)
        .header('idempotent-replayed', String(answer.replayed))
        .send(answer.body);
    };
  });
}

/** The payment id a stored payment body starts with (`{"id":"pay_…"`), without parsing it. */
function leadingPaymentId(body: string): string | undefined {
  if (!body.startsWith('{"id":"pay_')) return undefined;
  const end = body.indexOf('"', 7);
  return end > 7 ? body.slice(7, end) : undefined;
}
