/**
 * Every request's identity for support, logs and traces (docs/metadata.md): its `Request-Id`
 * (the client's, when it sent a usable one), its standard transaction metadata as it grows
 * (merchant after auth, key and operation at the gate, payment in the pipeline), its span (a
 * child of the client's `traceparent` when there is one), and one log line when it ends.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { METADATA_FIELDS, type TransactionMetadata } from '../events/metadata.js';
import type { RequestContext } from '../idempotency/claim.js';
import { newId } from '../ports/ids.js';
import { NO_SPAN, remoteSpan, type Span, type Tracer } from '../ports/tracing.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The standard transaction metadata known so far (docs/metadata.md); `request_id` always. */
    metadata: TransactionMetadata;
    /** The request's span: its own when tracing, the client's `traceparent` otherwise, else none. */
    span: Span;
  }
}

/** The response header naming the request, and the request header a client may set it with. */
export const REQUEST_ID_HEADER = 'request-id';

/** What a client's `Request-Id` may be: visible ASCII, no spaces, up to 128 characters. */
const CLIENT_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Request ids: 14 random base-32 characters drawn once per process (70 bits: instances do not
 * collide), then a counter in 10 letters — unique, and as cheap as fastify's own `req-1`,
 * `req-2`. The counter is written in letters only (a…z), never digits: zero-padded digits after
 * a prefix ending in digits made runs like `4710000000018`, which pass the Luhn check and read
 * as a card number in every log line and event carrying the id.
 */
const PROCESS_PREFIX = newId({ bytes: (n) => randomBytes(n), float: () => 0 }, 'req', 14);
let counter = 0;

/** One request shed at the concurrency limit (src/api/shed.ts) in this many gets a request log line. */
export const SHED_LOG_EVERY = 100;

/** The request log's sampling of sheds: the first of each run of SHED_LOG_EVERY is logged. */
export class ShedSampler {
  private seen = 0;

  /** Counts one shed; true when this one gets its line. */
  take(): boolean {
    return this.seen++ % SHED_LOG_EVERY === 0;
  }
}

/** A new request id, `req_` and 24 characters: 14 base-32, then 10 letters. */
export function newRequestId(): string {
  let n = counter++;
  let letters = '';
  for (let i = 0; i < 10; i++) {
    letters = String.fromCharCode(97 + (n % 26)) + letters;
    n = Math.floor(n / 26);
  }
  return PROCESS_PREFIX + letters;
}

/** fastify's `genReqId`: the client's `Request-Id` when usable, else a new one. */
export function requestIdOf(raw: IncomingMessage): string {
  const sent = raw.headers[REQUEST_ID_HEADER];
  return typeof sent === 'string' && CLIENT_REQUEST_ID.test(sent) ? sent : newRequestId();
}

/** The request's metadata and span, as the core takes them. */
export function requestContext(request: FastifyRequest): RequestContext {
  return { metadata: request.metadata, span: request.span };
}

/** The metadata but `request_id`, which the request's logger has bound already. */
function unboundMetadata(request: FastifyRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const m = request.metadata as Record<string, unknown> | null;
  if (!m) return out;
  for (const f of METADATA_FIELDS) if (f !== 'request_id' && m[f] !== undefined) out[f] = m[f];
  return out;
}

/**
 * fastify's request lines, one per request: no "incoming request" line, and a "request
 * completed" (or "request errored") line carrying the request and response as fastify's did
 * plus every metadata field known by then. Requests shed at the concurrency limit are the
 * exception: one in SHED_LOG_EVERY gets its line (with `shed_logged_one_in`), since under
 * overload they are most requests and `idem_shed_total` counts them all. Logged through `reply.log`, the request's first
 * logger, which has only `request_id` bound, so no field appears twice.
 */
export class RequestLogController extends LogController {
  /** A shed request (src/api/shed.ts) gets a line of its own one time in SHED_LOG_EVERY. */
  private readonly sheds = new ShedSampler();

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    if (request.shed === true && !this.sheds.take()) return;
    const line = { ...unboundMetadata(request), req: request, res: reply, responseTime: reply.elapsedTime, ...(request.shed === true ? { shed_logged_one_in: SHED_LOG_EVERY } : {}) };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }

  override streamError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    reply.log.warn({ ...unboundMetadata(request), err: error }, 'response terminated with an error with headers already sent');
  }

  override writeHeadError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    reply.log.warn({ ...unboundMetadata(request), err: error }, error.message);
  }

  override serializerError(error: Error, request: FastifyRequest, reply: FastifyReply, metadata: { statusCode: number }): void {
    if (this.isLogDisabled(request)) return;
    reply.log.error({ ...unboundMetadata(request), err: error, statusCode: metadata.statusCode }, 'The serializer for the given status code failed');
  }
}

/**
 * Decorates requests with their metadata and span; with tracing, ends the span with the
 * status. The per-request work is `openRequestContext` and `stampRequestId`, which the app
 * calls from its own first `onRequest` and `onSend` hooks (a hook of their own would cost two
 * more async steps on every request).
 */
export function registerRequestContext(app: FastifyInstance, tracer: Tracer): void {
  app.decorateRequest('metadata', null as unknown as TransactionMetadata);
  app.decorateRequest('span', null as unknown as Span);
  if (tracer.enabled) {
    app.addHook('onResponse', async (request, reply) => {
      request.span.set({ ...request.metadata, 'http.response.status_code': reply.statusCode });
      request.span.end();
    });
    app.addHook('onRequestAbort', async (request) => {
      request.span.fail(new Error('the client closed the connection'));
      request.span.end();
    });
  }
}

/**
 * Gives the request its metadata and span, before anything else runs: a span of its own when
 * tracing (a child of the client's `traceparent`), else the client's, else none. `logging`:
 * false when the logger is silent, so no child logger is made for nothing.
 */
export function openRequestContext(request: FastifyRequest, tracer: Tracer, logging: boolean): void {
  const sent = request.headers.traceparent;
  const remote = typeof sent === 'string' ? remoteSpan(sent) : undefined;
  const span = tracer.enabled
    ? tracer.start(
        `${request.method} ${request.routeOptions.url ?? 'unmatched'}`,
        { 'http.request.method': request.method, 'http.route': request.routeOptions.url, request_id: request.id },
        { parent: remote, kind: 'server' },
      )
    : (remote ?? NO_SPAN);
  request.span = span;
  if (span.traceId === undefined) {
    request.metadata = { request_id: request.id };
  } else {
    request.metadata = { request_id: request.id, trace_id: span.traceId };
    if (logging) request.log = request.log.child({ trace_id: span.traceId });
  }
}

/** `Request-Id` on the answer (docs/metadata.md). */
export function stampRequestId(request: FastifyRequest, reply: FastifyReply): void {
  reply.header(REQUEST_ID_HEADER, request.id);
}

type LogFn = FastifyBaseLogger['info'];

/**
 * A request's logger without a pino child per request: each line goes to the process's logger
 * with the request's bindings (its `request_id`) merged in, which is what a child would write.
 * A request logs about one line; building a child (its bindings serialised up front) cost more
 * than the line. Its children (the merchant, the key, added as the request goes) are the same
 * with more bindings; asked for options (a route's own level), it makes a real child.
 */
export function requestLogger(parent: FastifyBaseLogger, bindings: Record<string, unknown>, opts: object | undefined): FastifyBaseLogger {
  if (opts && Object.keys(opts).length > 0) return parent.child(bindings, opts as never);
  const enabled = (parent as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.bind(parent) ?? (() => true);
  const at = (level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'): LogFn =>
    ((first: unknown, ...rest: unknown[]) => {
      if (!enabled(level)) return;
      const log = parent[level] as (...a: unknown[]) => void;
      if (first instanceof Error) return log.call(parent, { ...bindings, err: first }, ...rest);
      if (first !== null && typeof first === 'object') return log.call(parent, { ...bindings, ...first }, ...rest);
      return log.call(parent, bindings, first, ...rest);
    }) as LogFn;
  return {
    get level() {
      return parent.level;
    },
    set level(_: string) {
      // A request's level follows the process's (route levels come with `opts`, above).
    },
    fatal: at('fatal'),
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    trace: at('trace'),
    silent: parent.silent,
    child: (more, childOpts) => requestLogger(parent, { ...bindings, ...more }, childOpts),
  } as FastifyBaseLogger;
}
