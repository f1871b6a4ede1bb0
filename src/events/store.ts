import type { NewPaymentEvent, NewSystemEvent, StoredEvent } from './model.js';

/*
 * The events' storage port (docs/architecture.md, "Ports"), beside its rows. Composed into
 * `Store` (src/store/port.ts); adapters in src/store/sql/events.ts and
 * src/store/memory/events.ts.
 */

/**
 * Events (docs/events.md): written in the caller's transaction, positioned in the feed after
 * commit by the event relay, read by the feed, the stream and the publishers.
 */
export interface EventStore {
  /** A payment event; its `seq` is the payment's next (the caller holds the payment's row). */
  insertEvent(e: NewPaymentEvent): Promise<void>;
  /** Payment events in order, together (one statement in SQL): each payment's numbered on from its last `seq`. */
  insertEvents(events: readonly NewPaymentEvent[]): Promise<void>;
  /**
   * An event about no payment: a merchant's (webhook endpoint disabled, a reconciliation case)
   * or the system's (`merchantId` null: a gateway's health changed). Written in the caller's
   * transaction, like a payment event.
   */
  insertSystemEvent(e: NewSystemEvent): Promise<void>;
  /**
   * A gateway's learned health changed (docs/resilience.md): moves the reported state of
   * (gateway, operation) to `state` and writes `event` — unless that state is already what was
   * last reported, by this instance or another that learned the same change from the shared
   * log. Compare-and-set, so N instances write one event. True when it wrote.
   */
  reportGatewayHealth(gateway: string, operation: string, state: string, event: NewSystemEvent): Promise<boolean>;
  /** A payment's events in sequence order. */
  listEvents(paymentId: string): Promise<StoredEvent[]>;
  /**
   * Gives the next feed positions to up to `limit` committed events that have none, oldest
   * write first, and fans each out to the enabled webhook endpoints of its merchant that
   * subscribe to its type (one pending delivery each, due at `now`). Must run inside a
   * transaction: it holds the feed head's row lock until commit, so passes never overlap.
   */
  positionEvents(now: Date, limit: number): Promise<{ positioned: number; deliveries: number }>;
  /**
   * Positioned events after `afterPosition`, in feed order: one merchant's (`merchantId`), or
   * every event, system ones included (`null`, for the publishers); optionally of some types.
   */
  listFeed(merchantId: string | null, afterPosition: number, limit: number, types?: readonly string[]): Promise<StoredEvent[]>;
  /** How many positioned events (those the feed has) of each type each minute since `since` (ms), for one merchant or (null) all. */
  eventActivity(merchantId: string | null, since: number): Promise<EventActivity>;
  /** One of the merchant's events by id (positioned or not yet). */
  findEvent(merchantId: string, id: string): Promise<StoredEvent | null>;
  /** Takes the publisher's lease if it is free at `now` (a new fence); null if another holds it. */
  claimPublisher(name: string, now: number, leaseMs: number): Promise<{ position: number; fence: number } | null>;
  /** Moves the publisher's cursor to `position` and extends its lease, if `fence` still holds it. */
  advancePublisher(name: string, fence: number, position: number, leaseUntil: number): Promise<boolean>;
}

/** Events per minute and type since a time (the dashboard's overview), and the newest positioned event. */
export interface EventActivity {
  buckets: Array<{ minute: number; type: string; count: number }>;
  lastEventId: string | null;
}
