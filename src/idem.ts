import { Cluster } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import { pino, type DestinationStream, type LoggerOptions } from 'pino';
import { buildApp } from './api/app.js';
import { renderEndpointAnswer, renderPaymentResult } from './api/render.js';
import { redact, serverLimitsOf, type Config } from './config/config.js';
import { connectorFor } from './composition/connectors.js';
import { eventsPoolOf, startEventWork, type EventWork } from './composition/eventWork.js';
import { countingTransactions, type Database } from './db/database.js';
import { migrate } from './db/migrate.js';
import { openPglite } from './db/pglite.js';
import { openPostgres } from './db/postgres.js';
import type { GatewayConnector } from './gateways/port.js';
import { GatewayRouter } from './gateways/router.js';
import type { Processor } from './gateways/simulator/processor.js';
import { MemoryNotificationLog } from './gateways/adyen/memoryLog.js';
import { AdyenGateways } from './gateways/adyen/wiring.js';
import { SqlNotificationLog } from './store/sql/gatewayNotifications.js';
import { MemorySettlementFileLog } from './gateways/adyen/settlementFiles.js';
import { SqlSettlementFileLog } from './store/sql/gatewaySettlementFiles.js';
import { LocalKeyEvents, type KeyEvents } from './idempotency/events.js';
import { InProcessFastPath, type FastPath } from './idempotency/fastpath.js';
import { Gate } from './idempotency/gate.js';
import { PgKeyEvents, notifyOver } from './store/pg/keyEvents.js';
import { RedisFastPath } from './store/redis/fastPath.js';
import { RedisKeyEvents } from './store/redis/keyEvents.js';
import { ClusterKeyEvents } from './store/redis/clusterKeyEvents.js';
import { signalsOver } from './store/signals.js';
import { connectRedis, type RedisClient } from './store/redis/connect.js';
import { SqlStore } from './store/sql/index.js';
import type { Store } from './store/port.js';
import { startSweeper } from './idempotency/sweeper.js';
import { RELAY_SIGNAL, startRelay, type Relay } from './outbox/relay.js';
import { MerchantAuth } from './merchants/merchants.js';
import { Metrics } from './observability/metrics.js';
import { heapAfterGc } from './observability/heap.js';
import { startMetricsServer } from './observability/metricsServer.js';
import { startOtlpTracing } from './observability/tracing.js';
import { noopTracer, type Tracer } from './ports/tracing.js';
import { LocalLimiter, RedisLimiter } from './api/plugins/rateLimit.js';
import { PaymentService } from './payments/service.js';
import { systemRuntime, type Runtime } from './ports/clock.js';
import { newId } from './ports/ids.js';
import { hash } from 'node:crypto';
import { adaptivePolicy } from './resilience/adaptive.js';
import { concurrencyLimitFor } from './resilience/concurrencyLimit.js';
import { HealthBook } from './resilience/book.js';
import { defaultHealthPriors } from './resilience/health.js';
import { gatewayHealthReporter } from './resilience/healthEvents.js';
import { staticPolicy, type RetryPolicy } from './resilience/policy.js';
import { SharedProbes, type ProbeLeaseStore } from './resilience/probes.js';
import { SharedHealth, type ObservationLog } from './resilience/shared.js';
import { RedisObservationLog } from './store/redis/observations.js';
import { RedisProbeLeases } from './store/redis/probeLeases.js';
import { startReconcileLoop } from './reconciliation/loop.js';
import { Reconciler } from './reconciliation/reconciler.js';
import { SqlObservationLog } from './store/sql/observations.js';
import type { WebhookTransport } from './events/delivery.js';
import { SqlProbeLeases } from './store/sql/probeLeases.js';
import { WebhookEndpoints } from './events/endpoints.js';
import { EventFeed } from './events/feed.js';
import { resolveHost } from './outbound/webhookHttp.js';

export { eventsPoolOf } from './composition/eventWork.js';

/** A running Idem: its parts, for the CLI, tests and benchmarks. */
export interface Idem {
  config: Config;
  /** The SQL database behind `store`; null when a store was given instead (`IdemOverrides.store`). */
  db: Database | null;
  /** One Redis server or a Redis Cluster (`REDIS_URL`); null without Redis. */
  redis: RedisClient | null;
  app: FastifyInstance;
  gate: Gate;
  /** The storage port: over `db`, or the store given in `IdemOverrides.store`. */
  store: Store;
  payments: PaymentService;
  gateways: GatewayRouter;
  /** The in-process simulated processors, by gateway name. */
  simulators: Map<string, Processor>;
  metrics: Metrics;
  runtime: Runtime;
  /** The outbox relay and recovery; null when disabled. */
  relay: Relay | null;
  /** Event positioning and webhook delivery (docs/events.md); null when disabled. */
  events: EventWork | null;
  /** Where spans go: OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, the override, else `noopTracer`. */
  tracer: Tracer;
  /** Reconciliation against the gateways' logs (docs/reconciliation.md); its loop runs unless disabled. */
  reconciler: Reconciler;
  /** Listens on `config.host:config.port`; resolves to the address. */
  listen(): Promise<string>;
  /** Where `/metrics` is served when it has a port of its own (IDEM_METRICS_PORT), once listening. */
  metricsUrl?: string;
  close(): Promise<void>;
}

export interface IdemOverrides {
  runtime?: Runtime;
  /** pino options for the process's logger; absent or false: no logging. */
  logger?: LoggerOptions | false;
  /** Where the logger writes (tests read the lines back); default stdout. */
  logDestination?: DestinationStream;
  /** Use this database instead of opening one from the config. */
  db?: Database;
  /**
   * Use this store (e.g. `MemoryStore`) instead of a database: none is opened or migrated, the
   * fast path is in-process and key events local, whatever the config names.
   *
   * @example
   *   const idem = await createIdem(loadConfig({}), { store: new MemoryStore(), relay: false });
   */
  store?: Store;
  /** Extra connectors by gateway name (tests). */
  connectors?: Map<string, GatewayConnector>;
  /** Skip the background sweeper (tests that sweep by hand). */
  sweeper?: boolean;
  /** Skip the background relay and recovery (tests that run it by hand). */
  relay?: boolean;
  /** Skip event positioning and webhook delivery (tests that run them by hand). */
  events?: boolean;
  /** Send webhooks through this instead of HTTP (tests). */
  webhookTransport?: WebhookTransport;
  /** Resolve webhook endpoint hosts with this instead of DNS (tests). */
  resolveHost?: (host: string) => Promise<string[]>;
  /** Use this tracer (tests: an in-memory exporter behind `otelTracer`) instead of the config's. */
  tracer?: Tracer;
  /** Skip the background reconciliation loop (tests and `idem reconcile`, which run passes by hand). */
  reconcile?: boolean;
}

const VERSION = '0.1.0';

/** The composition root: opens the stores the config names, migrates, wires the core to HTTP. */
export async function createIdem(config: Config, overrides: IdemOverrides = {}): Promise<Idem> {
  const runtime = overrides.runtime ?? systemRuntime;
  const log = overrides.logger
    ? overrides.logDestination
      ? pino(overrides.logger, overrides.logDestination)
      : pino(overrides.logger)
    : pino({ enabled: false });
  // IDEM_PG_POOL_MAX is the instance's whole budget: a fifth of it (at most 4) goes to the
  // events pool when events run on PostgreSQL (docs/scale-out.md).
  // Connectors first: a bad gateway credential stops start-up before anything is opened.
  const simulators = new Map<string, Processor>();
  const adyen = new AdyenGateways();
  const connectors = config.gateways.map((g) => overrides.connectors?.get(g.name) ?? connectorFor(g, runtime, simulators, config.simulatorRetentionMs, adyen));
  const eventsPoolMax = overrides.events !== false && config.databaseUrl && !overrides.db && !overrides.store ? eventsPoolOf(config.pgPoolMax) : 0;
  const metrics = new Metrics({ defaultMetrics: true });
  const counted = (db: Database): Database => countingTransactions(db, () => metrics.dbTransactions++);
  const opened = overrides.db ?? (overrides.store ? null : config.databaseUrl ? openPostgres(config.databaseUrl, { max: config.pgPoolMax - eventsPoolMax }) : await openPglite(config.dataDir));
  const db = opened && counted(opened);
  const ownsDb = db !== null && !overrides.db;
  const closers: Array<() => Promise<unknown> | unknown> = [];
  try {
    if (db) await migrate(db);
    let tracer = overrides.tracer ?? noopTracer;
    if (!overrides.tracer && config.otlpEndpoint) {
      const tracing = await startOtlpTracing(config.serviceName, VERSION);
      tracer = tracing.tracer;
      // Closed last: the spans of everything else's shutdown are flushed.
      closers.push(() => tracing.shutdown().catch(() => {}));
    }

    let redis: RedisClient | null = null;
    let fast: FastPath;
    let events: KeyEvents;
    if (db === null) {
      fast = new InProcessFastPath(runtime.clock);
      events = new LocalKeyEvents();
    } else if (config.redis) {
      // Redis is an accelerator: while it (or a cluster shard) is away Idem serves from PostgreSQL alone.
      const client = await connectRedis(config.redis);
      redis = client;
      closers.push(() => client.disconnect());
      fast = new RedisFastPath(client, (what) => log.error({ what }, 'redis answers no longer match their commands; reconnecting (PostgreSQL answers meanwhile)'));
      events = client instanceof Cluster ? new ClusterKeyEvents(client) : await RedisKeyEvents.connect(client);
    } else if (db.kind === 'postgres' && config.databaseUrl) {
      fast = new InProcessFastPath(runtime.clock);
      events = await PgKeyEvents.connect(config.databaseUrl, notifyOver(db), runtime.timers);
    } else {
      fast = new InProcessFastPath(runtime.clock);
      events = new LocalKeyEvents();
    }
    closers.push(() => events.close());
    // Background passes (docs/architecture.md): wake-ups over the same channel; metrics per pass.
    const signals = signalsOver(events, runtime.timers);
    // The gateway-health pass's notices go at most every 10 ms: it announces each failure, so an
    // outage is learned by every instance at once (docs/resilience.md).
    const healthSignals = signalsOver(events, runtime.timers, 10);

    const passes = { idleMaxMs: config.idleMaxMs, observe: metrics.pass };
    // A request that wrote (every POST goes through the gate) wakes the event relay.
    let eventsWritten = (): void => {};
    const store = overrides.store ?? new SqlStore(db!);
    adyen.bind(db ? new SqlNotificationLog(db) : new MemoryNotificationLog(), db ? new SqlSettlementFileLog(db) : new MemorySettlementFileLog());
    // On PostgreSQL, never under the requests' pool (docs/resilience.md, "Shedding overload").
    const requestPool = config.databaseUrl && !overrides.store ? config.pgPoolMax - eventsPoolMax : undefined;
    const admission = concurrencyLimitFor(config.concurrencyLimit, config.concurrencyMax, requestPool);
    if (admission) metrics.watchConcurrency(admission);
    const gate = new Gate({
      store,
      fast,
      events,
      runtime,
      holdTimeoutMs: config.holdTimeoutMs,
      leaseMs: config.leaseMs,
      keyTtlMs: config.keyTtlS * 1000,
      observe: (e) => {
        metrics.gate(e);
        if (e === 'executed') eventsWritten();
      },
      tracer,
      ...(admission ? { admission } : {}),
    });

    const gateways = new GatewayRouter(config.gateways.map((g, i) => ({ name: g.name, priority: g.priority, connector: connectors[i]! })));
    // Gateway health (docs/resilience.md): learned from every instance's answers through a
    // shared log (Redis, else PostgreSQL; embedded and in-memory runs are one instance).
    const book = new HealthBook({}, runtime.clock.now());
    const observationLogs: ObservationLog[] = [];
    const probeLeases: ProbeLeaseStore[] = [];
    // One stream (and one set of probe leases) per database: instances that share a database share what they learn.
    const deployment = hash('sha256', redact(config.databaseUrl ?? config.dataDir)).slice(0, 16);
    if (redis) observationLogs.push(new RedisObservationLog(redis, runtime.clock, `idem:gateway-observations:${deployment}`));
    if (redis) probeLeases.push(new RedisProbeLeases(redis, `idem:probe-lease:${deployment}`));
    if (db?.kind === 'postgres') observationLogs.push(new SqlObservationLog(db, runtime.clock));
    if (db?.kind === 'postgres') probeLeases.push(new SqlProbeLeases(db));
    // Each change is also a `gateway.*` event, written once however many instances learn it.
    const healthEvents = gatewayHealthReporter({ store, runtime, log });
    closers.push(() => healthEvents.settled());
    const healthInstance = newId(runtime.random, 'inst', 12);
    // Embedded and in-memory runs are one instance: each gateway's own probe pacing.
    const probes = probeLeases.length > 0 ? new SharedProbes({ instance: healthInstance, stores: probeLeases, schedule: { minMs: defaultHealthPriors.probeMinMs, maxMs: defaultHealthPriors.probeMaxMs }, log }) : undefined;
    const shared = new SharedHealth({
      book,
      runtime,
      instance: healthInstance,
      logs: observationLogs,
      log,
      signals: healthSignals,
      // Idle, nothing here needs the others' answers: own traffic hurries it, a change of state anywhere wakes it.
      idleMaxMs: 6 * config.idleMaxMs,
      observePass: metrics.pass,
      onChange: (c) => {
        metrics.gatewayStateChange(c);
        log.warn({ gateway: c.gateway, operation: c.operation, from: c.from, to: c.to, why: c.why }, `gateway ${c.gateway} is ${c.to}`);
        healthEvents.report(c);
      },
    });
    if (observationLogs.length > 0) {
      shared.start();
      closers.push(() => shared.stop());
    }
    const basePolicy = config.resilience === 'adaptive' ? adaptivePolicy({ book, shared, probes, clock: runtime.clock, random: runtime.random }) : staticPolicy();
    const policy: RetryPolicy = {
      ...basePolicy,
      observe: (answer) => {
        metrics.gatewayAnswer(answer);
        // The static policy does not act on the model, but it is still learned and shown.
        if (basePolicy.observe) basePolicy.observe(answer);
        else shared.record(answer);
      },
    };
    const payments = new PaymentService({ store, gateways, runtime, policy, relayDelayMs: config.leaseMs, render: renderPaymentResult, log, tracer, observeRound: metrics.paymentRound });
    const auth = new MerchantAuth(store, runtime.clock, config.authCacheMs);
    // Events (docs/events.md): positioned after commit, fanned out to webhooks, streamed.
    const eventWork =
      overrides.events === false ? null : startEventWork({ config, db, eventsPoolMax, counted, store, runtime, log, tracer, passes, webhookTransport: overrides.webhookTransport, closers });
    if (eventWork) eventsWritten = eventWork.relay.kick;
    const eventApi = {
      feed: new EventFeed(store),
      endpoints: new WebhookEndpoints({ store, runtime, resolve: overrides.resolveHost ?? resolveHost, allowPrivate: config.webhookAllowPrivate, render: renderEndpointAnswer }),
      stream: {
        perMerchant: config.eventStreamsPerMerchant,
        heartbeatMs: config.eventStreamHeartbeatMs,
        pollMs: 1_000,
        ...(eventWork ? { onPositioned: eventWork.relay.onPositioned } : {}),
      },
    };
    const rateLimit = config.rateLimitPerSecond > 0 ? { perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst || config.rateLimitPerSecond } : null;
    const debugHeap = config.debugHeap ? () => heapAfterGc({ simulators: Object.fromEntries([...simulators].map(([name, p]) => [name, p.held()])) }) : undefined;
    const app = await buildApp({
      gate,
      auth,
      payments,
      gateways,
      metrics,
      log,
      tracer,
      version: VERSION,
      ...(rateLimit
        ? {
            rateLimit: {
              clock: runtime.clock,
              ...rateLimit,
              // Shared by every instance on this Redis; each falls back to its own bucket while Redis is away.
              ...(redis ? { limiter: new RedisLimiter(redis, 'idem:rl:merchant:', rateLimit, new LocalLimiter(runtime.clock, rateLimit)) } : {}),
            },
          }
        : {}),
      authFailures: { clock: runtime.clock, perMinute: config.authFailuresPerMinute },
      server: serverLimitsOf(config),
      metricsOnApi: config.metricsOnApi,
      ...(debugHeap ? { debugHeap } : {}),
      events: eventApi,
      reconciliation: { store, runtime },
      views: { store, clock: runtime.clock },
      ...(config.operatorKey ? { operatorKey: config.operatorKey } : {}),
      notifications: {
        clock: runtime.clock,
        // A notification settles an open attempt at once: its row falls due, the relay wakes.
        targets: adyen.targets(store, runtime.clock, () => signals.notify(RELAY_SIGNAL)),
      },
      gatewayHealth: { policy: policy.name, view: () => book.view(config.gateways.map((g) => g.name), runtime.clock.now()) },
      probe: {
        database: async () => {
          await db?.query('SELECT 1');
        },
        redis: () => (redis === null ? 'absent' : redis.status === 'ready' ? 'up' : 'down'),
      },
    });
    closers.push(() => app.close());
    if (overrides.sweeper !== false) {
      const stop = startSweeper({ store, runtime, intervalMs: config.sweepIntervalMs, ratePerSecond: config.sweepRatePerSecond, log: app.log, observe: metrics.pass });
      closers.push(stop);
    }

    let relay: Relay | null = null;
    if (overrides.relay !== false) {
      const wake = (listener: () => void) => signals.on(RELAY_SIGNAL, listener);
      relay = startRelay({ store, gate, payments, runtime, intervalMs: config.relayIntervalMs, leaseMs: config.leaseMs, log: app.log, observe: metrics.recovery, tracer, idleMaxMs: config.idleMaxMs, observePass: metrics.pass, wake });
      const r = relay;
      closers.push(() => r.stop());
    }

    const instance = newId(runtime.random, 'inst', 12);
    const reconciler = new Reconciler({
      store,
      gateways,
      runtime,
      owner: instance,
      leaseMs: config.leaseMs,
      settlementWindowMs: config.settlementWindowMs,
      log: app.log,
      tracer,
    });
    if (overrides.reconcile !== false && config.reconcileIntervalMs > 0) {
      const loop = startReconcileLoop(reconciler, runtime, config.reconcileIntervalMs, app.log, { idleMaxMs: Math.max(config.reconcileIntervalMs, 12 * config.idleMaxMs), observe: metrics.pass });
      closers.push(() => loop.stop());
    }

    let closed = false;
    const idem: Idem = {
      config,
      db,
      redis,
      app,
      gate,
      store,
      payments,
      gateways,
      simulators,
      metrics,
      runtime,
      relay,
      events: eventWork,
      tracer,
      reconciler,
      async listen() {
        if (config.metricsPort !== undefined) {
          const m = await startMetricsServer(metrics, config.host, config.metricsPort, debugHeap);
          closers.push(() => m.close());
          idem.metricsUrl = m.url;
        }
        return app.listen({ host: config.host, port: config.port });
      },
      async close() {
        if (closed) return;
        closed = true;
        for (const c of closers.reverse()) await c();
        if (ownsDb) await db.close();
      },
    };
    return idem;
  } catch (err) {
    for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => {});
    if (ownsDb) await db.close().catch(() => {});
    throw err;
  }
}

/**
 * A reconciler over `store` and the config's gateways outside this process, for `idem reconcile` run as
 * its own process (an in-process simulator's log lives in the `idem serve` that runs it). `db`
 * is the database `store` is on: an Adyen gateway's log is the notifications stored there.
 */
export function reconcilerForCli(config: Config, store: Store, db: Database | null, runtime: Runtime = systemRuntime): Reconciler {
  const simulators = new Map<string, Processor>();
  const http = config.gateways.filter((g) => g.kind !== 'simulator');
  // An Adyen gateway's log is the notifications `idem serve` stored (docs/gateways.md): read here from the same database.
  const adyen = new AdyenGateways();
  adyen.bind(db ? new SqlNotificationLog(db) : new MemoryNotificationLog(), db ? new SqlSettlementFileLog(db) : new MemorySettlementFileLog());
  const connectors = new Map(http.map((g) => [g.name, connectorFor(g, runtime, simulators, config.simulatorRetentionMs, adyen)]));
  const gateways = {
    names: http.map((g) => g.name),
    connector(name: string): GatewayConnector {
      const c = connectors.get(name);
      if (!c) throw new Error(`no gateway named ${name} outside this process`);
      return c;
    },
  };
  return new Reconciler({ store, gateways, runtime, owner: newId(runtime.random, 'cli', 12), leaseMs: config.leaseMs, settlementWindowMs: config.settlementWindowMs });
}
