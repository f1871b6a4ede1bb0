/**
 * The one SQL port. PostgreSQL (pg) and embedded PGlite both implement it, and every query in
 * Idem is written once, in a dialect both accept.
 */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
  /** Runs a script of several statements, without parameters. */
  exec(sql: string): Promise<void>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * True when an error means the database could not be reached or went away (as opposed to a
 * query that is wrong). Such failures answer 503 `UNAVAILABLE`.
 */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  if (!e) return false;
  if (typeof e.code === 'string') {
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(e.code)) return true;
    // 08xxx connection exceptions, 57P0x operator intervention (shutdown), 53300 too many connections.
    if (/^08|^57P0|^53300$/.test(e.code)) return true;
  }
  // pg's words for a dropped socket and a client it stopped using after one; pg-pool's for a
  // connection it could not open within connectionTimeoutMillis (the server restarting).
  return /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(e.message ?? '');
}

/**
 * `db` with every transaction it runs counted: a statement on its own is one (autocommit), a
 * `transaction()` is one however many statements it holds. Shown as
 * `idem_db_transactions_total`: what an instance costs its database, idle or busy.
 */
export function countingTransactions(db: Database, counted: () => void): Database {
  return {
    kind: db.kind,
    query(sql, params) {
      counted();
      return db.query(sql, params);
    },
    exec(sql) {
      counted();
      return db.exec(sql);
    },
    transaction(fn) {
      counted();
      return db.transaction(fn);
    },
    close: () => db.close(),
  };
}
