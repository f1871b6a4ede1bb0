import type { Database, Queryable } from '../../db/database.js';
import type { BatchWrite, OpenPayment, OpenedPayment } from '../../payments/store.js';
import { assembleOps, type Store, type StoreOps } from '../port.js';
import { writeBatch } from './batch.js';
import { SqlKeys } from './keys.js';
import { SqlLedger } from './ledger.js';
import { SqlMerchants } from './merchants.js';
import { SqlOutbox } from './outbox.js';
import { SqlPayments } from './payments.js';
import { SqlEvents } from './events.js';
import { SqlWebhooks } from './webhooks.js';
import { SqlReconciliation } from './reconciliation.js';

/**
 * All of Idem's SQL lives in this folder, one file per aggregate (keys, merchants, payments,
 * ledger, outbox, events, webhooks, reconciliation), in one dialect for PostgreSQL and PGlite; src/db/ holds the connections and
 * migrations (docs/architecture.md).
 */

/** The port's operations over one connection or one open transaction. */
function sqlOps(q: Queryable): StoreOps {
  return assembleOps({
    keys: new SqlKeys(q),
    merchants: new SqlMerchants(q),
    payments: new SqlPayments(q),
    ledger: new SqlLedger(q),
    outbox: new SqlOutbox(q),
    events: new SqlEvents(q),
    webhooks: new SqlWebhooks(q),
    reconciliation: new SqlReconciliation(q),
  });
}

// The operations are assembled per aggregate in the constructor.
export interface SqlStore extends StoreOps {}

/**
 * The storage port over a `Database` (PostgreSQL or PGlite), already migrated.
 *
 * @example
 *   const store = new SqlStore(await openPglite('memory://'));
 *   await createMerchant(store, cryptoRandom, 'shop');
 */
export class SqlStore implements Store {
  readonly kind: 'postgres' | 'pglite';

  constructor(private readonly db: Database) {
    this.kind = db.kind;
    Object.assign(this, sqlOps(db));
  }

  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(sqlOps(tx)));
  }

  openPayment(o: OpenPayment): Promise<OpenedPayment | null> {
    return new SqlPayments(this.db).openPayment(o);
  }

  writeBatch(writes: readonly BatchWrite[]): Promise<boolean> {
    return writeBatch(this.db, writes);
  }
}
