import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isConnectionError } from '../db/database.js';
import { IdemError, problem, type Problem } from '../errors/registry.js';
import { maskCardNumbers } from '../payments/cardData.js';

export const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

/** Maps anything thrown while handling a request onto a problem document with a stable code. */
export function toProblem(err: unknown): { problem: Problem; headers: Record<string, string>; log: 'none' | 'warn' | 'error' } {
  if (err instanceof IdemError) return { problem: err.toProblem(), headers: err.headers, log: 'none' };
  const fe = err as FastifyError;
  if (fe && Array.isArray(fe.validation)) {
    const first = fe.validation[0];
    const where = fe.validationContext ?? 'request';
    const path = first?.instancePath ? `${where}${first.instancePath.replace(/\//g, '.')}` : where;
    const extra =
      first?.keyword === 'additionalProperties'
        ? ` (unknown field "${(first.params as { additionalProperty?: string }).additionalProperty}")`
        : first?.keyword === 'enum'
          ? enumHint((first.params as { allowedValues?: unknown[] }).allowedValues ?? [])
          : '';
    return { problem: problem('VALIDATION_FAILED', maskCardNumbers(`${path} ${first?.message ?? 'is invalid'}${extra}`)), headers: {}, log: 'none' };
  }
  if (fe && typeof fe.code === 'string' && fe.code.startsWith('FST_ERR_CTP_')) {
    const detail =
      fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? 'the body is larger than this route accepts (64 KiB for POST /v1/payments and processor notifications, 8 KiB for the other POSTs)'
        : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'send the body as application/json'
          : fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
            ? 'the JSON body is empty'
            : 'the body is not valid JSON';
    return { problem: problem('VALIDATION_FAILED', detail), headers: {}, log: 'none' };
  }
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // Fastify's own 4xx (bad URL encoding, too-long header, …).
    return { problem: problem('VALIDATION_FAILED', 'the request is malformed'), headers: {}, log: 'none' };
  }
  if (isConnectionError(err)) {
    return { problem: problem('UNAVAILABLE', 'the database cannot be reached; retry later'), headers: { 'retry-after': '1' }, log: 'warn' };
  }
  return { problem: problem('INTERNAL', 'an unexpected error occurred; it has been logged'), headers: {}, log: 'error' };
}

/** The values an enum allows, when few enough to say (currencies are many: the document lists them). */
function enumHint(allowed: unknown[]): string {
  return allowed.length <= 12 ? ` (${allowed.join(', ')})` : ` (one of ${allowed.length}; /openapi.json lists them)`;
}

/** Answers with the problem `err` maps to, naming the request (`request_id`, docs/metadata.md). */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const { problem: mapped, headers, log } = toProblem(err);
  const body = { ...mapped, request_id: request.id };
  if (log === 'error') request.log.error({ err }, 'request failed');
  else if (log === 'warn') request.log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'store unavailable');
  return reply.code(body.status).headers(headers).type(PROBLEM_TYPE).send(JSON.stringify(body));
}
