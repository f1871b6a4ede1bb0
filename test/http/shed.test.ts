import Fastify from 'fastify';
import pino from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { IdemError } from '../../src/errors/registry.js';
import { SHED_DETAIL, SHED_RETRY_AFTER_S, ShedError } from '../../src/idempotency/admission.js';
import { sendProblem } from '../../src/api/problems.js';
import { RequestLogController, requestIdOf, SHED_LOG_EVERY } from '../../src/api/requestContext.js';
import { sendShed } from '../../src/api/shed.js';

/**
 * The precomputed shed answer (src/api/shed.ts, docs/resilience.md "What a shed costs"): the
 * same document `sendProblem` makes for the same error, the headers every answer carries, and
 * one request log line per SHED_LOG_EVERY sheds.
 */
async function app(lines: string[]) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const a = Fastify({ loggerInstance: pino(sink), genReqId: requestIdOf, logController: new RequestLogController({ requestIdLogLabel: 'request_id' }) });
  a.decorateRequest('shed', false);
  a.setErrorHandler((err, request, reply) => sendProblem(request, reply, err));
  a.post('/shed/:s', { preParsing: async (request, reply) => sendShed(request, reply, Number((request.params as { s: string }).s)) }, async () => 'never');
  a.post('/problem/:s', async (request) => {
    throw new ShedError(Number((request.params as { s: string }).s));
  });
  await a.ready();
  return a;
}

describe('the shed answer', () => {
  it('is the problem document sendProblem makes for the same error, with Retry-After and the headers of every answer', async () => {
    const a = await app([]);
    for (const s of SHED_RETRY_AFTER_S) {
      const headers = { 'content-type': 'application/json', 'request-id': `req-"quoted"\\-${s}` };
      const shed = await a.inject({ method: 'POST', url: `/shed/${s}`, headers, payload: '{"amount":1}' });
      const viaError = await a.inject({ method: 'POST', url: `/problem/${s}`, headers, payload: '{"amount":1}' });
      expect(shed.statusCode).toBe(503);
      expect(shed.body).toBe(viaError.body);
      expect(JSON.parse(shed.body)).toEqual({ ...new IdemError('UNAVAILABLE', SHED_DETAIL).toProblem(), request_id: headers['request-id'] });
      expect(shed.headers).toMatchObject({
        'content-type': viaError.headers['content-type'],
        'retry-after': String(s),
        'request-id': headers['request-id'],
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'content-length': String(Buffer.byteLength(shed.body)),
      });
    }
    await a.close();
  });

  it('gets a request log line once in SHED_LOG_EVERY sheds; other answers each get theirs', async () => {
    const lines: string[] = [];
    const a = await app(lines);
    const n = 2 * SHED_LOG_EVERY + 1;
    for (let i = 0; i < n; i++) await a.inject({ method: 'POST', url: '/shed/1', payload: '{}', headers: { 'content-type': 'application/json' } });
    await a.inject({ method: 'POST', url: '/problem/1', payload: '{}', headers: { 'content-type': 'application/json' } });
    const completed = lines.map((l) => JSON.parse(l) as { msg: string; shed_logged_one_in?: number; res?: { statusCode: number } }).filter((l) => l.msg === 'request completed');
    expect(completed.filter((l) => l.shed_logged_one_in === SHED_LOG_EVERY)).toHaveLength(3);
    expect(completed.filter((l) => l.shed_logged_one_in === undefined)).toHaveLength(1);
    await a.close();
  });
});
