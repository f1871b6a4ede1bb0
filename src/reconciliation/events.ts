/**
 * Every reconciliation event goes through {@link recordReconciliationEvent}, written in the
 * same transaction as the change it tells of (docs/reconciliation.md, "Events").
 */
import { createHash } from 'node:crypto';
import { pickMetadata } from '../events/metadata.js';
import type { EventStore } from '../events/store.js';

/** The events reconciliation emits. */
export const RECONCILIATION_EVENT_TYPES = [
  'reconciliation.case_opened',
  'reconciliation.case_resolved',
  'reconciliation.remediation_scheduled',
  'reconciliation.remediated',
  'reconciliation.remediation_failed',
  'reconciliation.adopted',
] as const;
export type ReconciliationEventType = (typeof RECONCILIATION_EVENT_TYPES)[number];

export interface ReconciliationEvent {
  type: ReconciliationEventType;
  /** The payment whose timeline it joins; null for records no payment owns (an orphan). */
  paymentId: string | null;
  merchantId: string | null;
  gateway: string;
  data: Record<string, unknown>;
}

/**
 * Writes one reconciliation event inside `tx` (docs/events.md). With a payment it joins the
 * payment's timeline and its merchant's feed; without one it is the merchant's event (a case
 * about a record of theirs) or, when no merchant owns the record (an orphaned authorization),
 * a system event for the streams, and the case or remediation row is shown to the operator by
 * `idem reconcile`. Its id is derived from what it says and when (no random source needed
 * here); it is written in the transaction that settles the record or moves the case, so a
 * repeated pass does not write it again.
 */
export async function recordReconciliationEvent(tx: Pick<EventStore, 'insertEvent' | 'insertSystemEvent'>, e: ReconciliationEvent, now: Date): Promise<void> {
  const id = 'evt_' + createHash('sha256').update(JSON.stringify([e.type, e.paymentId, e.merchantId, e.gateway, e.data, now.toISOString()])).digest('hex').slice(0, 24);
  const data = { gateway: e.gateway, ...e.data };
  const metadata = pickMetadata({ merchant_id: e.merchantId, payment_id: e.paymentId, gateway: e.gateway });
  if (e.paymentId !== null && e.merchantId !== null) {
    await tx.insertEvent({ id, type: e.type, merchantId: e.merchantId, paymentId: e.paymentId, data, metadata, createdAt: now });
  } else {
    await tx.insertSystemEvent({ id, type: e.type, merchantId: e.merchantId, data, metadata, createdAt: now });
  }
}
