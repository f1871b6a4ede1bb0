import { readFileSync } from 'node:fs';
import { ConfigError, redact } from './configError.js';
import { parseRedisUrl, type RedisTarget } from './redisUrl.js';

export { ConfigError, redact } from './configError.js';
export { parseRedisUrl, type RedisTarget } from './redisUrl.js';

/** The kinds of gateway `IDEM_GATEWAYS` accepts. */
export const GATEWAY_KINDS = ['simulator', 'http', 'stripe', 'adyen'] as const;
export type GatewayKind = (typeof GATEWAY_KINDS)[number];

export interface GatewayConfig {
  name: string;
  /**
   * `simulator`: in-process simulated gateway; `http`: a processor speaking the simulator's HTTP
   * API; `stripe`, `adyen`: the real processors on their official libraries (docs/gateways.md).
   */
  kind: GatewayKind;
  /** For `http`: where it listens. For `stripe` / `adyen`: overrides the processor's API host (tests). */
  baseUrl?: string;
  /**
   * Where the secret is: `env:NAME` (or a bare `NAME`) for an environment variable, or a file
   * path (`file:/path`, or `/path`) readable by the owner only. Never the secret itself;
   * resolved by `src/gateways/credentials.ts` when Idem starts.
   */
  credentialsRef?: string;
  /**
   * For `adyen`: a folder where Adyen's Settlement details reports (CSV) are put; each file is
   * read once into reconciliation (docs/gateways.md, "Settlement reports").
   */
  settlementReportsDir?: string;
  /**
   * For `stripe`: how long (ms) after a key was sent a PaymentIntent search that finds nothing
   * is believed (Stripe's search index lags writes, about a minute); until then the lookup says
   * unknown. Default 60,000.
   */
  searchSettleMs?: number;
  /** Lower goes first. */
  priority: number;
  /** For `http`: how long to wait for an answer before the outcome is unknown. */
  timeoutMs: number;
  /** For `simulator`: fixed latency and decline rate. */
  latencyMs: number;
  declineRate: number;
}

/** Timeouts and caps of the HTTP server, so a slow or greedy client cannot hold it. */
export interface ServerLimits {
  /** A request (headers and body) must arrive within this; then its connection is cut. */
  requestTimeoutMs: number;
  /** Headers must arrive within this. */
  headersTimeoutMs: number;
  /** An idle socket (no bytes either way) is closed after this. */
  connectionTimeoutMs: number;
  /**
   * An idle keep-alive connection is closed after this. Longer than a load balancer's idle
   * timeout (60 s on common ones), so the balancer never reuses a connection Idem is closing.
   */
  keepAliveTimeoutMs: number;
  /** Open connections at most; more are refused by the socket layer. */
  maxConnections: number;
  /** Requests served on one connection at most (0: no limit). */
  maxRequestsPerSocket: number;
}

export const defaultServerLimits: ServerLimits = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  connectionTimeoutMs: 60_000,
  keepAliveTimeoutMs: 72_000,
  maxConnections: 2_048,
  maxRequestsPerSocket: 10_000,
};

/** The server limits out of a whole configuration. */
export function serverLimitsOf(c: ServerLimits): ServerLimits {
  const { requestTimeoutMs, headersTimeoutMs, connectionTimeoutMs, keepAliveTimeoutMs, maxConnections, maxRequestsPerSocket } = c;
  return { requestTimeoutMs, headersTimeoutMs, connectionTimeoutMs, keepAliveTimeoutMs, maxConnections, maxRequestsPerSocket };
}

export interface Config extends ServerLimits {
  host: string;
  port: number;
  /** PostgreSQL connection string; absent → embedded PGlite in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** `REDIS_URL` as given (print it with `redact`). */
  redisUrl: string | undefined;
  /** `REDIS_URL` parsed: one server or a cluster's seed nodes. */
  redis: RedisTarget | undefined;
  /** Connections in each instance's PostgreSQL pool (`IDEM_PG_POOL_MAX`). */
  pgPoolMax: number;
  holdTimeoutMs: number;
  leaseMs: number;
  keyTtlS: number;
  sweepIntervalMs: number;
  /** Expired keys the sweeper deletes per second at most while a backlog lasts. */
  sweepRatePerSecond: number;
  /** How often the outbox relay (recovery) looks for due work. */
  relayIntervalMs: number;
  /** How often each instance runs a reconciliation pass (docs/reconciliation.md); 0: never. */
  reconcileIntervalMs: number;
  /** How long a gateway's log may lag a success Idem recorded before a settlement case. */
  settlementWindowMs: number;
  /**
   * How long an in-process simulated gateway keeps its log, its answer per key and idle
   * authorizations (`IDEM_SIMULATOR_RETENTION_MS`): at least ten reconciliation intervals, so
   * reconciliation reads every entry before it leaves (docs/testing.md, "The simulated processor").
   */
  simulatorRetentionMs: number;
  /** `IDEM_DEBUG_HEAP=1`: serve `GET /debug/heap` (heap statistics after a forced GC) for the soak bench; off by default. */
  debugHeap: boolean;
  /** Requests per second per merchant on /v1, per instance; 0: no limit. */
  rateLimitPerSecond: number;
  /** Requests a merchant may send at once; 0: the same as the rate. */
  rateLimitBurst: number;
  /**
   * First requests in progress at once per instance, past which more are shed with 503
   * (docs/resilience.md, "Shedding overload"): `adaptive` learns it from latency, a number
   * fixes it, `off` sheds nothing.
   */
  concurrencyLimit: 'adaptive' | 'off' | number;
  /** The adaptive limit's ceiling. */
  concurrencyMax: number;
  logLevel: string;
  /** `adaptive`: the learned gateway health model decides retries and routing; `static`: fixed tries and priority (docs/resilience.md). */
  resilience: 'adaptive' | 'static';
  gateways: GatewayConfig[];
  /** True when IDEM_GATEWAYS was not set and the default simulated gateways are used. */
  gatewaysDefaulted: boolean;
  /** Failed authentications per minute allowed from one address before it gets 429; 0: no limit. */
  authFailuresPerMinute: number;
  /** How long a resolved (or unknown) API key is remembered; a revoked key stops working within this. */
  authCacheMs: number;
  /** IDEM_OPERATOR_KEY: a bearer key that reads across merchants and never moves money (docs/dashboard.md); absent: none. */
  operatorKey: string | undefined;
  /** When set, `/metrics` is served on this port of its own; unset: nowhere (never on the API port unless `metricsOnApi`). */
  metricsPort: number | undefined;
  /** `IDEM_METRICS_PORT=api`: `/metrics`, unauthenticated, on the API port (local development). */
  metricsOnApi: boolean;
  /** Events (docs/events.md): positioning and delivery interval, webhook limits, streams, NATS. */
  eventsIntervalMs: number;
  /** The longest an idle background pass sleeps between looks (docs/architecture.md, "Background passes"). */
  idleMaxMs: number;
  webhookAllowPrivate: boolean;
  webhookTimeoutMs: number;
  webhookPerEndpoint: number;
  webhookMaxInFlight: number;
  webhookLaneSize: number;
  eventStreamsPerMerchant: number;
  eventStreamHeartbeatMs: number;
  natsUrl: string | undefined;
  /**
   * Where traces go (OTLP), from `OTEL_EXPORTER_OTLP_ENDPOINT` or
   * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; absent: no tracing, and no cost (docs/metadata.md).
   */
  otlpEndpoint: string | undefined;
  /** `OTEL_SERVICE_NAME`, default `idem`. */
  serviceName: string;
}

export interface Flags {
  port?: string | number;
  dataDir?: string;
  host?: string;
}

const MIN_KEY_TTL_S = 3600;

/**
 * Three minutes: eighteen default reconciliation intervals, six leases, and short enough that a
 * sandbox at a steady rate holds a steady amount (the soak bench's verdict starts at minute 5).
 */
export const DEFAULT_SIMULATOR_RETENTION_MS = 180_000;
const SIMULATOR_RETENTION_INTERVALS = 10;

/** Connections per instance's PostgreSQL pool unless `IDEM_PG_POOL_MAX` says otherwise. */
export const DEFAULT_PG_POOL_MAX = 20;

/**
 * Reads configuration from the environment and command-line flags (flags win). Throws
 * `ConfigError` with a one-line message naming the setting and what is wrong with it.
 */
export function loadConfig(env: Record<string, string | undefined>, flags: Flags = {}): Config {
  const databaseUrl = nonEmpty(env.DATABASE_URL);
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(`DATABASE_URL must start with postgres:// or postgresql:// (got "${redact(databaseUrl)}")`);
  }
  const redisUrl = nonEmpty(env.REDIS_URL);
  const redis = redisUrl === undefined ? undefined : parseRedisUrl(redisUrl);
  const leaseMs = integer('IDEM_LEASE_MS', env.IDEM_LEASE_MS, 30_000, 1_000, 600_000);
  const reconcileIntervalMs = integer('IDEM_RECONCILE_INTERVAL_MS', env.IDEM_RECONCILE_INTERVAL_MS, 10_000, 0, 86_400_000);
  // Unset, the retention follows a longer reconciliation interval, so setting only the interval
  // never stops Idem (and never matters with real gateways, which keep their own history).
  const leastRetentionMs = SIMULATOR_RETENTION_INTERVALS * reconcileIntervalMs;
  const simulatorRetentionMs = integer(
    'IDEM_SIMULATOR_RETENTION_MS',
    env.IDEM_SIMULATOR_RETENTION_MS,
    Math.max(DEFAULT_SIMULATOR_RETENTION_MS, leastRetentionMs),
    60_000,
    30 * 86_400_000,
  );
  if (simulatorRetentionMs < leastRetentionMs) {
    throw new ConfigError(
      `IDEM_SIMULATOR_RETENTION_MS (${simulatorRetentionMs}) must be at least ${SIMULATOR_RETENTION_INTERVALS} × IDEM_RECONCILE_INTERVAL_MS (${reconcileIntervalMs}), so reconciliation reads every simulated gateway's entry before it is dropped`,
    );
  }
  return {
    host: flags.host ?? nonEmpty(env.HOST) ?? '127.0.0.1',
    port: integer(flags.port !== undefined ? '--port' : 'PORT', flags.port ?? env.PORT, 8080, 0, 65_535),
    databaseUrl,
    dataDir: flags.dataDir ?? nonEmpty(env.IDEM_DATA_DIR) ?? './.idem',
    redisUrl,
    redis,
    pgPoolMax: integer('IDEM_PG_POOL_MAX', env.IDEM_PG_POOL_MAX, DEFAULT_PG_POOL_MAX, 4, 1_000),
    holdTimeoutMs: integer('IDEM_HOLD_TIMEOUT_MS', env.IDEM_HOLD_TIMEOUT_MS, 10_000, 0, 600_000),
    leaseMs,
    keyTtlS: integer('IDEM_KEY_TTL_S', env.IDEM_KEY_TTL_S, 86_400, MIN_KEY_TTL_S, 365 * 86_400),
    sweepIntervalMs: integer('IDEM_SWEEP_INTERVAL_MS', env.IDEM_SWEEP_INTERVAL_MS, 60_000, 100, 86_400_000),
    sweepRatePerSecond: integer('IDEM_SWEEP_RATE', env.IDEM_SWEEP_RATE, 25_000, 100, 10_000_000),
    relayIntervalMs: integer('IDEM_RELAY_INTERVAL_MS', env.IDEM_RELAY_INTERVAL_MS, 1_000, 10, 600_000),
    reconcileIntervalMs,
    simulatorRetentionMs,
    debugHeap: env.IDEM_DEBUG_HEAP === '1',
    settlementWindowMs: integer('IDEM_SETTLEMENT_WINDOW_MS', env.IDEM_SETTLEMENT_WINDOW_MS, 86_400_000, 1_000, 30 * 86_400_000),
    rateLimitPerSecond: integer('IDEM_RATE_LIMIT_RPS', env.IDEM_RATE_LIMIT_RPS, 0, 0, 1_000_000),
    rateLimitBurst: integer('IDEM_RATE_LIMIT_BURST', env.IDEM_RATE_LIMIT_BURST, 0, 0, 10_000_000),
    concurrencyLimit: concurrencyLimit(env.IDEM_CONCURRENCY_LIMIT),
    concurrencyMax: integer('IDEM_CONCURRENCY_MAX', env.IDEM_CONCURRENCY_MAX, 1_000, 4, 1_000_000),
    logLevel: oneOf('LOG_LEVEL', env.LOG_LEVEL, 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    resilience: oneOf('IDEM_RESILIENCE', env.IDEM_RESILIENCE, 'adaptive', ['adaptive', 'static']),
    gateways: gateways(env.IDEM_GATEWAYS),
    gatewaysDefaulted: nonEmpty(env.IDEM_GATEWAYS) === undefined,
    requestTimeoutMs: integer('IDEM_REQUEST_TIMEOUT_MS', env.IDEM_REQUEST_TIMEOUT_MS, defaultServerLimits.requestTimeoutMs, 1_000, 600_000),
    headersTimeoutMs: integer('IDEM_HEADERS_TIMEOUT_MS', env.IDEM_HEADERS_TIMEOUT_MS, defaultServerLimits.headersTimeoutMs, 1_000, 600_000),
    connectionTimeoutMs: integer('IDEM_CONNECTION_TIMEOUT_MS', env.IDEM_CONNECTION_TIMEOUT_MS, defaultServerLimits.connectionTimeoutMs, 1_000, 3_600_000),
    keepAliveTimeoutMs: integer('IDEM_KEEP_ALIVE_TIMEOUT_MS', env.IDEM_KEEP_ALIVE_TIMEOUT_MS, defaultServerLimits.keepAliveTimeoutMs, 100, 600_000),
    maxConnections: integer('IDEM_MAX_CONNECTIONS', env.IDEM_MAX_CONNECTIONS, defaultServerLimits.maxConnections, 1, 1_000_000),
    maxRequestsPerSocket: integer('IDEM_MAX_REQUESTS_PER_SOCKET', env.IDEM_MAX_REQUESTS_PER_SOCKET, defaultServerLimits.maxRequestsPerSocket, 0, 100_000_000),
    authFailuresPerMinute: integer('IDEM_AUTH_FAILURES_PER_MINUTE', env.IDEM_AUTH_FAILURES_PER_MINUTE, 120, 0, 1_000_000),
    authCacheMs: integer('IDEM_AUTH_CACHE_MS', env.IDEM_AUTH_CACHE_MS, 10_000, 0, 600_000),
    operatorKey: operatorKey(env.IDEM_OPERATOR_KEY),
    eventsIntervalMs: integer('IDEM_EVENTS_INTERVAL_MS', env.IDEM_EVENTS_INTERVAL_MS, 50, 5, 60_000),
    // Embedded, the data folder is locked to this one process, so every write wakes its pass in
    // process and the idle look is only a safety net: it can be rarer (docs/architecture.md).
    idleMaxMs: integer('IDEM_IDLE_MAX_MS', env.IDEM_IDLE_MAX_MS, databaseUrl === undefined ? 30_000 : 10_000, 100, 600_000),
    webhookAllowPrivate: env.IDEM_WEBHOOK_ALLOW_PRIVATE === '1',
    webhookTimeoutMs: integer('IDEM_WEBHOOK_TIMEOUT_MS', env.IDEM_WEBHOOK_TIMEOUT_MS, 10_000, 100, 60_000),
    webhookPerEndpoint: integer('IDEM_WEBHOOK_PER_ENDPOINT', env.IDEM_WEBHOOK_PER_ENDPOINT, 16, 1, 256),
    webhookMaxInFlight: integer('IDEM_WEBHOOK_MAX_IN_FLIGHT', env.IDEM_WEBHOOK_MAX_IN_FLIGHT, 64, 1, 4096),
    webhookLaneSize: integer('IDEM_WEBHOOK_LANE', env.IDEM_WEBHOOK_LANE, 8, 1, 100),
    eventStreamsPerMerchant: integer('IDEM_EVENT_STREAMS_PER_MERCHANT', env.IDEM_EVENT_STREAMS_PER_MERCHANT, 5, 1, 1_000),
    eventStreamHeartbeatMs: integer('IDEM_EVENT_STREAM_HEARTBEAT_MS', env.IDEM_EVENT_STREAM_HEARTBEAT_MS, 15_000, 100, 600_000),
    natsUrl: nonEmpty(env.IDEM_NATS_URL),
    otlpEndpoint: otlpEndpoint(env),
    serviceName: nonEmpty(env.OTEL_SERVICE_NAME) ?? 'idem',
    metricsPort:
      env.IDEM_METRICS_PORT === undefined || ['', 'api'].includes(env.IDEM_METRICS_PORT.trim()) ? undefined : integer('IDEM_METRICS_PORT', env.IDEM_METRICS_PORT, 0, 0, 65_535),
    metricsOnApi: env.IDEM_METRICS_PORT?.trim() === 'api',
  };
}

/** The OTLP endpoint for traces, checked to be an http(s) URL (the OpenTelemetry SDK reads it itself). */
function otlpEndpoint(env: Record<string, string | undefined>): string | undefined {
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT'] as const) {
    const url = nonEmpty(env[name]);
    if (url === undefined) continue;
    if (!/^https?:\/\/[^\s]+$/.test(url)) throw new ConfigError(`${name} must be an http:// or https:// URL (got "${redact(url)}")`);
    return url;
  }
  return undefined;
}

/**
 * The gateways Idem uses when `IDEM_GATEWAYS` is not set: two in-process simulators, so
 * failover works out of the box (`sim-a` first, `sim-b` when `sim-a` does not process).
 */
export const defaultGateways: GatewayConfig[] = [
  { name: 'sim-a', kind: 'simulator', priority: 0, timeoutMs: 10_000, latencyMs: 0, declineRate: 0 },
  { name: 'sim-b', kind: 'simulator', priority: 1, timeoutMs: 10_000, latencyMs: 0, declineRate: 0 },
];

function gateways(raw: string | undefined): GatewayConfig[] {
  const text = nonEmpty(raw);
  if (text === undefined) return defaultGateways;
  let source = text;
  if (!text.trimStart().startsWith('[') && !text.trimStart().startsWith('{')) {
    try {
      source = readFileSync(text, 'utf8');
    } catch (err) {
      throw new ConfigError(`IDEM_GATEWAYS: cannot read file "${text}" (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(source);
  } catch {
    throw new ConfigError('IDEM_GATEWAYS is not valid JSON');
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { gateways?: unknown }).gateways;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ConfigError('IDEM_GATEWAYS must be a non-empty JSON array of gateways (or { "gateways": [...] })');
  }
  const seen = new Set<string>();
  return list.map((g: Record<string, unknown>, i): GatewayConfig => {
    const where = `IDEM_GATEWAYS[${i}]`;
    if (typeof g !== 'object' || g === null) throw new ConfigError(`${where} must be an object`);
    const name = g.name;
    if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,39}$/.test(name)) {
      throw new ConfigError(`${where}.name must be 1-40 lower-case letters, digits, "-" or "_"`);
    }
    if (seen.has(name)) throw new ConfigError(`${where}.name "${name}" is used twice`);
    seen.add(name);
    const kind = g.kind;
    if (!(GATEWAY_KINDS as readonly unknown[]).includes(kind)) throw new ConfigError(`${where}.kind must be one of ${GATEWAY_KINDS.map((k) => `"${k}"`).join(', ')}`);
    const baseUrl = g.base_url ?? g.baseUrl;
    if (kind === 'http' && (typeof baseUrl !== 'string' || !/^https?:\/\//.test(baseUrl))) {
      throw new ConfigError(`${where}.base_url must be an http(s) URL for kind "http"`);
    }
    if (baseUrl !== undefined && (typeof baseUrl !== 'string' || !/^https?:\/\/[^\s]+$/.test(baseUrl))) {
      throw new ConfigError(`${where}.base_url must be an http(s) URL`);
    }
    const credentialsRef = g.credentials_ref ?? g.credentialsRef;
    if (credentialsRef !== undefined && (typeof credentialsRef !== 'string' || !CREDENTIALS_REF.test(credentialsRef))) {
      throw new ConfigError(`${where}.credentials_ref must be "env:NAME" or a file path`);
    }
    if ((kind === 'stripe' || kind === 'adyen') && credentialsRef === undefined) {
      throw new ConfigError(`${where}.credentials_ref is required for kind "${kind}" (gateway "${name}")`);
    }
    const reportsDir = g.settlement_reports_dir ?? g.settlementReportsDir;
    if (reportsDir !== undefined && (kind !== 'adyen' || typeof reportsDir !== 'string' || reportsDir.trim() === '')) {
      throw new ConfigError(`${where}.settlement_reports_dir must be a folder path, and only for kind "adyen"`);
    }
    const searchSettle = g.search_settle_ms ?? g.searchSettleMs;
    if (searchSettle !== undefined && kind !== 'stripe') throw new ConfigError(`${where}.search_settle_ms is only for kind "stripe"`);
    return {
      name,
      kind: kind as GatewayKind,
      ...(typeof reportsDir === 'string' ? { settlementReportsDir: reportsDir } : {}),
      ...(searchSettle !== undefined ? { searchSettleMs: integer(`${where}.search_settle_ms`, searchSettle, 60_000, 0, 3_600_000) } : {}),
      ...(typeof baseUrl === 'string' ? { baseUrl: baseUrl.replace(/\/+$/, '') } : {}),
      ...(typeof credentialsRef === 'string' ? { credentialsRef } : {}),
      priority: integer(`${where}.priority`, g.priority, i, 0, 1_000_000),
      timeoutMs: integer(`${where}.timeout_ms`, g.timeout_ms ?? g.timeoutMs, 10_000, 10, 600_000),
      latencyMs: integer(`${where}.latency_ms`, g.latency_ms ?? g.latencyMs, 0, 0, 600_000),
      declineRate: rate(`${where}.decline_rate`, g.decline_rate ?? g.declineRate),
    };
  });
}

/** At least 32 characters a bearer token may carry: it reads every merchant's payments. */
function operatorKey(raw: string | undefined): string | undefined {
  const key = nonEmpty(raw);
  if (key !== undefined && !/^[A-Za-z0-9_\-.]{32,200}$/.test(key)) throw new ConfigError('IDEM_OPERATOR_KEY must be 32-200 characters of A-Z a-z 0-9 _ - .');
  return key;
}

/** `env:NAME`, a bare upper-case environment variable `NAME` (so a pasted `sk_…` key is never taken for one), `file:PATH`, or a path (`/…`, `./…`, `../…`). */
const CREDENTIALS_REF = /^(env:[A-Za-z_][A-Za-z0-9_]*|[A-Z_][A-Z0-9_]*|file:.+|\.{0,2}\/.+)$/;

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function integer(name: string, raw: unknown, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === null || raw === '') return fallback;
  const n = typeof raw === 'number' ? raw : /^-?\d+$/.test(String(raw).trim()) ? Number(String(raw).trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max} (got "${String(raw)}")`);
  }
  return n;
}

function rate(name: string, raw: unknown): number {
  if (raw === undefined) return 0;
  if (typeof raw !== 'number' || !(raw >= 0 && raw <= 1)) throw new ConfigError(`${name} must be a number from 0 to 1`);
  return raw;
}

/** `IDEM_CONCURRENCY_LIMIT`: `adaptive` (default), `off`, or a fixed number of requests. */
function concurrencyLimit(raw: string | undefined): 'adaptive' | 'off' | number {
  const v = nonEmpty(raw)?.toLowerCase();
  if (v === undefined || v === 'adaptive') return 'adaptive';
  if (v === 'off') return 'off';
  if (!/^\d+$/.test(v)) throw new ConfigError(`IDEM_CONCURRENCY_LIMIT must be adaptive, off or an integer from 1 to 1000000 (got "${raw}")`);
  return integer('IDEM_CONCURRENCY_LIMIT', v, 0, 1, 1_000_000);
}

function oneOf<T extends string>(name: string, raw: string | undefined, fallback: T, allowed: readonly T[]): T {
  const v = nonEmpty(raw);
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')} (got "${v}")`);
  return v as T;
}
