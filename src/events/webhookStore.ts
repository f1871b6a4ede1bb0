import type { DeliveryUpdate, DeliveryWork, EndpointRow } from './webhooks.js';

/*
 * The webhooks' storage port (docs/architecture.md, "Ports"), beside its rows. Composed into
 * `Store` (src/store/port.ts); adapters in src/store/sql/webhooks.ts and
 * src/store/memory/webhooks.ts.
 */

/** Webhook endpoints and their deliveries (src/events/webhooks.ts holds the rules). */
export interface WebhookStore {
  insertEndpoint(e: Omit<EndpointRow, 'failingSince' | 'disabledReason' | 'previousSecret' | 'previousSecretUntil' | 'updatedAt'>): Promise<EndpointRow>;
  /** The merchant's endpoints, oldest first. */
  listEndpoints(merchantId: string): Promise<EndpointRow[]>;
  findEndpoint(merchantId: string, id: string): Promise<EndpointRow | null>;
  /** Enables or disables; returns the endpoint as it now is, null if there is none. `changed` is false if it already was. */
  setEndpointStatus(merchantId: string, id: string, status: EndpointRow['status'], reason: string | null, now: Date): Promise<{ endpoint: EndpointRow; changed: boolean } | null>;
  /** A new secret; the old one is still signed with until `previousUntil`. */
  rotateEndpointSecret(merchantId: string, id: string, secret: string, previousUntil: Date, now: Date): Promise<EndpointRow | null>;
  /** Deletes the endpoint and its deliveries; false if there was none. */
  deleteEndpoint(merchantId: string, id: string): Promise<boolean>;
  /**
   * Leases up to `limit` due pending deliveries of enabled endpoints, oldest due first,
   * skipping rows another claimer holds, never one whose payment has an earlier pending
   * delivery to the same endpoint (per-payment order), and no more per endpoint than
   * `perEndpoint` less what the caller already has in flight there (`busy`).
   *
   * With `laneSize` > 1 each leased delivery heads a lane: it and up to `laneSize - 1` of its
   * payment's next pending deliveries to the same endpoint, consecutive, each due and free,
   * all leased together, to be sent one after another (`limit`, `perEndpoint` and `busy` count
   * lanes). Returned lane by lane, each in position order; `lane` is the first one's id.
   */
  claimDeliveries(now: number, limit: number, leaseMs: number, perEndpoint: number, busy: ReadonlyMap<string, number>, laneSize?: number): Promise<DeliveryWork[]>;
  /** Ends the leases `fence` still holds on these pending deliveries (a lane cut short), so they may be claimed at once. */
  releaseDeliveries(leases: ReadonlyArray<{ id: number; fence: number }>): Promise<void>;
  /**
   * Writes the result of one send and ends the lease, if `fence` still holds it; false otherwise.
   * A retry moves the payment's later deliveries to the same endpoint to its retry time; a
   * success clears the endpoint's `failingSince` (in the same write: one round trip).
   */
  finishDelivery(id: number, fence: number, update: DeliveryUpdate, now: Date): Promise<boolean>;
  /**
   * Writes a lane's successes in one statement after the lane (docs/events.md, "Crashes"): each
   * delivery `fence` still holds becomes `succeeded` with the receiver's status, its lease ends,
   * and its endpoint stops failing. Returns the ids written (a stale fence is left out).
   */
  succeedDeliveries(leases: ReadonlyArray<{ id: number; fence: number; status: number }>, at: Date): Promise<number[]>;
  /** Notes a success (clears `failingSince`) or a failure (sets it if unset); returns `failingSince`. */
  noteEndpointResult(endpointId: string, ok: boolean, now: Date): Promise<Date | null>;
  /** Queues the endpoint's events created in [from, to) again (new deliveries, same event ids); returns how many. */
  replayDeliveries(merchantId: string, endpointId: string, from: Date, to: Date, now: Date, limit: number): Promise<number>;
  /** The merchant's deliveries to one endpoint or of one payment's events, newest first. */
  listDeliveries(merchantId: string, filter: { endpointId?: string; paymentId?: string }, limit: number): Promise<DeliveryRow[]>;
}

/** One webhook delivery as it stands: how often it was sent, the receiver's last answer, when it settled. */
export interface DeliveryRow {
  id: number;
  endpointId: string;
  eventId: string;
  eventType: string;
  paymentId: string | null;
  state: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  nextAttemptAt: Date;
  createdAt: Date;
  completedAt: Date | null;
}
