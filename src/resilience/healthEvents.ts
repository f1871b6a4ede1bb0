/**
 * Gateway health changes as events (docs/resilience.md, docs/events.md): `gateway.degraded`,
 * `gateway.down`, `gateway.recovering`, `gateway.recovered`. Every instance learns the same
 * change from the shared log; the store's compare-and-set on the last reported state lets
 * the first one write the event and the rest write nothing.
 */
import type { NewSystemEvent } from '../events/model.js';
import type { EventStore } from '../events/store.js';
import type { Runtime } from '../ports/clock.js';
import { newId } from '../ports/ids.js';
import type { Transactional } from '../ports/transaction.js';
import type { GatewayStateChange } from './book.js';
import type { HealthState } from './health.js';

export const GATEWAY_EVENT_TYPES = {
  degraded: 'gateway.degraded',
  down: 'gateway.down',
  recovering: 'gateway.recovering',
  healthy: 'gateway.recovered',
} as const satisfies Record<HealthState, string>;

/** The system event (no merchant) for one state change. */
export function gatewayHealthEvent(change: GatewayStateChange, id: string): NewSystemEvent {
  return {
    id,
    type: GATEWAY_EVENT_TYPES[change.to],
    merchantId: null,
    data: { gateway: change.gateway, operation: change.operation, from: change.from, to: change.to, why: change.why, since: new Date(change.at).toISOString() },
    metadata: { gateway: change.gateway, operation: change.operation },
    createdAt: new Date(change.at),
  };
}

/**
 * The handler for a {@link GatewayStateChange}: reports it to the store, in order per gateway
 * and operation (a change is written only after the one before it). A failed write is logged
 * and dropped: the model and routing do not depend on it.
 */
export function gatewayHealthReporter(o: { store: Transactional<Pick<EventStore, 'reportGatewayHealth'>>; runtime: Runtime; log?: { warn(obj: object, msg: string): void } }): {
  report(change: GatewayStateChange): void;
  /** Resolves once every report made so far is written (or has failed). */
  settled(): Promise<void>;
} {
  const chains = new Map<string, Promise<void>>();
  return {
    report(change) {
      const key = `${change.gateway} ${change.operation}`;
      const next = (chains.get(key) ?? Promise.resolve()).then(() =>
        o.store
          .transaction((tx) => tx.reportGatewayHealth(change.gateway, change.operation, change.to, gatewayHealthEvent(change, newId(o.runtime.random, 'evt'))))
          .then(
            () => {},
            (err: unknown) => o.log?.warn({ err, gateway: change.gateway, to: change.to }, 'could not record the gateway health event'),
          ),
      );
      chains.set(key, next);
    },
    async settled() {
      await Promise.all(chains.values());
    },
  };
}
