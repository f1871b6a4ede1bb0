import type { DueWork, OutboxStore } from '../../outbox/store.js';
import type { MemoryState, OutboxRecord } from './state.js';

/**
 * The outbox relay's work claims on the in-memory tables. Methods are `async` only to fit the
 * port: each runs to the end without yielding, so under the store's mutex nothing interleaves with
 * it.
 */
export class MemoryOutbox implements OutboxStore {
  constructor(private readonly s: MemoryState) {}

  async claimDueWork(now: number, limit: number, leaseMs: number): Promise<DueWork[]> {
    const due = this.s.outbox
      .values()
      .filter((o) => o.state === 'pending' && o.run_after <= now && (o.lease_until === null || o.lease_until <= now))
      .sort((a, b) => a.run_after - b.run_after || a.id - b.id)
      .slice(0, Math.max(0, limit));
    return due.map((o) => {
      const leased: OutboxRecord = { ...o, lease_until: now + leaseMs, fence: this.s.nextFence(), tries: o.tries + 1 };
      this.s.outbox.set(o.id, leased);
      const attempt = this.s.attempts.get(o.attempt_id)!;
      const payment = this.s.payments.get(o.payment_id)!;
      // `tries` as it was before this claim, as the relay's SELECT-then-UPDATE reads it.
      return { id: o.id, payment_id: o.payment_id, merchant_id: payment.merchant_id, idempotency_key: attempt.idempotency_key, tries: o.tries, fence: leased.fence };
    });
  }

  async rescheduleWork(id: number, fence: number, runAfter: number): Promise<void> {
    const o = this.s.outbox.get(id);
    if (!o || o.fence !== fence || o.state !== 'pending') return;
    this.s.outbox.set(id, { ...o, run_after: runAfter, lease_until: null });
  }

  async guardWork(id: number, fence: number, leaseUntil: number): Promise<boolean> {
    const o = this.s.outbox.get(id);
    if (!o || o.fence !== fence) return false;
    this.s.outbox.set(id, { ...o, lease_until: leaseUntil });
    return true;
  }

  async hastenWork(gateway: string, paymentIds: readonly string[], now: number): Promise<number> {
    const wanted = new Set(paymentIds);
    let moved = 0;
    for (const o of [...this.s.outbox.values()]) {
      if (o.state !== 'pending' || o.run_after <= now || !wanted.has(o.payment_id) || this.s.attempts.get(o.attempt_id)?.gateway !== gateway) continue;
      this.s.outbox.set(o.id, { ...o, run_after: now });
      moved++;
    }
    return moved;
  }
}
