/**
 * Every reconciliation event goes through {@link recordReconciliationEvent}, written in the
 * same transaction as the change it tells of (docs/reconciliation.md, "Events").
 */
import type { StoreOps } from '../store/port.js';

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
 * Writes one reconciliation event inside `tx`. With a payment it joins the payment's timeline
 * (`GET /v1/payments/{id}/events`); without one (an orphaned authorization, a case about
 * records no merchant owns) the case or remediation row is its durable record, shown to the
 * operator by `idem reconcile`, until events without a payment have a store of their own.
 */
export async function recordReconciliationEvent(tx: Pick<StoreOps, 'insertEvent'>, e: ReconciliationEvent, now: Date): Promise<void> {
  if (e.paymentId === null) return;
  await tx.insertEvent(e.paymentId, e.type, { gateway: e.gateway, ...e.data }, now);
}
