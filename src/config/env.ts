/**
 * Every environment variable Idem reads, in one table: `loadConfig` (./config.ts) reads exactly
 * the rows whose group is not `client` (src/config/config.test.ts records its reads and holds
 * the two in step), and each command's `--help` lists the groups it uses (src/cli/envHelp.ts),
 * so a help text cannot name a variable Idem does not read, or miss one it does.
 */

/**
 * What a setting is for, which decides the commands whose help lists it: `database` (every
 * command that opens the database), `gateways` (commands that call gateways), `server` (only
 * `idem serve`), `client` (commands that talk to a running instance over HTTP).
 */
export type EnvGroup = 'database' | 'gateways' | 'server' | 'client';

export interface EnvSetting {
  name: string;
  group: EnvGroup;
  /** One line: what it does and its default. */
  about: string;
  /** A value someone would really set. */
  example: string;
}

/** The table (README "Configuration" has the long form of each row). */
export const ENV_SETTINGS: readonly EnvSetting[] = [
  { name: 'DATABASE_URL', group: 'database', about: 'PostgreSQL; absent: embedded PGlite in --data-dir', example: 'postgres://idem@db.internal:5432/idem' },
  { name: 'IDEM_DATA_DIR', group: 'database', about: 'embedded database folder (--data-dir wins; default ./.idem)', example: './.idem' },
  { name: 'IDEM_GATEWAYS', group: 'gateways', about: 'gateways as JSON, inline or a file path (default: simulators sim-a, sim-b)', example: './gateways.json' },
  { name: 'PORT', group: 'server', about: 'HTTP port (--port wins; default 8080)', example: '8080' },
  { name: 'HOST', group: 'server', about: 'address to listen on (--host wins; default 127.0.0.1)', example: '0.0.0.0' },
  { name: 'REDIS_URL', group: 'server', about: 'Redis fast path, one server or redis+cluster:// seed nodes (optional)', example: 'redis://cache.internal:6379' },
  { name: 'IDEM_PG_POOL_MAX', group: 'server', about: 'PostgreSQL connections per instance (default 20)', example: '10' },
  { name: 'IDEM_HOLD_TIMEOUT_MS', group: 'server', about: 'how long a duplicate is held before 409 IDEM_IN_PROGRESS (default 10000)', example: '10000' },
  { name: 'IDEM_LEASE_MS', group: 'server', about: 'lease on an in-progress key (default 30000)', example: '30000' },
  { name: 'IDEM_KEY_TTL_S', group: 'server', about: 'how long completed keys are kept (default 86400, min 3600)', example: '86400' },
  { name: 'IDEM_SWEEP_INTERVAL_MS', group: 'server', about: 'how often expired keys are swept (default 60000)', example: '60000' },
  { name: 'IDEM_SWEEP_RATE', group: 'server', about: 'expired keys deleted per second at most (default 25000)', example: '25000' },
  { name: 'IDEM_RELAY_INTERVAL_MS', group: 'server', about: 'how often the outbox relay looks for due work (default 1000)', example: '1000' },
  { name: 'IDEM_RECONCILE_INTERVAL_MS', group: 'server', about: 'how often each instance reconciles (0: never; default 10000)', example: '10000' },
  { name: 'IDEM_SETTLEMENT_WINDOW_MS', group: 'server', about: 'how long a gateway log may lag a success before a case (default 86400000)', example: '86400000' },
  { name: 'IDEM_SIMULATOR_RETENTION_MS', group: 'server', about: 'history an in-process simulated gateway keeps (default 180000)', example: '180000' },
  { name: 'IDEM_DEBUG_HEAP', group: 'server', about: '1: serve GET /debug/heap where /metrics is served (off by default)', example: '1' },
  { name: 'IDEM_RATE_LIMIT_RPS', group: 'server', about: 'requests per second per merchant (0: off, the default)', example: '200' },
  { name: 'IDEM_RATE_LIMIT_BURST', group: 'server', about: 'requests a merchant may send at once (default: the rate)', example: '400' },
  { name: 'IDEM_CONCURRENCY_LIMIT', group: 'server', about: 'first requests in progress at once: adaptive (default), off or a number', example: 'adaptive' },
  { name: 'IDEM_CONCURRENCY_MAX', group: 'server', about: 'ceiling of the adaptive limit (default 1000)', example: '1000' },
  { name: 'LOG_LEVEL', group: 'server', about: 'pino level (default info)', example: 'warn' },
  { name: 'IDEM_RESILIENCE', group: 'server', about: 'adaptive (default) or static retries and routing', example: 'static' },
  { name: 'IDEM_REQUEST_TIMEOUT_MS', group: 'server', about: 'a request must arrive within this (default 30000)', example: '30000' },
  { name: 'IDEM_HEADERS_TIMEOUT_MS', group: 'server', about: 'headers must arrive within this (default 10000)', example: '10000' },
  { name: 'IDEM_CONNECTION_TIMEOUT_MS', group: 'server', about: 'an idle connection is closed after this (default 60000)', example: '60000' },
  { name: 'IDEM_KEEP_ALIVE_TIMEOUT_MS', group: 'server', about: 'an idle keep-alive connection is closed after this (default 72000)', example: '72000' },
  { name: 'IDEM_MAX_CONNECTIONS', group: 'server', about: 'open connections at most (default 2048)', example: '2048' },
  { name: 'IDEM_MAX_REQUESTS_PER_SOCKET', group: 'server', about: 'requests on one connection (0: no limit; default 10000)', example: '10000' },
  { name: 'IDEM_AUTH_FAILURES_PER_MINUTE', group: 'server', about: 'failed authentications per address per minute (0: off; default 120)', example: '120' },
  { name: 'IDEM_AUTH_CACHE_MS', group: 'server', about: 'how long a resolved API key is remembered (default 10000)', example: '10000' },
  { name: 'IDEM_IDLE_MAX_MS', group: 'server', about: 'longest an idle background pass sleeps between looks (default 10000; embedded 30000)', example: '10000' },
  { name: 'IDEM_EVENTS_INTERVAL_MS', group: 'server', about: 'event positioning and delivery interval (default 50)', example: '50' },
  { name: 'IDEM_WEBHOOK_ALLOW_PRIVATE', group: 'server', about: '1: allow webhook endpoints on private addresses', example: '1' },
  { name: 'IDEM_WEBHOOK_TIMEOUT_MS', group: 'server', about: 'webhook delivery timeout (default 10000)', example: '10000' },
  { name: 'IDEM_WEBHOOK_PER_ENDPOINT', group: 'server', about: 'webhook sends in flight to one endpoint (default 16)', example: '16' },
  { name: 'IDEM_WEBHOOK_MAX_IN_FLIGHT', group: 'server', about: 'webhook sends in flight per instance (default 64)', example: '64' },
  { name: 'IDEM_WEBHOOK_LANE', group: 'server', about: "one payment's deliveries to an endpoint sent together (default 8)", example: '8' },
  { name: 'IDEM_EVENT_STREAMS_PER_MERCHANT', group: 'server', about: 'open event streams per merchant (default 5)', example: '5' },
  { name: 'IDEM_EVENT_STREAM_HEARTBEAT_MS', group: 'server', about: 'heartbeat on an idle event stream (default 15000)', example: '15000' },
  { name: 'IDEM_NATS_URL', group: 'server', about: 'publish every event to NATS JetStream (optional)', example: 'nats://127.0.0.1:4222' },
  { name: 'IDEM_METRICS_PORT', group: 'server', about: 'serve /metrics on this port (unset: nowhere; api: on the API port without a key, local only)', example: '9464' },
  { name: 'IDEM_OPERATOR_KEY', group: 'server', about: 'a bearer key (32-200 characters) that reads across merchants and never moves money (optional)', example: 'op_3b1f0c9d2e8a4f6b7c5d1e0f9a8b7c6d' },
  { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', group: 'server', about: 'send traces over OTLP (absent: no tracing)', example: 'http://127.0.0.1:4318' },
  { name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', group: 'server', about: 'the same, for traces only (wins over the one above)', example: 'http://127.0.0.1:4318/v1/traces' },
  { name: 'OTEL_SERVICE_NAME', group: 'server', about: "the traces' service.name (default idem)", example: 'idem-eu-1' },
  { name: 'IDEM_URL', group: 'client', about: 'the running instance (--url wins; default http://127.0.0.1:8080)', example: 'http://127.0.0.1:8080' },
  { name: 'IDEM_API_KEY', group: 'client', about: 'an API key of the merchant (--api-key wins)', example: 'sk_…' },
];
