import { subscribes } from '../../events/catalogue.js';
import type { NewPaymentEvent, NewSystemEvent, StoredEvent } from '../../events/model.js';
import type { EventActivity, EventStore } from '../../events/store.js';
import { check, date, foreign, jsonb, ms, notNull, unique } from './engine.js';
import type { EventRecord, MemoryState } from './state.js';

export function toStored(e: EventRecord): StoredEvent {
  return {
    id: e.event_id,
    type: e.type,
    merchantId: e.merchant_id,
    paymentId: e.payment_id,
    seq: e.seq,
    position: e.position,
    data: structuredClone(e.data),
    metadata: structuredClone(e.metadata),
    createdAt: date(e.created_at),
  };
}

/**
 * Events, feed positions, webhook fan-out and publisher cursors on the in-memory tables. Every
 * method runs to its end without yielding, under the store's mutex, so positioning is one
 * pass at a time as the SQL store's row lock makes it.
 */
export class MemoryEvents implements EventStore {
  constructor(private readonly s: MemoryState) {}

  private insert(e: NewSystemEvent, paymentId: string | null, seq: number | null): void {
    notNull('type', e.type);
    notNull('event_id', e.id);
    unique(this.s.eventIds.has(e.id), 'payment_events_event_id_key', `event_id ${e.id}`);
    if (e.merchantId !== null) foreign(this.s.merchants.has(e.merchantId), 'payment_events_merchant_id_fkey', `merchant ${e.merchantId}`);
    const id = this.s.nextEventId();
    this.s.events.set(id, {
      id,
      event_id: e.id,
      merchant_id: e.merchantId,
      payment_id: paymentId,
      seq,
      position: null,
      type: e.type,
      data: jsonb(e.data),
      metadata: jsonb(e.metadata),
      created_at: ms(e.createdAt),
    });
    this.s.eventIds.set(e.id, id);
  }

  async insertEvent(e: NewPaymentEvent): Promise<void> {
    foreign(this.s.payments.has(e.paymentId), 'payment_events_payment_id_fkey', `payment ${e.paymentId}`);
    notNull('merchant_id', e.merchantId);
    const seq = (this.s.lastSeq.get(e.paymentId) ?? 0) + 1;
    this.insert(e, e.paymentId, seq);
    this.s.lastSeq.set(e.paymentId, seq);
  }

  async insertEvents(events: readonly NewPaymentEvent[]): Promise<void> {
    for (const e of events) await this.insertEvent(e);
  }

  async insertSystemEvent(e: NewSystemEvent): Promise<void> {
    this.insert(e, null, null);
  }

  async reportGatewayHealth(gateway: string, operation: string, state: string, event: NewSystemEvent): Promise<boolean> {
    const key = `${gateway} ${operation}`;
    if (this.s.healthReports.get(key) === state) return false;
    this.insert(event, null, null);
    this.s.healthReports.set(key, state);
    return true;
  }

  async listEvents(paymentId: string): Promise<StoredEvent[]> {
    return this.s.events
      .values()
      .filter((e) => e.payment_id === paymentId)
      .sort((a, b) => a.seq! - b.seq!)
      .map(toStored);
  }

  async positionEvents(now: Date, limit: number): Promise<{ positioned: number; deliveries: number }> {
    let head = this.s.feedHead.get(1) ?? 0;
    const todo = this.s.events
      .values()
      .filter((e) => e.position === null)
      .sort((a, b) => a.id - b.id)
      .slice(0, Math.max(0, limit));
    let deliveries = 0;
    const endpoints = this.s.endpoints.values().filter((w) => w.status === 'enabled');
    for (const e of todo) {
      const positioned: EventRecord = { ...e, position: ++head };
      this.s.events.set(e.id, positioned);
      for (const w of endpoints) {
        if (w.merchantId !== e.merchant_id || !subscribes(w.eventTypes, e.type)) continue;
        this.s.addDelivery(w.id, { event_id: e.event_id, position: head, payment_id: e.payment_id }, ms(now));
        deliveries++;
      }
    }
    this.s.feedHead.set(1, head);
    return { positioned: todo.length, deliveries };
  }

  async listFeed(merchantId: string | null, afterPosition: number, limit: number, types?: readonly string[]): Promise<StoredEvent[]> {
    return this.s.events
      .values()
      .filter((e) => e.position !== null && e.position > afterPosition)
      .filter((e) => merchantId === null || e.merchant_id === merchantId)
      .filter((e) => !types || types.length === 0 || types.includes(e.type))
      .sort((a, b) => a.position! - b.position!)
      .slice(0, Math.max(0, limit))
      .map(toStored);
  }

  async eventActivity(merchantId: string | null, since: number): Promise<EventActivity> {
    const mine = this.s.events.values().filter((e) => merchantId === null || e.merchant_id === merchantId);
    const counts = new Map<string, { minute: number; type: string; count: number }>();
    for (const e of mine.filter((e) => e.created_at >= since && e.position !== null)) {
      const minute = Math.floor(e.created_at / 60_000) * 60_000;
      const b = counts.get(`${minute} ${e.type}`) ?? { minute, type: e.type, count: 0 };
      b.count++;
      counts.set(`${minute} ${e.type}`, b);
    }
    const buckets = [...counts.values()].sort((a, b) => a.minute - b.minute || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
    const positioned = mine.filter((e) => e.position !== null).sort((a, b) => b.position! - a.position!);
    return { buckets, lastEventId: positioned[0]?.event_id ?? null };
  }

  async findEvent(merchantId: string, id: string): Promise<StoredEvent | null> {
    const rowId = this.s.eventIds.get(id);
    const e = rowId === undefined ? undefined : this.s.events.get(rowId);
    return e && e.merchant_id === merchantId ? toStored(e) : null;
  }

  async claimPublisher(name: string, now: number, leaseMs: number): Promise<{ position: number; fence: number } | null> {
    const p = this.s.publishers.get(name) ?? { name, position: 0, lease_until: null, fence: 0 };
    if (p.lease_until !== null && p.lease_until > now) {
      this.s.publishers.set(name, p);
      return null;
    }
    const fence = this.s.nextFence();
    this.s.publishers.set(name, { ...p, lease_until: now + leaseMs, fence });
    return { position: p.position, fence };
  }

  async advancePublisher(name: string, fence: number, position: number, leaseUntil: number): Promise<boolean> {
    const p = this.s.publishers.get(name);
    if (!p || p.fence !== fence) return false;
    check(Number.isSafeInteger(position), 'event_publishers_position');
    this.s.publishers.set(name, { ...p, position: Math.max(p.position, position), lease_until: leaseUntil });
    return true;
  }
}
