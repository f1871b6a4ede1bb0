import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import type { Socket } from 'node:net';
import type { Gate } from '../idempotency/gate.js';
import type { Clock } from '../ports/clock.js';
import type { GatewayRouter } from '../gateways/router.js';
import type { MerchantAuth } from '../merchants/merchants.js';
import type { Metrics } from '../observability/metrics.js';
import { maskCardNumbersInUrl } from '../payments/cardData.js';
import type { PaymentService } from '../payments/service.js';
import { IdemError, problem } from '../errors/registry.js';
import { registerAuth } from './plugins/auth.js';
import { LocalLimiter, registerRateLimit, type Limiter } from './plugins/rateLimit.js';
import { MAX_URL_LENGTH, registerCardDataGuard } from './plugins/cardData.js';
import { registerIdempotency } from './plugins/idempotency.js';
import { PROBLEM_TYPE, sendProblem } from './problems.js';
import { newRequestId, openRequestContext, REQUEST_ID_HEADER, registerRequestContext, RequestLogController, requestIdOf, requestLogger, stampRequestId } from './requestContext.js';
import { noopTracer, type Tracer } from '../ports/tracing.js';
import { gatewaySchemas, registerGatewayRoutes } from './routes/gateways.js';
import { healthSchemas, registerHealthRoutes, type ReadinessProbe } from './routes/health.js';
import { registerPaymentRoutes } from './routes/payments.js';
import { registerEventRoutes, type EventStreamOptions } from './routes/events.js';
import type { EventFeed } from '../events/feed.js';
import type { WebhookEndpoints } from '../events/endpoints.js';
import { reconciliationSchemas, registerReconciliationRoutes } from './routes/reconciliation.js';
import { registerViewRoutes, viewSchemas } from './routes/views.js';
import { registerDashboard } from './routes/dashboard.js';
import { registerGatewayNotificationRoutes } from './routes/gatewayNotifications.js';
import type { AdyenNotificationTarget } from '../gateways/adyen/receive.js';
import type { Store } from '../store/port.js';
import type { Runtime } from '../ports/clock.js';
import type { HeapReport } from '../observability/heap.js';
import type { GatewayView } from '../resilience/book.js';
import { documentOptions, publicRoute } from './openapi.js';
import { registerQueryIntegers } from './plugins/queryIntegers.js';
import { serializerCompiler } from './render.js';
import { NAMED_SCHEMAS } from './schemas.js';
import { defaultServerLimits, type ServerLimits } from '../config/config.js';

export interface AppDeps {
  gate: Gate;
  auth: MerchantAuth;
  payments: PaymentService;
  gateways: GatewayRouter;
  metrics: Metrics;
  probe: ReadinessProbe;
  /** Where `/v1/reconciliation/cases` reads and resolves cases; absent: no such routes. */
  reconciliation?: { store: Store; runtime: Runtime };
  /** What `GET /v1/gateways` shows: the policy's name and every gateway's learned health. */
  gatewayHealth?: { policy: string; view(): GatewayView[] };
  /** The process's logger (pino); request logs are its children. */
  log: FastifyBaseLogger;
  /** Opens the request's span and those under it (docs/metadata.md, "Traces"); `noopTracer` unless told. */
  tracer?: Tracer;
  /**
   * Per-merchant request limit on /v1 routes; absent: none. `limiter` shares it across
   * instances (Redis); absent: a bucket per instance.
   */
  rateLimit?: { clock: Clock; perSecond: number; burst: number; limiter?: Limiter };
  /**
   * The dashboard's reads (docs/dashboard.md): a payment's ledger, webhook deliveries and gateway
   * records, the overview, merchants for the operator; absent: no such routes and no operator.
   */
  views?: { store: Store; clock: Clock };
  /** IDEM_OPERATOR_KEY: reads across merchants, never moves money (docs/dashboard.md); needs `views`. */
  operatorKey?: string;
  /** Where `/dashboard` is served from (the bundle `npm run build` writes); absent: `dist/dashboard`. */
  dashboardDir?: string;
  /** Failed authentications allowed per address per minute; absent or 0: no limit. */
  authFailures?: { clock: Clock; perMinute: number };
  /** Socket-level limits; absent: the defaults below. */
  server?: Partial<ServerLimits>;
  /** True only with `IDEM_METRICS_PORT=api`: `/metrics` (unauthenticated) on the API port; absent: not there. */
  metricsOnApi?: boolean;
  /** IDEM_DEBUG_HEAP=1: `GET /debug/heap` beside `/metrics` (src/observability/heap.ts); absent: no such route. */
  debugHeap?: () => HeapReport;
  version?: string;
  /** The event feed, its stream and webhook endpoints (docs/events.md); absent: no such routes. */
  events?: { feed: EventFeed; endpoints: WebhookEndpoints; stream: EventStreamOptions };
  /** Gateways whose processor sends notifications, by name (docs/gateways.md); absent: no such route. */
  notifications?: { targets: ReadonlyMap<string, AdyenNotificationTarget>; clock: Clock };
}

export { defaultServerLimits, type ServerLimits };

export const BODY_LIMIT = 64 * 1024;
/** Bodies of the POSTs that carry a few fields only (capture, void, refund). */
export const SMALL_BODY_LIMIT = 8 * 1024;

/** Builds the HTTP API (not listening yet): schema-first routes, problem+json errors. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const limits = { ...defaultServerLimits, ...deps.server };
  const app = Fastify({
    loggerInstance: deps.log,
    // Request-Id (docs/metadata.md): the client's when usable, else ours; bound as `request_id`
    // on the request's logger, and one log line per request.
    genReqId: requestIdOf,
    logController: new RequestLogController({ requestIdLogLabel: 'request_id', disableRequestLogging: deps.log.level === 'silent' }),
    childLoggerFactory: (logger, bindings, opts) => requestLogger(logger, bindings, opts),
    bodyLimit: BODY_LIMIT,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.connectionTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    schemaController: { compilersFactory: { buildSerializer: (shared) => serializerCompiler(shared as Record<string, unknown>) } },
    // Every refusal is a problem document, including those made before a route is found: a URL
    // the router cannot decode, HTTP the parser cannot read, a missing Host (checked below).
    frameworkErrors: (err, request, reply) => sendProblem(request, reply, err),
    clientErrorHandler: answerClientError,
    http: {
      requireHostHeader: false,
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
      // Node checks request and header timeouts on this interval: the default (30 s) would let a
      // trickled body live up to twice the timeout.
      connectionsCheckingInterval: Math.min(1_000, limits.requestTimeoutMs),
    },
  });
  app.server.maxConnections = limits.maxConnections;
  for (const schema of [...Object.values(NAMED_SCHEMAS), ...healthSchemas(), ...gatewaySchemas(), ...reconciliationSchemas(), ...viewSchemas()]) app.addSchema(schema);
  const tracer = deps.tracer ?? noopTracer;
  const logging = deps.log.level !== 'silent'; // a silent logger gets no child loggers either
  registerRequestContext(app, tracer);
  app.setErrorHandler((err, request, reply) => sendProblem(request, reply, err));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, new IdemError('ROUTE_NOT_FOUND', `no route ${request.method} ${maskCardNumbersInUrl(request.url.split('?', 1)[0]!)}`)),
  );
  // Cheapest checks first: a URL over the limit is refused before anything reads it.
  app.addHook('onRequest', async (request) => {
    openRequestContext(request, tracer, logging);
    if (request.url.length > MAX_URL_LENGTH) throw new IdemError('URL_TOO_LONG', `the URL is longer than ${MAX_URL_LENGTH} characters`);
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) throw new IdemError('VALIDATION_FAILED', 'an HTTP/1.1 request needs a Host header');
  });
  app.addHook('onSend', async (request, reply) => {
    stampRequestId(request, reply);
    // API answers are per merchant and may carry payment data: no cache may keep them, and no
    // browser may guess another type for them.
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
  });
  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(swagger, documentOptions(deps.version ?? '0.1.0'));
  // The reference, served from the package's own files: no CDN, no validator badge.
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true, validatorUrl: null }, staticCSP: true });

  registerHealthRoutes(app, deps.probe);
  if (deps.metricsOnApi === true) {
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
      reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()),
    );
    const debugHeap = deps.debugHeap;
    if (debugHeap) app.get('/debug/heap', { schema: { hide: true } }, async (_request, reply) => reply.header('cache-control', 'no-store').send(debugHeap()));
  }
  app.get('/openapi.json', { schema: publicRoute('getOpenApiDocument', 'This document (OpenAPI 3.1)') }, async () => app.swagger());

  await app.register(async (v1) => {
    v1.addHook('onRoute', (route) => {
      const methods = [route.method].flat();
      if (route.bodyLimit === undefined) route.bodyLimit = methods.includes('POST') && route.url === '/v1/payments' ? BODY_LIMIT : SMALL_BODY_LIMIT;
    });
    // Order: auth (reads one header) → per-merchant limit → card-number scan (URL, headers,
    // then the body as it is parsed) → the idempotency gate.
    const af = deps.authFailures;
    registerQueryIntegers(v1);
    registerAuth(v1, deps.auth, {
      ...(af && af.perMinute > 0 ? { failures: new LocalLimiter(af.clock, { perSecond: af.perMinute / 60, burst: af.perMinute }) } : {}),
      ...(deps.operatorKey && deps.views ? { operator: { key: deps.operatorKey, merchantExists: (id: string) => deps.views!.store.merchantExists(id) } } : {}),
    });
    if (deps.rateLimit) {
      const { clock, perSecond, burst, limiter } = deps.rateLimit;
      registerRateLimit(v1, limiter ?? new LocalLimiter(clock, { perSecond, burst }), perSecond);
    }
    registerCardDataGuard(v1);
    registerIdempotency(v1, deps.gate);
    registerPaymentRoutes(v1, deps.payments, deps.gateways);
    if (deps.gatewayHealth) registerGatewayRoutes(v1, deps.gatewayHealth);
    if (deps.events) registerEventRoutes(v1, deps.events.feed, deps.events.endpoints, deps.events.stream);
    if (deps.reconciliation) registerReconciliationRoutes(v1, deps.reconciliation.store, deps.reconciliation.runtime);
    if (deps.views) registerViewRoutes(v1, deps.views.store, deps.views.clock, deps.metrics);
  });
  registerDashboard(app, deps.dashboardDir);
  // Processors' notifications: no bearer key (each item's HMAC is checked), no idempotency
  // gate (the processor sends no Idempotency-Key; duplicates are harmless by design).
  const notifications = deps.notifications;
  if (notifications) {
    await app.register(async (hooks) => {
      registerCardDataGuard(hooks);
      registerGatewayNotificationRoutes(hooks, notifications.targets, notifications.clock);
    });
  }
  return app;
}

/** True if the bytes the parser refused have no end of the request line within MAX_URL_LENGTH. */
function requestLineTooLong(err: NodeJS.ErrnoException): boolean {
  const raw = (err as { rawPacket?: Buffer }).rawPacket;
  if (!Buffer.isBuffer(raw)) return false;
  const end = raw.indexOf('\r\n');
  return end === -1 ? raw.length > MAX_URL_LENGTH : end > MAX_URL_LENGTH;
}

/**
 * Answers what Node's HTTP parser refuses before Fastify sees a request (malformed syntax,
 * headers over 16 KiB, a request too slow to arrive) with a problem document, then closes the
 * connection: the stream cannot be trusted past a parse error.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable && err.code === 'HPE_HEADER_OVERFLOW' && requestLineTooLong(err)) {
    // A URL too long for the parser's 16 KiB gets the same answer as one over MAX_URL_LENGTH.
    const requestId = newRequestId();
    const body = JSON.stringify(problem('URL_TOO_LONG', `the URL is longer than ${MAX_URL_LENGTH} characters`, { request_id: requestId }));
    socket.write(
      `HTTP/1.1 414 URI Too Long\r\nContent-Type: ${PROBLEM_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${REQUEST_ID_HEADER}: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  } else if (socket.writable) {
    const detail =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 'the request headers are larger than 16 KiB'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 'the request did not arrive in time'
          : 'the request is not valid HTTP/1.1';
    const requestId = newRequestId();
    const body = JSON.stringify(problem('VALIDATION_FAILED', detail, { request_id: requestId }));
    socket.write(
      `HTTP/1.1 400 Bad Request\r\nContent-Type: ${PROBLEM_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${REQUEST_ID_HEADER}: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
