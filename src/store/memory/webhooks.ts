import { subscribes } from '../../events/catalogue.js';
import { eventView } from '../../events/model.js';
import type { DeliveryUpdate, DeliveryWork, EndpointRow } from '../../events/webhooks.js';
import type { DeliveryRow, WebhookStore } from '../../events/webhookStore.js';
import { check, foreign, ms, notNull, unique } from './engine.js';
import { toStored } from './events.js';
import type { DeliveryRecord, MemoryState } from './state.js';

const copy = (e: EndpointRow): EndpointRow => structuredClone(e);

/** Webhook endpoints and deliveries on the in-memory tables (semantics in src/events/webhookStore.ts). */
export class MemoryWebhooks implements WebhookStore {
  constructor(private readonly s: MemoryState) {}

  async insertEndpoint(e: Parameters<WebhookStore['insertEndpoint']>[0]): Promise<EndpointRow> {
    for (const c of ['id', 'merchantId', 'url', 'status', 'secret', 'createdAt'] as const) notNull(c, e[c]);
    check(e.status === 'enabled' || e.status === 'disabled', 'webhook_endpoints_status_check');
    unique(this.s.endpoints.has(e.id), 'webhook_endpoints_pkey', `id ${e.id}`);
    foreign(this.s.merchants.has(e.merchantId), 'webhook_endpoints_merchant_id_fkey', `merchant ${e.merchantId}`);
    const row: EndpointRow = {
      ...structuredClone(e),
      previousSecret: null,
      previousSecretUntil: null,
      failingSince: null,
      disabledReason: null,
      updatedAt: new Date(e.createdAt),
    };
    this.s.endpoints.set(row.id, row);
    return copy(row);
  }

  async listEndpoints(merchantId: string): Promise<EndpointRow[]> {
    return this.s.endpoints
      .values()
      .filter((w) => w.merchantId === merchantId)
      .sort((a, b) => ms(a.createdAt) - ms(b.createdAt) || (a.id < b.id ? -1 : 1))
      .map(copy);
  }

  async findEndpoint(merchantId: string, id: string): Promise<EndpointRow | null> {
    const w = this.s.endpoints.get(id);
    return w && w.merchantId === merchantId ? copy(w) : null;
  }

  async setEndpointStatus(merchantId: string, id: string, status: EndpointRow['status'], reason: string | null, now: Date) {
    const w = this.s.endpoints.get(id);
    if (!w || w.merchantId !== merchantId) return null;
    const next: EndpointRow = {
      ...w,
      status,
      disabledReason: status === 'disabled' ? reason : null,
      updatedAt: new Date(now),
      failingSince: status === 'enabled' ? null : w.failingSince,
    };
    this.s.endpoints.set(id, next);
    return { endpoint: copy(next), changed: w.status !== status };
  }

  async rotateEndpointSecret(merchantId: string, id: string, secret: string, previousUntil: Date, now: Date): Promise<EndpointRow | null> {
    const w = this.s.endpoints.get(id);
    if (!w || w.merchantId !== merchantId) return null;
    const next: EndpointRow = { ...w, previousSecret: w.secret, previousSecretUntil: new Date(previousUntil), secret, updatedAt: new Date(now) };
    this.s.endpoints.set(id, next);
    return copy(next);
  }

  async deleteEndpoint(merchantId: string, id: string): Promise<boolean> {
    const w = this.s.endpoints.get(id);
    if (!w || w.merchantId !== merchantId) return false;
    for (const d of this.s.deliveries.values()) if (d.endpoint_id === id) this.s.deliveries.delete(d.id);
    this.s.endpoints.delete(id);
    return true;
  }

  async claimDeliveries(now: number, limit: number, leaseMs: number, perEndpoint: number, busy: ReadonlyMap<string, number>, laneSize = 1): Promise<DeliveryWork[]> {
    const pending = this.s.deliveries.values().filter((d) => d.state === 'pending');
    const blocked = (d: DeliveryRecord) =>
      d.payment_id !== null && pending.some((e) => e.endpoint_id === d.endpoint_id && e.payment_id === d.payment_id && e.position < d.position);
    const candidates = pending
      .filter((d) => d.next_attempt_at <= now && (d.lease_until === null || d.lease_until <= now))
      .filter((d) => this.s.endpoints.get(d.endpoint_id)?.status === 'enabled')
      .filter((d) => !blocked(d))
      .sort((a, b) => a.next_attempt_at - b.next_attempt_at || a.id - b.id);
    const taken = new Map<string, number>();
    const due = [];
    for (const d of candidates) {
      if (due.length >= limit) break;
      const n = taken.get(d.endpoint_id) ?? 0;
      if (n + (busy.get(d.endpoint_id) ?? 0) >= perEndpoint) continue;
      taken.set(d.endpoint_id, n + 1);
      due.push(d);
    }
    // Each leader's lane: its payment's next pending deliveries to the endpoint, while each is due and free.
    const sendable = (d: DeliveryRecord) => d.next_attempt_at <= now && (d.lease_until === null || d.lease_until <= now);
    const lanes = due.flatMap((leader) => {
      const lane = [leader];
      if (leader.payment_id !== null) {
        const queue = pending
          .filter((f) => f.endpoint_id === leader.endpoint_id && f.payment_id === leader.payment_id && f.position > leader.position)
          .sort((a, b) => a.position - b.position)
          .slice(0, laneSize - 1);
        for (const f of queue) {
          if (!sendable(f)) break;
          lane.push(f);
        }
      }
      return lane.map((d) => ({ d, lane: leader.id }));
    });
    return lanes.map(({ d, lane }) => {
      const leased: DeliveryRecord = { ...d, lease_until: now + leaseMs, fence: this.s.nextFence() };
      this.s.deliveries.set(d.id, leased);
      const w = this.s.endpoints.get(d.endpoint_id)!;
      const e = this.s.events.get(this.s.eventIds.get(d.event_id)!)!;
      const ev = toStored(e);
      const secrets = [w.secret];
      if (w.previousSecret && w.previousSecretUntil && ms(w.previousSecretUntil) > now) secrets.push(w.previousSecret);
      return {
        id: d.id,
        fence: leased.fence,
        attempts: d.attempts,
        endpointId: w.id,
        merchantId: w.merchantId,
        url: w.url,
        secrets,
        eventId: e.event_id,
        paymentId: e.payment_id,
        body: JSON.stringify(eventView(ev)),
        lane,
      };
    });
  }

  async releaseDeliveries(leases: ReadonlyArray<{ id: number; fence: number }>): Promise<void> {
    for (const { id, fence } of leases) {
      const d = this.s.deliveries.get(id);
      if (d && d.fence === fence && d.state === 'pending') this.s.deliveries.set(id, { ...d, lease_until: null });
    }
  }

  async finishDelivery(id: number, fence: number, u: DeliveryUpdate, now: Date): Promise<boolean> {
    const d = this.s.deliveries.get(id);
    if (!d || d.fence !== fence || d.state !== 'pending' || d.lease_until === null) return false;
    const next = u.nextAttemptAt ? ms(u.nextAttemptAt) : d.next_attempt_at;
    this.s.deliveries.set(id, {
      ...d,
      state: u.state,
      attempts: d.attempts + 1,
      next_attempt_at: next,
      lease_until: null,
      last_status: u.status,
      last_error: u.error,
      completed_at: u.state === 'pending' ? null : ms(now),
    });
    if (u.state === 'succeeded') {
      const w = this.s.endpoints.get(d.endpoint_id);
      if (w && w.failingSince !== null) this.s.endpoints.set(d.endpoint_id, { ...w, failingSince: null });
    }
    if (u.state === 'pending' && d.payment_id !== null) {
      for (const f of this.s.deliveries.values()) {
        if (f.endpoint_id === d.endpoint_id && f.payment_id === d.payment_id && f.state === 'pending' && f.position > d.position && f.next_attempt_at < next) {
          this.s.deliveries.set(f.id, { ...f, next_attempt_at: next });
        }
      }
    }
    return true;
  }

  async succeedDeliveries(leases: ReadonlyArray<{ id: number; fence: number; status: number }>, at: Date): Promise<number[]> {
    const written: number[] = [];
    for (const { id, fence, status } of leases) {
      if (await this.finishDelivery(id, fence, { state: 'succeeded', nextAttemptAt: null, status, error: null }, at)) written.push(id);
    }
    return written;
  }

  async noteEndpointResult(endpointId: string, ok: boolean, now: Date): Promise<Date | null> {
    const w = this.s.endpoints.get(endpointId);
    if (!w) return null;
    const failingSince = ok ? null : (w.failingSince ?? new Date(now));
    this.s.endpoints.set(endpointId, { ...w, failingSince });
    return failingSince ? new Date(failingSince) : null;
  }

  async listDeliveries(merchantId: string, filter: { endpointId?: string; paymentId?: string }, limit: number): Promise<DeliveryRow[]> {
    const type = (eventId: string) => this.s.events.get(this.s.eventIds.get(eventId)!)!.type;
    return this.s.deliveries
      .values()
      .filter((d) => this.s.endpoints.get(d.endpoint_id)?.merchantId === merchantId)
      .filter((d) => (filter.endpointId === undefined || d.endpoint_id === filter.endpointId) && (filter.paymentId === undefined || d.payment_id === filter.paymentId))
      .sort((a, b) => b.id - a.id)
      .slice(0, Math.max(0, limit))
      .map((d) => ({
        id: d.id,
        endpointId: d.endpoint_id,
        eventId: d.event_id,
        eventType: type(d.event_id),
        paymentId: d.payment_id,
        state: d.state,
        attempts: d.attempts,
        lastStatus: d.last_status,
        lastError: d.last_error,
        nextAttemptAt: new Date(d.next_attempt_at),
        createdAt: new Date(d.created_at),
        completedAt: d.completed_at === null ? null : new Date(d.completed_at),
      }));
  }

  async replayDeliveries(merchantId: string, endpointId: string, from: Date, to: Date, now: Date, limit: number): Promise<number> {
    const w = this.s.endpoints.get(endpointId);
    if (!w || w.merchantId !== merchantId) return 0;
    const events = this.s.events
      .values()
      .filter((e) => e.merchant_id === merchantId && e.position !== null && e.created_at >= ms(from) && e.created_at < ms(to))
      .filter((e) => subscribes(w.eventTypes, e.type))
      .sort((a, b) => a.position! - b.position!)
      .slice(0, Math.max(0, limit));
    for (const e of events) {
      this.s.addDelivery(endpointId, { event_id: e.event_id, position: e.position!, payment_id: e.payment_id }, ms(now));
    }
    return events.length;
  }
}
