import { Buffer } from 'node:buffer';

/**
 * The in-memory store's engine (docs/architecture.md, src/store/memory/): tables whose writes a
 * transaction stages and commits or drops, a FIFO mutex, and the constraint errors PostgreSQL
 * would raise. The operations of each aggregate are in the files beside this one.
 */

/**
 * A constraint PostgreSQL would have enforced, refused the same way: `code` is PostgreSQL's
 * SQLSTATE (23505 unique, 23514 check, 23503 foreign key, 23502 not null, 22P02 bad integer,
 * 25P02 statement in an aborted transaction) and `constraint` names what was broken.
 */
export class MemoryConstraintError extends Error {
  override readonly name = 'MemoryConstraintError';
  constructor(
    readonly code: string,
    readonly constraint: string,
    message: string,
  ) {
    super(message);
  }
}

const GONE = Symbol('gone');

/**
 * One table: committed rows plus, while a transaction runs, its staged writes over them.
 * Rows are never mutated in place (every write stores a new object), so a rollback is
 * dropping the staged map.
 */
export class Table<K, V> {
  private readonly rows = new Map<K, V>();
  private staged: Map<K, V | typeof GONE> | null = null;

  begin(): void {
    this.staged = new Map();
  }
  commit(): void {
    if (this.staged) {
      for (const [k, v] of this.staged) {
        if (v === GONE) this.rows.delete(k);
        else this.rows.set(k, v);
      }
    }
    this.staged = null;
  }
  rollback(): void {
    this.staged = null;
  }
  get(k: K): V | undefined {
    if (this.staged?.has(k)) {
      const v = this.staged.get(k)!;
      return v === GONE ? undefined : v;
    }
    return this.rows.get(k);
  }
  has(k: K): boolean {
    return this.get(k) !== undefined;
  }
  set(k: K, v: V): void {
    (this.staged ?? this.rows).set(k, v);
  }
  delete(k: K): void {
    if (this.staged) this.staged.set(k, GONE);
    else this.rows.delete(k);
  }
  values(): V[] {
    const out: V[] = [];
    for (const [k, v] of this.rows) if (!this.staged?.has(k)) out.push(v);
    if (this.staged) for (const v of this.staged.values()) if (v !== GONE) out.push(v);
    return out;
  }
  get size(): number {
    return this.values().length;
  }
}

/** A FIFO async mutex: waiters run in arrival order, no timers. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  /** Holders and waiters. */
  users = 0;

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const before = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    this.users++;
    await before;
    try {
      return await fn();
    } finally {
      this.users--;
      release();
    }
  }
}

export const keyId = (merchantId: string, key: string) => `${merchantId}\u0000${key}`;
export const ms = (d: Date) => d.getTime();
export const date = (n: number) => new Date(n);
export const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);
/** Byte order, as `COLLATE "C"`. */
export const bytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** What `jsonb` gives back: JSON round trip, keys deduplicated and ordered by length, then bytes. */
export function jsonb<T>(value: T): T {
  const order = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(order);
    if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v).sort((a, b) => a.length - b.length || Buffer.compare(Buffer.from(a), Buffer.from(b)));
      return Object.fromEntries(keys.map((k) => [k, order((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  return order(JSON.parse(JSON.stringify(value))) as T;
}

export function int8(column: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new MemoryConstraintError('22P02', column, `invalid input syntax for type bigint: "${String(v)}" (${column})`);
  }
}

export function notNull(column: string, v: unknown): void {
  if (v === null || v === undefined) throw new MemoryConstraintError('23502', column, `null value in column "${column}" violates not-null constraint`);
}

export function check(ok: boolean, constraint: string): void {
  if (!ok) throw new MemoryConstraintError('23514', constraint, `new row violates check constraint "${constraint}"`);
}

export function unique(taken: boolean, constraint: string, detail: string): void {
  if (taken) throw new MemoryConstraintError('23505', constraint, `duplicate key value violates unique constraint "${constraint}" (${detail})`);
}

export function foreign(found: boolean, constraint: string, detail: string): void {
  if (!found) throw new MemoryConstraintError('23503', constraint, `insert violates foreign key constraint "${constraint}" (${detail})`);
}
