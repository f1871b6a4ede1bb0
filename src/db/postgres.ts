import { hash } from 'node:crypto';
import pg from 'pg';
import type { Database, Queryable, QueryResult } from './database.js';

const INT8 = 20;

const types = {
  getTypeParser(oid: number, format?: string) {
    // Fences, amounts and counters are int8; every value Idem stores fits in a double exactly.
    if (oid === INT8) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** Opens a PostgreSQL pool behind the `Database` port. */
export function openPostgres(connectionString: string, options: { max?: number; applicationName?: string } = {}): Database {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 20,
    application_name: options.applicationName ?? 'idem',
    // Also the longest a query waits for a free pooled connection under load before 503.
    connectionTimeoutMillis: 15_000,
    // Longer than the longest idle backoff of a background pass (IDEM_IDLE_MAX_MS): an idle
    // instance keeps its connections (and their prepared statements) instead of opening one
    // for every look (docs/architecture.md, "Background passes").
    idleTimeoutMillis: 120_000,
    types,
  });
  // An idle client losing its connection must not crash the process; the next query reports it.
  // (A checked-out client has no pool listener: `transaction` holds one of its own.)
  pool.on('error', () => {});

  const wrap = (client: pg.Pool | pg.PoolClient): Queryable => ({
    async query<T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      // Parameterized statements are prepared once per connection and reused by name: parsing
      // and planning each time was most of PostgreSQL's CPU per payment.
      if (params === undefined) {
        const r = await client.query(sql);
        return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
      }
      try {
        const r = await client.query({ name: statementName(sql), text: sql, values: params as unknown[] });
        return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
      } catch (err) {
        // A migration changed a table under a statement prepared before it ("cached plan must
        // not change result type"): prepare every statement afresh, under new names.
        if ((err as { code?: string }).code !== '0A000') throw err;
        generation++;
        names.clear();
        const r = await client.query({ name: statementName(sql), text: sql, values: params as unknown[] });
        return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
      }
    },
    async exec(sql: string) {
      await client.query(sql);
    },
  });

  return {
    kind: 'postgres',
    ...wrap(pool),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      // pg-pool takes its idle `error` listener off a client it hands out. A connection that
      // drops while this transaction holds the client (PostgreSQL restarted, failed over, a
      // backend killed) emits `error` on it, with or without a statement running, and an
      // `error` with no listener ends the process. Held here for the whole checkout, the error
      // fails this transaction instead: its next statement (or COMMIT) rejects with a
      // connection error, which the API answers 503 UNAVAILABLE with Retry-After.
      // (Typed by assertion: set in a callback, so TypeScript must not narrow it to null.)
      let lost = null as Error | null;
      const onError = (err: Error): void => {
        lost ??= err;
      };
      client.on('error', onError);
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        // COMMIT of a transaction in which a statement failed answers ROLLBACK, not an error.
        const commit = await client.query('COMMIT');
        if (commit.command === 'ROLLBACK') throw new Error('the transaction was rolled back: a statement in it failed');
        return result;
      } catch (err) {
        if (lost) broken = true;
        else {
          try {
            await client.query('ROLLBACK');
          } catch {
            broken = true;
          }
        }
        throw err;
      } finally {
        // Released first: the pool puts its own listener back (or destroys a broken client)
        // before this one comes off, so the client is never without one.
        client.release(lost ?? broken);
        client.off('error', onError);
      }
    },
    async close() {
      await pool.end();
    },
  };
}

const names = new Map<string, string>();
let generation = 0;

/** A stable name per statement text (the SQL Idem sends is a small, fixed set). */
function statementName(sql: string): string {
  let name = names.get(sql);
  if (name === undefined) {
    name = `idem${generation}_` + hash('sha1', sql, 'hex').slice(0, 20);
    names.set(sql, name);
  }
  return name;
}
