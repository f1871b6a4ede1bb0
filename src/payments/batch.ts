import type { Transactional } from '../ports/transaction.js';
import { attemptOrder, changedPayment, newAttemptRow, recordedAttempt, StaleWriteError, toView, type AttemptRow, type PaymentRow } from './rows.js';
import type { BatchWrite, OpenPayment, Opened, PaymentRounds, RoundOps } from './store.js';

/**
 * A round's writes sent together (docs/architecture.md, "Ports"). When a request has just
 * written its payment, it knows the payment's row and every attempt of it; the next
 * transaction can then read from that knowledge instead of the database, and send all its
 * writes at once: on PostgreSQL and PGlite one statement, one round trip with no BEGIN or
 * COMMIT. Every write carries its own check (the key's fence, the payment's version, the
 * attempt still open); if any finds the rows changed, nothing is written and the caller runs
 * the same work as an ordinary transaction, which reads what is there now.
 */

/** A payment and all of its attempts as the writer last wrote them. */
export interface Snapshot {
  payment: PaymentRow;
  attempts: AttemptRow[];
}

/** The work read or wrote something a batch can't answer from its snapshot. */
class NotBatchable extends Error {
  override readonly name = 'NotBatchable';
}

/**
 * Runs `fn` as one batch over `snapshot`: its reads are answered from the snapshot, its writes
 * are collected and handed to `store.writeBatch`. Returns `fn`'s value and the snapshot as the
 * batch left it; null when `fn` needed more than the snapshot holds, threw, or a write's check
 * failed: nothing was written, so the caller runs `fn` as a transaction instead (which also
 * raises whatever `fn` threw, from what the database holds).
 */
export async function runBatch<T>(store: Pick<PaymentRounds, 'writeBatch'>, snapshot: Snapshot, fn: (tx: RoundOps) => Promise<T>): Promise<{ value: T; snapshot: Snapshot } | null> {
  const recorder = new BatchRecorder(snapshot);
  let value: T;
  try {
    value = await fn(recorder.ops());
  } catch {
    return null;
  }
  // A detached claim's fence is its outbox row, which the round's own write closes: one
  // statement can't update a row twice, so its rounds are transactions.
  if (recorder.writes.some((w) => w.op === 'guardWork')) return null;
  if (!(await store.writeBatch(recorder.writes))) return null;
  return { value, snapshot: recorder.snapshot };
}

/**
 * Runs `fn` inside the caller's transaction over `snapshot`, the payment and its attempts as
 * the transaction has just read (and locked) them: its reads are answered from the snapshot,
 * its writes applied in order. The claim's guard already ran first in the transaction (it
 * takes the key's lock before the payment's), so its recorded guard is not applied again.
 * Whatever `fn` throws, or a write's failed check, is the transaction's error.
 */
export async function runInTransaction<T>(tx: RoundOps, snapshot: Snapshot, fn: (tx: RoundOps) => Promise<T>): Promise<{ value: T; snapshot: Snapshot }> {
  const recorder = new BatchRecorder(snapshot);
  const value = await fn(recorder.ops());
  for (const w of recorder.writes) {
    if (w.op === 'guardKey' || w.op === 'guardWork') continue;
    if (!(await writeOne(tx, w))) throw new StaleWriteError(`a write of payment ${snapshot.payment.id}'s round found its row changed (${w.op})`);
  }
  return { value, snapshot: recorder.snapshot };
}

/** Answers a batch's reads from its snapshot and keeps the snapshot in step with its writes. */
class BatchRecorder {
  readonly writes: BatchWrite[] = [];
  readonly snapshot: Snapshot;
  private paymentUpdated = false;

  constructor(s: Snapshot) {
    this.snapshot = { payment: copyPayment(s.payment), attempts: s.attempts.map(copyAttempt) };
  }

  ops(): RoundOps {
    const s = this.snapshot;
    const own = (merchantId: string, id: string) => {
      if (id !== s.payment.id || merchantId !== s.payment.merchant_id) throw new NotBatchable(`payment ${id} is not the batch's`);
    };
    const mine = (paymentId: string) => {
      if (paymentId !== s.payment.id) throw new NotBatchable(`payment ${paymentId} is not the batch's`);
    };
    const answered: Partial<RoundOps> = {
      guardKey: async (merchantId, key, fence, now, leaseMs) => {
        this.writes.push({ op: 'guardKey', merchantId, key, fence, now, leaseMs });
        return true;
      },
      guardWork: async (id, fence, leaseUntil) => {
        this.writes.push({ op: 'guardWork', id, fence, leaseUntil });
        return true;
      },
      completeKey: async (merchantId, key, fence, response, now, ttlMs) => {
        this.writes.push({ op: 'completeKey', merchantId, key, fence, response, now, ttlMs });
        return true;
      },
      findPayment: async (merchantId, id) => {
        own(merchantId, id);
        return copyPayment(s.payment);
      },
      loadView: async (merchantId, id) => {
        own(merchantId, id);
        return structuredClone(toView(s.payment, [...s.attempts].sort(attemptOrder)));
      },
      lastAttemptNo: async (paymentId, operation) => {
        mine(paymentId);
        return s.attempts.filter((a) => a.operation === operation).reduce((n, a) => Math.max(n, a.attempt_no), 0);
      },
      countAttempts: async (paymentId, operation, gateway) => {
        mine(paymentId);
        return s.attempts.filter((a) => a.operation === operation && a.gateway === gateway).length;
      },
      recordAttempt: async (attempt, result, now) => {
        const i = s.attempts.findIndex((a) => a.id === attempt.id);
        const known = s.attempts[i];
        if (!known || (known.status !== 'pending' && known.status !== 'unknown')) throw new StaleWriteError(`attempt ${attempt.id} was already recorded`);
        this.writes.push({ op: 'recordAttempt', attempt: copyAttempt(attempt), result: { ...result }, now: new Date(now) });
        s.attempts[i] = recordedAttempt(known, result, now);
      },
      updatePayment: async (current, changes, now) => {
        mine(current.id);
        // One statement can't update a row twice; a second change goes to a transaction.
        if (this.paymentUpdated) throw new NotBatchable(`payment ${current.id} changes twice`);
        if (current.version !== s.payment.version) throw new StaleWriteError(`payment ${current.id} changed under us (expected version ${current.version})`);
        this.paymentUpdated = true;
        this.writes.push({ op: 'updatePayment', current: copyPayment(s.payment), changes: { ...changes }, now: new Date(now) });
        s.payment = changedPayment(s.payment, changes, now);
        return copyPayment(s.payment);
      },
      postEntry: async (paymentId, currency, event, now) => {
        mine(paymentId);
        this.writes.push({ op: 'postEntry', paymentId, currency, event, now: new Date(now) });
      },
      insertAttempt: async (attempt, runAfter) => {
        mine(attempt.payment_id);
        this.writes.push({ op: 'insertAttempt', attempt: { ...attempt }, runAfter: new Date(runAfter) });
        const row = newAttemptRow(attempt);
        s.attempts.push(row);
        return copyAttempt(row);
      },
      insertEvent: async (event) => {
        mine(event.paymentId);
        this.writes.push({ op: 'insertEvent', event });
      },
    };
    return new Proxy(answered, {
      get: (target, name: string) =>
        target[name as keyof RoundOps] ??
        (() => {
          throw new NotBatchable(`${name} is not answered in a batch`);
        }),
    }) as RoundOps;
  }
}

/** Thrown inside {@link writeBatchInSteps} when a write's check fails. */
class BatchRefused extends Error {
  override readonly name = 'BatchRefused';
}

/**
 * `PaymentRounds.writeBatch` as one transaction of the single operations, in order: the stores without
 * round trips (memory, the simulator's) and the reference for the one-statement SQL. False
 * when a check failed (nothing is then written).
 */
export async function writeBatchInSteps(store: Transactional<RoundOps>, writes: readonly BatchWrite[]): Promise<boolean> {
  try {
    await store.transaction(async (tx) => {
      for (const w of writes) if (!(await writeOne(tx, w))) throw new BatchRefused();
    });
    return true;
  } catch (err) {
    if (err instanceof BatchRefused || err instanceof StaleWriteError || (err as { code?: unknown }).code === '23505') return false;
    throw err;
  }
}

async function writeOne(tx: RoundOps, w: BatchWrite): Promise<boolean> {
  switch (w.op) {
    case 'guardKey':
      return tx.guardKey(w.merchantId, w.key, w.fence, w.now, w.leaseMs);
    case 'guardWork':
      return tx.guardWork(w.id, w.fence, w.leaseUntil);
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
    case 'insertEvent':
      await tx.insertEvent(w.event);
      return true;
  }
}

/** {@link PaymentRounds.openPayment} as one transaction of the single operations, in the order the one statement writes. */
export async function openPaymentInSteps(store: Transactional<RoundOps>, o: OpenPayment): Promise<Opened | null> {
  return store.transaction(async (tx) => {
    const { merchantId, key, fence, now, leaseMs } = o.key;
    if (!(await tx.guardKey(merchantId, key, fence, now, leaseMs))) return null;
    const payment = await tx.insertPayment(o.payment);
    const attempt = await tx.insertAttempt(o.attempt, o.runAfter);
    for (const e of o.events) await tx.insertEvent(e);
    // The guard above holds the key's row until commit: the bind cannot miss it.
    if (!(await tx.bindKeyResource(merchantId, key, fence, payment.id))) throw new Error(`key ${key} lost its fence inside a transaction`);
    return { payment, attempt, attempts: [attempt] };
  });
}

function copyPayment(p: PaymentRow): PaymentRow {
  return { ...p, metadata: { ...p.metadata }, created_at: new Date(p.created_at), updated_at: new Date(p.updated_at) };
}

function copyAttempt(a: AttemptRow): AttemptRow {
  return { ...a, created_at: new Date(a.created_at), completed_at: a.completed_at === null ? null : new Date(a.completed_at) };
}
