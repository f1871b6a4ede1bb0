/** What the benchmark's parent and its server children say to each other (see bench/server.ts). */

export type ServerMode = 'idem' | 'redis-get' | 'pg-insert' | 'powertools' | 'same-writes';

/** What the child needs, passed in its environment. */
export interface ServerEnv {
  BENCH_MODE: ServerMode;
  BENCH_DATABASE_URL: string;
  BENCH_REDIS_URL: string;
  /** `redis-get`: the Redis key to read on every request. */
  BENCH_REDIS_KEY?: string;
  /**
   * `powertools`: the response its guarded function returns the first time (Idem's stored
   * payment, so both store and replay a response of the same size).
   */
  BENCH_RESPONSE_BODY?: string;
  /**
   * `idem`: the latency of both in-process simulated gateways, in ms (default 0), so a request
   * spends that long waiting for its gateway while holding no database connection.
   */
  BENCH_GATEWAY_LATENCY_MS?: string;
  /** `idem`: IDEM_SWEEP_INTERVAL_MS for the key sweeper (default: the config's). */
  BENCH_SWEEP_INTERVAL_MS?: string;
  /** `idem`: IDEM_PG_POOL_MAX, the instance's PostgreSQL pool (default: the config's, 20). */
  BENCH_PG_POOL_MAX?: string;
  /** `idem`: IDEM_CONCURRENCY_LIMIT (default: the config's, `adaptive`). */
  BENCH_CONCURRENCY_LIMIT?: string;
  /** `idem`: log as `idem serve` does by default, into this file (absent: the logger off). */
  BENCH_IDEM_LOG_FILE?: string;
  /** Count SQL statements, transactions and Redis commands (wrappers around the same clients). */
  BENCH_COUNT_QUERIES?: '1';
}

/** Database work seen by the `idem` child, when counting. */
export interface QueryCounts {
  /** Statements sent outside a transaction: each is its own commit. */
  autocommit: number;
  /** Statements sent inside `db.transaction`. */
  inTransaction: number;
  /** `db.transaction` calls: each adds a BEGIN and a COMMIT round trip. */
  transactions: number;
  /** Statements by the start of their text, `auto:` or `tx:` first. */
  byText: Record<string, number>;
  /** Commands sent on the server's Redis connection, by name (a pipeline sends several at once). */
  redis: Record<string, number>;
}

export type ServerMessage =
  | { type: 'ready'; url: string; apiKey?: string; merchantId?: string }
  | { type: 'snapshot'; cpuMicros: number; counts: QueryCounts | null }
  | { type: 'failed'; error: string };

export type ParentMessage = { type: 'snapshot' } | { type: 'stop' };

/** The pool size both Idem (`openPostgres` default) and the INSERT baseline use. */
export const POOL_MAX = 20;

/** The baseline's table, created by the parent before the child starts. */
export const BASELINE_TABLE = 'bench_baseline_inserts';

/**
 * Idem's configuration for an `idem` server, from the bench's settings: what `idem serve`
 * reads from its environment (the forked child passes it to `loadConfig`, the binary gets it
 * as its environment).
 */
export function idemEnv(env: Omit<ServerEnv, 'BENCH_MODE'>): Record<string, string> {
  const latency = Number(env.BENCH_GATEWAY_LATENCY_MS ?? 0);
  return {
    DATABASE_URL: env.BENCH_DATABASE_URL,
    REDIS_URL: env.BENCH_REDIS_URL,
    ...(latency > 0 ? { IDEM_GATEWAYS: JSON.stringify(['sim-a', 'sim-b'].map((name, priority) => ({ name, kind: 'simulator', priority, latency_ms: latency }))) } : {}),
    ...(env.BENCH_SWEEP_INTERVAL_MS ? { IDEM_SWEEP_INTERVAL_MS: env.BENCH_SWEEP_INTERVAL_MS } : {}),
    ...(env.BENCH_PG_POOL_MAX ? { IDEM_PG_POOL_MAX: env.BENCH_PG_POOL_MAX } : {}),
    ...(env.BENCH_CONCURRENCY_LIMIT ? { IDEM_CONCURRENCY_LIMIT: env.BENCH_CONCURRENCY_LIMIT } : {}),
  };
}
