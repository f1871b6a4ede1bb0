import type { NewPaymentEvent } from '../events/model.js';
import { FenceLostError } from '../idempotency/store.js';
import type { Transactional } from '../ports/transaction.js';
import { StaleWriteError } from './rows.js';
import type { BatchWrite, OpenPayment, OpenedPayment, RoundOps } from './store.js';

/*
 * A round's plan (./round.ts) written as its single operations, in order: inside a transaction
 * that has just read the round's snapshot under its locks, and as the whole of
 * `PaymentRounds.writeBatch` for the stores without round trips (memory, the simulator's) —
 * the reference for the one SQL statement of src/store/sql/batch.ts.
 */

/** `PaymentRounds.writeBatch` in steps: false when a check failed (nothing is then written). */
export async function writeBatchInSteps(store: Transactional<RoundOps>, writes: readonly BatchWrite[]): Promise<boolean> {
  try {
    await store.transaction((tx) => applyWrites(tx, writes));
    return true;
  } catch (err) {
    if (err instanceof StaleWriteError || err instanceof FenceLostError || (err as { code?: unknown }).code === '23505') return false;
    throw err;
  }
}

/**
 * Writes a plan inside the caller's transaction: its writes in order, its events together
 * after them (one statement in SQL; each payment's `seq` in the plan's order). A write whose
 * check fails throws, and the transaction must roll back: `FenceLostError` for the key's,
 * `StaleWriteError` for a row that changed (the single operations throw it themselves).
 */
export async function applyWrites(tx: RoundOps, writes: readonly BatchWrite[]): Promise<void> {
  const events: NewPaymentEvent[] = [];
  for (const w of writes) {
    if (w.op === 'insertEvent') events.push(w.event);
    else if (!(await writeOne(tx, w)) && (w.op === 'guardKey' || w.op === 'completeKey')) throw new FenceLostError(w.merchantId, w.key, w.fence);
  }
  if (events.length > 0) await tx.insertEvents(events);
}

/** One write as its single operation (events go out together, above); false when a fence write found the fence gone. */
async function writeOne(tx: RoundOps, w: Exclude<BatchWrite, { op: 'insertEvent' }>): Promise<boolean> {
  switch (w.op) {
    case 'guardKey':
      return tx.guardKey(w.merchantId, w.key, w.fence, w.now, w.leaseMs);
    case 'completeKey':
      return tx.completeKey(w.merchantId, w.key, w.fence, w.response, w.now, w.ttlMs);
    case 'recordAttempt':
      await tx.recordAttempt(w.attempt, w.result, w.now);
      return true;
    case 'updatePayment':
      await tx.updatePayment(w.current, w.changes, w.now);
      return true;
    case 'postEntry':
      await tx.postEntry(w.paymentId, w.currency, w.event, w.now);
      return true;
    case 'insertAttempt':
      await tx.insertAttempt(w.attempt, w.runAfter);
      return true;
  }
}

/** {@link PaymentRounds.openPayment} as one transaction of the single operations, in the order the one statement writes. */
export async function openPaymentInSteps(store: Transactional<RoundOps>, o: OpenPayment): Promise<OpenedPayment | null> {
  return store.transaction(async (tx) => {
    const k = o.key;
    let fence: number;
    if ('fence' in k) {
      if (!(await tx.guardKey(k.merchantId, k.key, k.fence, k.now, k.leaseMs))) return null;
      fence = k.fence;
    } else {
      // Claimed here and bound to the payment at once (docs/idempotency.md, claim step 5): no row, no claim.
      const claimed = await tx.insertKey(k.claim, k.now, k.leaseMs, o.payment.id);
      if (claimed === null) return null;
      fence = claimed;
    }
    const payment = await tx.insertPayment(o.payment);
    const attempt = await tx.insertAttempt(o.attempt, o.runAfter);
    for (const e of o.events) await tx.insertEvent(e);
    // The guard above holds the key's row until commit: the bind cannot miss it.
    if ('fence' in k && !(await tx.bindKeyResource(k.merchantId, k.key, fence, payment.id))) throw new Error(`key ${k.key} lost its fence inside a transaction`);
    return { fence, payment, attempt, attempts: [attempt] };
  });
}
