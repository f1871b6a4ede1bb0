/**
 * The shed answer on the wire (docs/resilience.md, "What a shed costs"): 503 `UNAVAILABLE`,
 * problem+json, `Retry-After`, built once and sent straight to the socket. Under overload most
 * answers are sheds, and what a shed costs is what the admitted requests wait behind in the one
 * event loop: no error object, no error handler, no serializer, no `onSend` hooks, one
 * `writeHead` with the headers ready, and no request log line of its own (one in
 * SHED_LOG_EVERY is logged, see src/api/requestContext.ts; `idem_shed_total` counts them all).
 * The `onResponse` hooks still run (the HTTP duration metric, the span).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { problem } from '../errors/registry.js';
import { SHED_DETAIL, SHED_RETRY_AFTER_S } from '../idempotency/admission.js';
import { PROBLEM_TYPE } from './problems.js';
import { REQUEST_ID_HEADER } from './requestContext.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** True when the request was shed at the concurrency limit: its log line is sampled. */
    shed: boolean;
  }
}

/** The problem document up to `request_id`'s value, which is the one part that changes. */
const BODY_HEAD = JSON.stringify({ ...problem('UNAVAILABLE', SHED_DETAIL), request_id: '' }).slice(0, -3);

/** The headers of each possible answer, as `writeHead` takes them (name, value, name, value, …), but `request-id` and the length. */
const HEADERS = new Map(
  SHED_RETRY_AFTER_S.map((s) => [
    s,
    ['content-type', PROBLEM_TYPE, 'retry-after', String(s), 'cache-control', 'no-store', 'x-content-type-options', 'nosniff'] as const,
  ]),
);

/**
 * Answers a shed request (`retryAfterS` from SHED_RETRY_AFTER_S) and marks it so the request
 * log samples it. The same bytes `sendProblem` would send for the same error, and the headers
 * the app's `onSend` hook adds to every answer.
 */
export function sendShed(request: FastifyRequest, reply: FastifyReply, retryAfterS: number): void {
  const headers = HEADERS.get(retryAfterS) ?? HEADERS.get(SHED_RETRY_AFTER_S[0]!)!;
  const body = `${BODY_HEAD}${JSON.stringify(request.id)}}`;
  request.shed = true;
  reply.hijack();
  reply.raw.writeHead(503, [...headers, REQUEST_ID_HEADER, request.id, 'content-length', String(Buffer.byteLength(body))]).end(body);
}
