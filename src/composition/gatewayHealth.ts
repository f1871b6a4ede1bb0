import { hash } from 'node:crypto';
import type { Logger } from 'pino';
import { redact, type Config } from '../config/config.js';
import type { Database } from '../db/database.js';
import type { Metrics } from '../observability/metrics.js';
import type { Runtime } from '../ports/clock.js';
import { newId } from '../ports/ids.js';
import type { Signals } from '../ports/passes.js';
import { adaptivePolicy } from '../resilience/adaptive.js';
import { HealthBook } from '../resilience/book.js';
import { gatewayHealthReporter } from '../resilience/healthEvents.js';
import { staticPolicy, type RetryPolicy } from '../resilience/policy.js';
import { SharedHealth, type ObservationLog } from '../resilience/shared.js';
import type { Store } from '../store/port.js';
import type { RedisClient } from '../store/redis/connect.js';
import { RedisObservationLog } from '../store/redis/observations.js';
import { SqlObservationLog } from '../store/sql/observations.js';

/**
 * Gateway health for `createIdem` (src/idem.ts; docs/resilience.md): the model learned from
 * every instance's answers through a shared log (Redis, else PostgreSQL; embedded and in-memory
 * runs are one instance), its changes written as `gateway.*` events, and the retry policy that
 * asks it (`IDEM_RESILIENCE`). What must stop at shutdown is pushed onto `closers`.
 */
export function startGatewayHealth(o: {
  config: Config;
  runtime: Runtime;
  redis: RedisClient | null;
  db: Database | null;
  store: Store;
  metrics: Metrics;
  log: Logger;
  signals: Signals;
  closers: Array<() => Promise<unknown> | unknown>;
}): { book: HealthBook; policy: RetryPolicy } {
  const { config, runtime, redis, db, store, metrics, log, signals, closers } = o;
  const book = new HealthBook({}, runtime.clock.now());
  const observationLogs: ObservationLog[] = [];
  // One stream per database: instances that share a database share what they learn.
  if (redis) observationLogs.push(new RedisObservationLog(redis, runtime.clock, `idem:gateway-observations:${hash('sha256', redact(config.databaseUrl ?? config.dataDir)).slice(0, 16)}`));
  if (db?.kind === 'postgres') observationLogs.push(new SqlObservationLog(db, runtime.clock));
  // Each change is also a `gateway.*` event, written once however many instances learn it.
  const healthEvents = gatewayHealthReporter({ store, runtime, log });
  closers.push(() => healthEvents.settled());
  const shared = new SharedHealth({
    book,
    runtime,
    instance: newId(runtime.random, 'inst', 12),
    logs: observationLogs,
    log,
    signals,
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
  const basePolicy = config.resilience === 'adaptive' ? adaptivePolicy({ book, shared, clock: runtime.clock, random: runtime.random }) : staticPolicy();
  const policy: RetryPolicy = {
    ...basePolicy,
    observe: (answer) => {
      metrics.gatewayAnswer(answer);
      // The static policy does not act on the model, but it is still learned and shown.
      if (basePolicy.observe) basePolicy.observe(answer);
      else shared.record(answer);
    },
  };
  return { book, policy };
}
