import type { TransactionMetadata } from './metadata.js';

/**
 * One event (docs/events.md): a payment event (with its payment and its place in that
 * payment's sequence) or a system / merchant event (no payment). Written in the same
 * transaction as the change it records; `position` (the feed order) is given after commit by
 * the event relay, and stays null until then.
 */
export interface StoredEvent {
  id: string;
  type: string;
  merchantId: string | null;
  paymentId: string | null;
  /** 1, 2, 3… within the payment; null for an event with no payment. */
  seq: number | null;
  position: number | null;
  data: Record<string, unknown>;
  metadata: TransactionMetadata;
  createdAt: Date;
}

/** A payment event to write; its `seq` is the payment's next. */
export interface NewPaymentEvent {
  id: string;
  type: string;
  merchantId: string;
  paymentId: string;
  data: Record<string, unknown>;
  metadata: TransactionMetadata;
  createdAt: Date;
}

/**
 * An event about no payment: a merchant's (`merchantId` set: a webhook endpoint disabled, a
 * reconciliation case) or the system's (`merchantId` null: a gateway's health changed).
 */
export interface NewSystemEvent {
  id: string;
  type: string;
  merchantId: string | null;
  data: Record<string, unknown>;
  metadata: TransactionMetadata;
  createdAt: Date;
}

/** An event as the API, the stream, webhooks and NATS show it. */
export interface EventView {
  id: string;
  object: 'event';
  type: string;
  created_at: string;
  merchant_id: string | null;
  payment_id: string | null;
  sequence: number | null;
  data: Record<string, unknown>;
  metadata: TransactionMetadata;
}

export function eventView(e: StoredEvent): EventView {
  return {
    id: e.id,
    object: 'event',
    type: e.type,
    created_at: e.createdAt.toISOString(),
    merchant_id: e.merchantId,
    payment_id: e.paymentId,
    sequence: e.seq,
    data: e.data,
    metadata: e.metadata,
  };
}
