import { AsyncLocalStorage } from 'node:async_hooks';
import { openPaymentInSteps, writeBatchInSteps } from '../../payments/batch.js';
import type { BatchWrite, OpenPayment, OpenedPayment } from '../../payments/store.js';
import { assembleOps, storeOpNames as opNames, type Store, type StoreOps } from '../port.js';
import { MemoryConstraintError, Mutex } from './engine.js';
import { MemoryKeys } from './keys.js';
import { MemoryLedger } from './ledger.js';
import { MemoryMerchants } from './merchants.js';
import { MemoryOutbox } from './outbox.js';
import { MemoryPayments } from './payments.js';
import { MemoryEvents } from './events.js';
import { MemoryWebhooks } from './webhooks.js';
import { MemoryReconciliation } from './reconciliation.js';
import { MemoryState } from './state.js';

export { MemoryConstraintError } from './engine.js';

/** One open transaction: its handle stops working when it ends; a failed statement aborts it. */
interface TxState {
  open: boolean;
  aborted: unknown;
}

/**
 * The storage port in memory, for the deterministic simulator and fast tests. No clock, no
 * randomness, no timers: ids and fences come from counters. One transaction at a time: a FIFO
 * mutex is taken by `transaction()` and by every operation outside one, so nothing observes
 * uncommitted writes, `FOR UPDATE` and `SKIP LOCKED` hold trivially, and a transaction's writes
 * are staged and applied only when `fn` resolves.
 *
 * Rows are copied in and out: callers never share an object with the store. Constraints the
 * schema declares (unique keys, checks, foreign keys, integer columns) throw a
 * `MemoryConstraintError` carrying PostgreSQL's SQLSTATE. As in PostgreSQL, a statement that
 * fails inside a transaction aborts it: later statements throw (25P02) and nothing commits.
 *
 * Calling the store itself (not the `tx` handle) from inside its own transaction would wait
 * for the transaction forever; it throws instead. That check follows the async context
 * (`AsyncLocalStorage`), whose promise hooks took four fifths of the simulator's time on
 * Node 20; the simulator turns it off (`{ detectReentry: false }`), where a self-wait shows as a
 * payment that never ends (I3).
 *
 * @example
 *   const store = new MemoryStore();
 *   await store.transaction(async (tx) => {
 *     const p = await tx.insertPayment(payment);
 *     await tx.insertAttempt(attempt, p.created_at);
 *   });
 */
// The operations are forwarded by the generated methods in the class's static block.
export interface MemoryStore extends StoreOps {}

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly state = new MemoryState();
  private readonly ops: StoreOps = assembleOps({
    keys: new MemoryKeys(this.state),
    merchants: new MemoryMerchants(this.state),
    payments: new MemoryPayments(this.state),
    ledger: new MemoryLedger(this.state),
    outbox: new MemoryOutbox(this.state),
    events: new MemoryEvents(this.state),
    webhooks: new MemoryWebhooks(this.state),
    reconciliation: new MemoryReconciliation(this.state),
  });
  private readonly mutex = new Mutex();
  private readonly inside: AsyncLocalStorage<TxState> | null;

  constructor(options: { detectReentry?: boolean } = {}) {
    this.inside = options.detectReentry === false ? null : new AsyncLocalStorage<TxState>();
  }

  openPayment(o: OpenPayment): Promise<OpenedPayment | null> {
    return openPaymentInSteps(this, o);
  }

  writeBatch(writes: readonly BatchWrite[]): Promise<boolean> {
    return writeBatchInSteps(this, writes);
  }

  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> {
    this.refuseReentry('transaction');
    return this.mutex.run(async () => {
      const txState: TxState = { open: true, aborted: undefined };
      this.state.begin();
      try {
        const tx = this.handle(txState);
        const result = await (this.inside ? this.inside.run(txState, () => fn(tx)) : fn(tx));
        if (txState.aborted !== undefined) throw txState.aborted;
        this.state.commit();
        return result;
      } catch (err) {
        this.state.rollback();
        throw err;
      } finally {
        txState.open = false;
      }
    });
  }

  /** True while a transaction or an operation holds the store or waits for it. */
  get busy(): boolean {
    return this.mutex.users > 0;
  }

  /**
   * Test only (the simulator's planted bug `early-response`): commits the open transaction's
   * writes to idempotency keys now, ahead of the rest of the transaction.
   */
  commitKeysNow(): void {
    this.state.keys.commit();
    this.state.keys.begin();
  }

  private refuseReentry(op: string): void {
    if (this.inside?.getStore()?.open) {
      throw new Error(`MemoryStore.${op} called inside a transaction of the same store: use the transaction's handle (it would wait for itself)`);
    }
  }

  private handle(tx: TxState): StoreOps {
    const handle = {} as Record<string, (...args: unknown[]) => Promise<unknown>>;
    for (const name of opNames) {
      const op = this.ops[name] as (...args: unknown[]) => Promise<unknown>;
      handle[name] = async (...args: unknown[]) => {
        if (!tx.open) throw new Error(`MemoryStore: ${name} on a transaction that has ended`);
        if (tx.aborted !== undefined) {
          throw new MemoryConstraintError('25P02', 'transaction', 'current transaction is aborted, commands ignored until end of transaction block');
        }
        try {
          return await op(...args);
        } catch (err) {
          tx.aborted = err;
          throw err;
        }
      };
    }
    return handle as unknown as StoreOps;
  }

  /** One operation outside a transaction: atomic on its own. */
  private atomic<K extends (typeof opNames)[number]>(name: K, args: Parameters<StoreOps[K]>): ReturnType<StoreOps[K]> {
    this.refuseReentry(name);
    const op = this.ops[name] as (...a: unknown[]) => Promise<unknown>;
    return this.mutex.run(async () => {
      this.state.begin();
      try {
        const result = await op(...args);
        this.state.commit();
        return result;
      } catch (err) {
        this.state.rollback();
        throw err;
      }
    }) as ReturnType<StoreOps[K]>;
  }

  // One forwarder per operation of the port, each atomic on its own (see `atomic`).
  static {
    for (const name of opNames) {
      Object.defineProperty(this.prototype, name, {
        value: function (this: MemoryStore, ...a: unknown[]) {
          return this.atomic(name, a as never);
        },
        writable: true,
        configurable: true,
      });
    }
  }
}
