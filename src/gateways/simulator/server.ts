import { setMaxListeners } from 'node:events';
/**
 * The gateway simulator as a real HTTP server (docs/testing.md), a thin fastify shell around
 * the transport-free processor; requests and answers are mapped by `./wire.ts`, as in the
 * in-process connector. Latency is served with the injected timers; a dropped answer holds the
 * socket open until the client gives up, as a processor that charged and then lost the reply
 * would.
 */
import type { Socket } from 'node:net';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { type Runtime, sleep, systemRuntime } from '../../ports/clock.js';
import { seededRandom } from '../../ports/seeded.js';
import type { TransactionMetadata } from '../../events/metadata.js';
import { metadataFromHeaders } from '../http/metadataHeaders.js';
import { GATEWAY_OPERATIONS, type GatewayOperation } from '../port.js';
import {
  createProcessor,
  type Processor,
  SIMULATOR_LOG_STATUSES,
  type SimulatorAnswer,
  type SimulatorFaults,
} from './processor.js';
import { OperationBody, toSimulatorRequest, wireAnswer } from './wire.js';

/** What {@link startSimulatorServer} accepts. */
export interface SimulatorServerOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0: any free port (read it from the result). */
  port?: number;
  faults?: Partial<SimulatorFaults>;
  /** Seeds the processor's random source (faults and ids); default: `runtime.random`. */
  seed?: number;
  /** Clock and timers (and random unless `seed`); default: the system runtime. */
  runtime?: Runtime;
}

/** A running simulator. */
export interface SimulatorServer {
  /** e.g. `http://127.0.0.1:41234` */
  url: string;
  port: number;
  /** The processor behind the server, for direct inspection (log, stats, faults). */
  processor: Processor;
  /**
   * The last calls received (up to 10 000, oldest first) with the Idem metadata headers and
   * `traceparent` they carried (docs/metadata.md, "Gateway calls"): what a gateway's support
   * would see.
   */
  calls(): readonly SimulatorCall[];
  /** Stops listening and destroys held and waiting sockets; resolves promptly. */
  close(): Promise<void>;
}

/** A call as the simulator received it. */
export interface SimulatorCall {
  /** When the request arrived, on the simulator's clock (ms). */
  at: number;
  method: string;
  path: string;
  /** The gateway key (`Idempotency-Key`), for operations. */
  idempotencyKey?: string;
  traceparent?: string;
  metadata: TransactionMetadata;
}

const MAX_CALLS = 10_000;

const LogEntrySchema = Type.Object({
  id: Type.String(),
  idempotency_key: Type.String(),
  operation: Type.Union(GATEWAY_OPERATIONS.map((o) => Type.Literal(o))),
  amount: Type.Integer(),
  currency: Type.String(),
  reference: Type.String(),
  authorization_id: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union(SIMULATOR_LOG_STATUSES.map((s) => Type.Literal(s))),
  decline_code: Type.Optional(Type.String()),
  created_at: Type.String(),
});

/** A log entry as `GET /v1/transactions` lists it: a keyless one without its key, the merchant when the request named one. */
const ListedEntrySchema = Type.Object({
  ...LogEntrySchema.properties,
  idempotency_key: Type.Optional(Type.String()),
  merchant_id: Type.Optional(Type.String()),
});

/** Every non-200 operation answer: a decline (log entry + error) or an error. */
const AnswerSchema = Type.Object({
  ...Type.Partial(LogEntrySchema).properties,
  error: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  processed: Type.Optional(Type.Boolean()),
  reason: Type.Optional(Type.String()),
});

const OperationResponses = { 200: LogEntrySchema, '4xx': AnswerSchema, '5xx': AnswerSchema };

const OperationHeaders = Type.Object({ 'idempotency-key': Type.String({ minLength: 1, maxLength: 255 }) });

const WindowSchema = Type.Object({ start: Type.String(), end: Type.String() });

const FaultsSchema = Type.Object({
  latency: Type.Object({ minMs: Type.Integer({ minimum: 0 }), maxMs: Type.Integer({ minimum: 0 }) }),
  declineRate: Type.Number({ minimum: 0, maximum: 1 }),
  errorBeforeProcessingRate: Type.Number({ minimum: 0, maximum: 1 }),
  timeoutAfterProcessingRate: Type.Number({ minimum: 0, maximum: 1 }),
  ambiguousErrorRate: Type.Number({ minimum: 0, maximum: 1 }),
  keylessRecordRate: Type.Number({ minimum: 0, maximum: 1 }),
  outages: Type.Array(WindowSchema),
  degraded: Type.Array(Type.Object({ ...WindowSchema.properties, latencyMs: Type.Integer({ minimum: 0 }) })),
  outage: Type.Boolean(),
  retryAfterSeconds: Type.Number({ minimum: 0 }),
});

const ErrorSchema = Type.Object({ error: Type.String(), message: Type.Optional(Type.String()) });

const OpCounts = Type.Object({ received: Type.Integer(), executed: Type.Integer(), replayed: Type.Integer() });
const StatsSchema = Type.Object({
  received: Type.Integer(),
  executed: Type.Integer(),
  replayed: Type.Integer(),
  unavailable: Type.Integer(),
  dropped: Type.Integer(),
  ambiguous: Type.Integer(),
  keyReused: Type.Integer(),
  invalid: Type.Integer(),
  statusQueries: Type.Integer(),
  byOperation: Type.Object(Object.fromEntries(GATEWAY_OPERATIONS.map((op) => [op, OpCounts])) as Record<GatewayOperation, typeof OpCounts>),
});

/**
 * Starts the simulator on a real socket.
 *
 * @example
 * const sim = await startSimulatorServer({ seed: 7, faults: { timeoutAfterProcessingRate: 0.1 } });
 * // POST `${sim.url}/v1/authorize` with `Idempotency-Key`; read the truth with sim.processor.log()
 * await sim.close();
 */
export async function startSimulatorServer(options: SimulatorServerOptions = {}): Promise<SimulatorServer> {
  const runtime = options.runtime ?? systemRuntime;
  const processor = createProcessor({
    clock: runtime.clock,
    random: options.seed === undefined ? runtime.random : seededRandom(options.seed),
    ...(options.faults ? { faults: options.faults } : {}),
  });
  // Sockets whose answer is withheld (dropped) and requests waiting out their latency: close()
  // must not wait for either, so it destroys the first and wakes the second.
  const held = new Set<Socket>();
  const closing = new AbortController();
  // One listener per delayed answer waits on this signal; hundreds at once are expected.
  setMaxListeners(0, closing.signal);

  // Closing cuts every connection, busy or idle: a client's keep-alive pool must not hold it open.
  const app = Fastify({ logger: false, forceCloseConnections: true }).withTypeProvider<TypeBoxTypeProvider>();
  const calls: SimulatorCall[] = [];
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/') || request.url.startsWith('/v1/faults')) return;
    const key = request.headers['idempotency-key'];
    const traceparent = request.headers.traceparent;
    calls.push({
      at: runtime.clock.now(),
      method: request.method,
      path: request.url,
      ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
      ...(typeof traceparent === 'string' ? { traceparent } : {}),
      metadata: metadataFromHeaders(request.headers),
    });
    if (calls.length >= 2 * MAX_CALLS) calls.splice(0, calls.length - MAX_CALLS);
  });

  app.setErrorHandler((err: { statusCode?: number; validation?: unknown; message: string }, _req, reply) => {
    const status = err.validation !== undefined ? 400 : (err.statusCode ?? 500);
    void reply.code(status).send({ error: status === 400 ? 'invalid_request' : 'internal', message: err.message });
  });

  /**
   * Sends a processor answer after its latency, or withholds it. Callers `return reply` so
   * fastify knows the async handler answered through `reply`.
   */
  async function deliver(request: FastifyRequest, reply: FastifyReply, answer: SimulatorAnswer): Promise<void> {
    if (answer.answer === 'drop') {
      // Executed and logged; the reply is lost. Keep the socket open until the client gives up.
      reply.hijack();
      const socket = request.raw.socket;
      held.add(socket);
      socket.once('close', () => held.delete(socket));
      if (closing.signal.aborted) socket.destroy();
      return;
    }
    if (answer.latencyMs > 0) await sleep(runtime.timers, answer.latencyMs, closing.signal);
    const wire = wireAnswer(answer);
    void reply.headers(wire.headers);
    await reply.code(wire.status).send(wire.body);
  }

  for (const operation of GATEWAY_OPERATIONS) {
    app.post(
      `/v1/${operation}`,
      { schema: { body: OperationBody, headers: OperationHeaders, response: OperationResponses } },
      async (request, reply) => {
        const answer = processor.handle(toSimulatorRequest(operation, request.headers['idempotency-key'], request.body, metadataFromHeaders(request.headers).merchant_id));
        await deliver(request, reply as FastifyReply, answer);
        return reply;
      },
    );
  }

  app.get(
    '/v1/operations/:gatewayKey',
    {
      schema: {
        params: Type.Object({ gatewayKey: Type.String({ minLength: 1 }) }),
        response: OperationResponses,
      },
    },
    async (request, reply) => {
      await deliver(request, reply as FastifyReply, processor.status(request.params.gatewayKey));
      return reply;
    },
  );

  app.get(
    '/v1/transactions',
    {
      schema: {
        querystring: Type.Object({
          since: Type.Optional(Type.String()),
          cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
        }),
        response: {
          200: Type.Object({ data: Type.Array(ListedEntrySchema), next_cursor: Type.String(), has_more: Type.Boolean() }),
          '4xx': AnswerSchema,
          '5xx': AnswerSchema,
        },
      },
    },
    async (request, reply) => {
      const since = request.query.since === undefined ? 0 : Date.parse(request.query.since);
      if (!Number.isFinite(since)) {
        return reply.code(400).send({ error: 'invalid_request', message: 'since must be an ISO 8601 time' });
      }
      const cursor = request.query.cursor === undefined ? null : Number(request.query.cursor);
      await deliver(request, reply as FastifyReply, processor.transactions(since, cursor, request.query.limit ?? 1000));
      return reply;
    },
  );

  app.get('/v1/faults', { schema: { response: { 200: FaultsSchema } } }, () => processor.faults());

  app.put(
    '/v1/faults',
    { schema: { body: Type.Partial(FaultsSchema), response: { 200: FaultsSchema, 400: ErrorSchema } } },
    async (request, reply) => {
      try {
        return processor.setFaults(request.body);
      } catch (err) {
        if (err instanceof RangeError) return reply.code(400).send({ error: 'invalid_request', message: err.message });
        throw err;
      }
    },
  );

  app.get('/v1/stats', { schema: { response: { 200: StatsSchema } } }, () => processor.stats());

  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('simulator: no TCP address after listen');
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    processor,
    calls: () => calls.slice(-MAX_CALLS),
    close() {
      closed ??= (async () => {
        closing.abort();
        for (const socket of held) socket.destroy();
        held.clear();
        await app.close();
      })();
      return closed;
    },
  };
}
