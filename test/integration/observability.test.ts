/**
 * The standard transaction metadata and traces (docs/metadata.md), over real sockets: Idem on
 * embedded PGlite, its gateway the simulator's HTTP server, spans in an in-memory exporter,
 * log lines read back as JSON. Traffic: a creation sent with the client's `Request-Id` and
 * `traceparent`, its replay, a capture, a read, a decline, a refusal at the gate, and a creation
 * whose gateway answer is lost so that recovery (the relay) finishes it.
 *
 * Checked: every response carries `Request-Id` (the client's when sent; `request_id` in problem
 * bodies); every log line about a request carries the metadata that exists at that point, with
 * one line per request from fastify; each request is one trace (request span → gate decision →
 * gateway attempt) whose gateway span's `traceparent` and metadata arrived at the gateway as
 * headers; the recovery's spans link to the original request's trace.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanKind } from '@opentelemetry/api';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { urlForLog } from '../../src/api/plugins/cardData.js';
import { loadConfig } from '../../src/config/config.js';
import { openPglite } from '../../src/db/pglite.js';
import { METADATA_FIELDS, transactionMetadataJsonSchema, type TransactionMetadata } from '../../src/events/metadata.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { otelTracer } from '../../src/observability/tracing.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { parseTraceparent } from '../../src/ports/tracing.js';
import { paymentBody, waitUntil } from '../support/payments.js';

type LogLine = Record<string, unknown> & { msg: string; level: number };

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

let dir: string;
let sim: SimulatorServer;
let idem: Idem;
let url: string;
let apiKey: string;
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const lines: LogLine[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idem-observe-'));
  sim = await startSimulatorServer({ seed: 11 });
  const config = loadConfig({
    IDEM_GATEWAYS: JSON.stringify([{ name: 'sim', kind: 'http', base_url: sim.url, timeout_ms: 2000 }]),
    IDEM_LEASE_MS: '1000',
    IDEM_RELAY_INTERVAL_MS: '100',
  });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  idem = await createIdem(
    { ...config, dataDir: dir, port: 0 },
    {
      db: await openPglite(dir),
      logger: {
        level: 'info',
        serializers: {
          req: (req: { method: string; url: string }) => ({ method: req.method, url: urlForLog(req) }),
          res: (reply: { statusCode: number }) => ({ statusCode: reply.statusCode }),
          err: pino.stdSerializers.err,
        },
      },
      logDestination: sink,
      tracer: otelTracer(provider.getTracer('idem-test')),
      sweeper: false,
    },
  );
  url = await idem.listen();
  apiKey = (await createMerchant(idem.store, cryptoRandom, 'observed')).apiKey;
}, 180_000);

afterAll(async () => {
  await idem?.close();
  await idem?.db?.close();
  await sim?.close();
  await provider.shutdown();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  requestId: string;
  body: Record<string, unknown>;
}

async function call(method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, requestId: res.headers.get('request-id') ?? '', body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const requestLines = (requestId: string) => lines.filter((l) => l.request_id === requestId);

/** The one "request completed" line of a request, after the server has written it. */
async function completedLine(requestId: string): Promise<LogLine> {
  await waitUntil(`the log line of ${requestId}`, () => requestLines(requestId).some((l) => l.msg === 'request completed'));
  const done = requestLines(requestId).filter((l) => l.msg === 'request completed');
  expect(done).toHaveLength(1);
  return done[0]!;
}

/** The request's server span, once ended, and every span of its trace. */
async function traceOf(requestId: string): Promise<{ root: ReadableSpan; all: ReadableSpan[] }> {
  await waitUntil(`the span of ${requestId}`, () => spans().some((s) => s.kind === SpanKind.SERVER && s.attributes.request_id === requestId));
  const root = spans().find((s) => s.kind === SpanKind.SERVER && s.attributes.request_id === requestId)!;
  return { root, all: spans().filter((s) => s.spanContext().traceId === root.spanContext().traceId) };
}

/** Every span of the trace descends from `root`. */
function expectOneTree(root: ReadableSpan, all: ReadableSpan[]): void {
  const ids = new Set(all.map((s) => s.spanContext().spanId));
  for (const s of all) {
    if (s === root) continue;
    expect(ids.has(parentOf(s)!), `${s.name} hangs in the request's tree`).toBe(true);
  }
}

function pick(l: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(fields.map((f) => [f, l[f]]));
}

describe('standard transaction metadata, Request-Id and traces', () => {
  let paymentId: string;
  let createRequestId: string;

  it('a creation: the client\'s Request-Id and trace are honoured, and the trace reaches the gateway', async () => {
    const a = await call('POST', '/v1/payments', { 'idempotency-key': 'obs-create-1', 'request-id': 'client-req-1', traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` }, paymentBody());
    expect(a.status).toBe(201);
    expect(a.requestId).toBe('client-req-1');
    paymentId = a.body.id as string;
    createRequestId = a.requestId;

    const line = await completedLine('client-req-1');
    expect(line).toMatchObject({
      request_id: 'client-req-1',
      merchant_id: expect.stringMatching(/^mer_/),
      idempotency_key: 'obs-create-1',
      operation: 'create',
      payment_id: paymentId,
      trace_id: CLIENT_TRACE,
      req: { method: 'POST', url: '/v1/payments' },
      res: { statusCode: 201 },
    });
    expect(requestLines('client-req-1').filter((l) => l.msg === 'incoming request')).toEqual([]);

    const gatewayLine = lines.find((l) => l.msg === 'gateway answered' && l.payment_id === paymentId)!;
    expect(Object.keys(pick(gatewayLine, METADATA_FIELDS)).filter((f) => gatewayLine[f] === undefined)).toEqual([]);
    expect(gatewayLine).toMatchObject({ request_id: 'client-req-1', idempotency_key: 'obs-create-1', attempt_no: 1, operation: 'authorize', gateway: 'sim', trace_id: CLIENT_TRACE });

    const { root, all } = await traceOf('client-req-1');
    expect(root.spanContext().traceId).toBe(CLIENT_TRACE);
    expect(parentOf(root)).toBe(CLIENT_SPAN);
    expect(root.name).toBe('POST /v1/payments');
    expectOneTree(root, all);
    const gate = all.find((s) => s.name === 'idem.gate')!;
    expect(parentOf(gate)).toBe(root.spanContext().spanId);
    expect(gate.attributes).toMatchObject({ 'idem.gate.decision': 'claimed', 'idem.gate.held': false, idempotency_key: 'obs-create-1' });
    const attempt = all.find((s) => s.name === 'gateway authorize')!;
    expect(attempt.kind).toBe(SpanKind.CLIENT);
    expect(parentOf(attempt)).toBe(gate.spanContext().spanId);
    expect(attempt.attributes).toMatchObject({ ...pick(gatewayLine, METADATA_FIELDS), 'idem.outcome': 'success' });
    expect(root.attributes).toMatchObject({ payment_id: paymentId, 'http.response.status_code': 201 });

    // What arrived at the gateway: the attempt span's traceparent and the same metadata.
    const received = sim.calls().filter((c) => c.metadata.payment_id === paymentId);
    expect(received).toHaveLength(1);
    const tp = parseTraceparent(received[0]!.traceparent)!;
    expect(tp).toMatchObject({ traceId: CLIENT_TRACE, spanId: attempt.spanContext().spanId });
    expect(received[0]!.metadata).toEqual(pick(gatewayLine, METADATA_FIELDS));
    expect(received[0]!.idempotencyKey).toBe(gatewayLine.gateway_key);
  });

  it('a replay: a Request-Id of its own, a trace with the gate decision and no gateway call', async () => {
    const a = await call('POST', '/v1/payments', { 'idempotency-key': 'obs-create-1' }, paymentBody());
    expect(a.status).toBe(201);
    expect(a.requestId).toMatch(/^req_[0-9a-z]{24}$/);
    expect(a.requestId).not.toBe(createRequestId);
    const line = await completedLine(a.requestId);
    expect(line).toMatchObject({ idempotency_key: 'obs-create-1', operation: 'create', payment_id: paymentId, merchant_id: expect.stringMatching(/^mer_/), trace_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    const { root, all } = await traceOf(a.requestId);
    expect(parentOf(root)).toBeUndefined();
    expectOneTree(root, all);
    expect(all.map((s) => s.name).sort()).toEqual(['POST /v1/payments', 'idem.gate']);
    expect(all.find((s) => s.name === 'idem.gate')!.attributes['idem.gate.decision']).toBe('replayed');
  });

  it('a capture and a read carry the payment they are about', async () => {
    const c = await call('POST', `/v1/payments/${paymentId}/capture`, { 'idempotency-key': 'obs-capture-1' }, {});
    expect(c.status).toBe(200);
    expect(await completedLine(c.requestId)).toMatchObject({ payment_id: paymentId, operation: 'capture', idempotency_key: 'obs-capture-1' });
    const { root, all } = await traceOf(c.requestId);
    expectOneTree(root, all);
    expect(all.map((s) => s.name)).toContain('gateway capture');

    const g = await call('GET', `/v1/payments/${paymentId}`);
    expect(g.status).toBe(200);
    expect(await completedLine(g.requestId)).toMatchObject({ payment_id: paymentId, merchant_id: expect.stringMatching(/^mer_/) });
  });

  it('problems name their request: in the body, the header and the log', async () => {
    const missingKey = await call('POST', '/v1/payments', {}, paymentBody());
    expect(missingKey.status).toBe(400);
    expect(missingKey.body.request_id).toBe(missingKey.requestId);
    await completedLine(missingKey.requestId);

    const unauthenticated = await call('GET', '/v1/payments', { authorization: 'Bearer nope' });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.body.request_id).toBe(unauthenticated.requestId);

    const notFound = await call('GET', '/nowhere');
    expect(notFound.status).toBe(404);
    expect(notFound.body.request_id).toBe(notFound.requestId);

    // A Request-Id that is not one (spaces, too long) is replaced, not echoed.
    const odd = await call('GET', '/healthz', { 'request-id': 'has spaces' });
    expect(odd.requestId).toMatch(/^req_/);

    const declined = await call('POST', '/v1/payments', { 'idempotency-key': 'obs-decline-1' }, paymentBody({ payment_method: { type: 'card', token: 'tok_decline_insufficient_funds' } }));
    expect(declined.status).toBe(402);
    expect(declined.body.request_id).toBe(declined.requestId);
    expect(await completedLine(declined.requestId)).toMatchObject({ payment_id: declined.body.payment_id, operation: 'create' });
  });

  it('recovery finishes a request whose gateway answer was lost, linked to that request\'s trace', async () => {
    sim.processor.setFaults({ timeoutAfterProcessingRate: 1 });
    const a = await call('POST', '/v1/payments', { 'idempotency-key': 'obs-lost-1' }, paymentBody());
    sim.processor.setFaults({ timeoutAfterProcessingRate: 0 });
    expect(a.status).toBe(202);
    const lostId = a.body.id as string;
    const { root: original } = await traceOf(a.requestId);
    const originalGate = spans().find((s) => s.name === 'idem.gate' && parentOf(s) === original.spanContext().spanId)!;

    await waitUntil('recovery', () => lines.some((l) => l.msg === 'recovered a payment request' && l.payment_id === lostId), 15_000);
    const recovered = lines.find((l) => l.msg === 'recovered a payment request' && l.payment_id === lostId)!;
    // The recovery serves the request that got 202: it logs under its request id, in a trace of its own.
    expect(recovered).toMatchObject({ request_id: a.requestId, merchant_id: expect.stringMatching(/^mer_/), idempotency_key: 'obs-lost-1', operation: 'create', trace_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(recovered.trace_id).not.toBe(original.spanContext().traceId);
    const answered = lines.filter((l) => l.msg === 'gateway answered' && l.payment_id === lostId);
    expect(answered.map((l) => [l.request_id, l.outcome, l.trace_id === recovered.trace_id])).toEqual([
      [a.requestId, 'unknown', false],
      [a.requestId, 'success', true],
    ]);

    // The relay may look at the row while the owner's lease still holds the key ('busy'); the
    // recovery is the look that took the key over.
    const tookOver = (r: (typeof spans extends () => Array<infer S> ? S : never)) =>
      spans().some((g) => g.name === 'idem.gate' && parentOf(g) === r.spanContext().spanId && g.attributes['idem.gate.decision'] === 'taken_over');
    await waitUntil('the recovery span', () => spans().some((s) => s.name === 'outbox.recover' && s.attributes.payment_id === lostId && tookOver(s)));
    const recover = spans().find((s) => s.name === 'outbox.recover' && s.attributes.payment_id === lostId && tookOver(s))!;
    expect(recover.links.map((l) => l.context.spanId)).toEqual([originalGate.spanContext().spanId]);
    expect(recover.links[0]!.context.traceId).toBe(original.spanContext().traceId);
    const recoveryTrace = spans().filter((s) => s.spanContext().traceId === recover.spanContext().traceId);
    const pass = recoveryTrace.find((s) => s.name === 'pass.outbox.relay')!;
    expectOneTree(pass, recoveryTrace);
    const gate = recoveryTrace.find((s) => s.name === 'idem.gate' && parentOf(s) === recover.spanContext().spanId)!;
    expect(gate.attributes['idem.gate.decision']).toBe('taken_over');
    const resent = recoveryTrace.filter((s) => s.name === 'gateway authorize' && parentOf(s) === gate.spanContext().spanId);
    expect(resent).toHaveLength(1);
    // The recovery's call reached the gateway in the recovery's trace.
    const arrived = sim.calls().filter((c) => c.metadata.payment_id === lostId).map((c) => parseTraceparent(c.traceparent)?.traceId);
    expect(arrived).toEqual([original.spanContext().traceId, recover.spanContext().traceId]);

    // The request's first attempt keeps its traceparent on the timeline, where recovery read it.
    const events = await call('GET', `/v1/payments/${lostId}/events`);
    const started = (events.body.data as Array<{ type: string; data: Record<string, unknown> }>).find((e) => e.type === 'attempt.started')!;
    expect(parseTraceparent(started.data.traceparent as string)).toMatchObject({ traceId: original.spanContext().traceId, spanId: originalGate.spanContext().spanId });
  });

  it('every log line about a request carries the metadata that exists at that point', async () => {
    // Fields that exist once each step is reached; a line may carry more, never fewer.
    const byMessage: Record<string, readonly (keyof TransactionMetadata)[]> = {
      'request completed': ['request_id'],
      'gateway answered': METADATA_FIELDS,
      'recovered a payment request': ['merchant_id', 'payment_id', 'idempotency_key', 'request_id', 'operation', 'trace_id'],
    };
    const about = lines.filter((l) => l.request_id !== undefined || l.msg in byMessage);
    expect(about.length).toBeGreaterThan(10);
    for (const l of about) {
      for (const f of byMessage[l.msg] ?? ['request_id']) expect(l[f], `${f} on "${l.msg}"`).toBeDefined();
      // Authenticated requests: the merchant; gated ones: key and operation; traced: the trace.
      if (l.msg === 'request completed' && (l.res as { statusCode: number }).statusCode < 400 && String((l.req as { url: string }).url).startsWith('/v1/')) {
        expect(l.merchant_id, JSON.stringify(l)).toBeDefined();
        expect(l.trace_id, JSON.stringify(l)).toMatch(/^[0-9a-f]{32}$/);
      }
      if (l.msg === 'request completed' && (l.req as { method: string }).method === 'POST' && l.idempotency_key !== undefined) expect(l.operation).toBeDefined();
      // Each line validates against the published JSON Schema's field types.
      for (const f of METADATA_FIELDS) {
        if (l[f] === undefined) continue;
        const type = transactionMetadataJsonSchema.properties[f].type;
        expect(type === 'integer' ? Number.isInteger(l[f]) : typeof l[f] === 'string', `${f} on "${l.msg}"`).toBe(true);
      }
    }
    // One line per request from fastify: as many "request completed" as distinct request ids.
    const completed = lines.filter((l) => l.msg === 'request completed');
    expect(new Set(completed.map((l) => l.request_id)).size).toBe(completed.length);
    expect(lines.filter((l) => l.msg === 'incoming request')).toEqual([]);
  });
});
