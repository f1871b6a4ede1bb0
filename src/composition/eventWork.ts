import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Database } from '../db/database.js';
import { openPostgres } from '../db/postgres.js';
import { startDeliveryWorker, type DeliveryWorker, type WebhookTransport } from '../events/delivery.js';
import { startStreamPublisher, type StreamPublisher } from '../events/publisher.js';
import { startEventRelay, type EventRelay } from '../events/relay.js';
import { connectNatsSink } from '../outbound/nats.js';
import { webhookHttpTransport } from '../outbound/webhookHttp.js';
import type { Runtime } from '../ports/clock.js';
import type { PassObserver } from '../ports/passes.js';
import type { Tracer } from '../ports/tracing.js';
import type { Store } from '../store/port.js';
import { SqlStore } from '../store/sql/index.js';

/** The events' background work (docs/events.md): positioning, webhook deliveries, the NATS stream. */
export interface EventWork {
  relay: EventRelay;
  deliveries: DeliveryWorker;
  nats: StreamPublisher | null;
}

/** Connections of the events pool (relay, webhook deliveries, stream publishers): a fifth of the instance's, 1 to 4. */
export function eventsPoolOf(pgPoolMax: number): number {
  return Math.min(4, Math.max(1, Math.floor(pgPoolMax / 5)));
}

/**
 * Starts the events' background passes for `createIdem` (src/idem.ts): the event relay, the
 * webhook delivery worker and, with `IDEM_NATS_URL`, the stream publisher; each stops through
 * the closer pushed onto `closers`.
 */
export function startEventWork(o: {
  config: Config;
  db: Database | null;
  /** Connections of the events' own pool; 0: none, the events share `store`. */
  eventsPoolMax: number;
  counted: (db: Database) => Database;
  store: Store;
  runtime: Runtime;
  log: Logger;
  tracer: Tracer;
  passes: { idleMaxMs: number; observe: PassObserver };
  webhookTransport: WebhookTransport | undefined;
  closers: Array<() => Promise<unknown> | unknown>;
}): EventWork {
  const { config, db, eventsPoolMax, counted, store, runtime, log, tracer, passes, closers } = o;
  // Events move on a small pool of their own, so the relay, the deliveries and the stream
  // publishers never queue for a connection behind request traffic (docs/events.md).
  const eventsDb = eventsPoolMax > 0 && db?.kind === 'postgres' ? counted(openPostgres(config.databaseUrl!, { max: eventsPoolMax, applicationName: 'idem-events' })) : null;
  if (eventsDb) closers.push(() => eventsDb.close());
  const eventStore = eventsDb ? new SqlStore(eventsDb) : store;
  const eventRelay = startEventRelay({ store: eventStore, runtime, intervalMs: config.eventsIntervalMs, log, tracer, ...passes });
  const http = o.webhookTransport ? null : webhookHttpTransport({ timeoutMs: config.webhookTimeoutMs, allowPrivate: config.webhookAllowPrivate, maxSocketsPerHost: config.webhookPerEndpoint });
  const deliveries = startDeliveryWorker({
    store: eventStore,
    runtime,
    transport: o.webhookTransport ?? http!,
    intervalMs: Math.max(config.eventsIntervalMs, 200),
    // A send outlives its lease only by a stuck write; a crashed instance's sends are taken over soon.
    leaseMs: config.webhookTimeoutMs + 2_000,
    perEndpoint: config.webhookPerEndpoint,
    maxInFlight: config.webhookMaxInFlight,
    laneSize: config.webhookLaneSize,
    sendTimeoutMs: config.webhookTimeoutMs,
    log,
    // New deliveries wake it (positioned events); the idle look only finds retries coming due.
    idleMaxMs: 3 * config.idleMaxMs,
    observePass: passes.observe,
  });
  eventRelay.onPositioned(() => deliveries.kick());
  // NATS JetStream (IDEM_NATS_URL): every event, after commit, acked before the cursor moves.
  const sink = config.natsUrl ? connectNatsSink({ url: config.natsUrl, onStatus: (s) => log.info({ nats: s }, 'nats connection') }) : null;
  const nats = sink
    ? startStreamPublisher({ store: eventStore, runtime, sink, name: 'nats', intervalMs: Math.max(config.eventsIntervalMs, 100), leaseMs: 15_000, log, idleMaxMs: config.idleMaxMs, observePass: passes.observe })
    : null;
  if (nats) eventRelay.onPositioned(() => nats.kick());
  closers.push(async () => {
    await eventRelay.stop();
    await deliveries.stop();
    await nats?.stop();
    await sink?.close();
    http?.close();
  });
  return { relay: eventRelay, deliveries, nats };
}
