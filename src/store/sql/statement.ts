import type { Queryable } from '../../db/database.js';

/**
 * One SQL statement built from writes, each a data-modifying CTE with numbered parameters
 * (docs/architecture.md, "rounds as data"). Each write's SQL lives once, as a fragment beside
 * its aggregate (`guardKeyWrite` in ./keys.ts, `recordAttemptWrite` in ./payments.ts, …): a
 * single operation runs its fragment alone and reads what it returned; a round's batch
 * (./batch.ts) folds several together and checks each.
 */
export class Statement {
  readonly params: unknown[] = [];
  private readonly ctes: string[] = [];
  private readonly checks: Array<{ name: string; rows: number }> = [];

  get empty(): boolean {
    return this.ctes.length === 0;
  }

  /** A parameter's placeholder. */
  p(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /** Adds a write (or a read) as a CTE; returns its name. */
  cte(sql: string): string {
    const name = `w${this.ctes.length + 1}`;
    this.ctes.push(`${name} AS (${sql})`);
    return name;
  }

  /** The batch must find exactly `rows` rows returned by the CTE `name`. */
  check(name: string, rows: number): void {
    this.checks.push({ name, rows });
  }

  /** Runs the writes; the rows the CTE `name` returned. */
  async rows<T>(q: Queryable, name: string): Promise<T[]> {
    const { rows } = await q.query<T>(`WITH ${this.ctes.join(',\n')}\nSELECT * FROM ${name}`, this.params);
    return rows;
  }

  /** Runs the writes; how many rows the CTE `name` returned. */
  async count(q: Queryable, name: string): Promise<number> {
    const { rows } = await q.query<{ n: number }>(`WITH ${this.ctes.join(',\n')}\nSELECT count(*)::int AS n FROM ${name}`, this.params);
    return rows[0]!.n;
  }

  /**
   * Runs the writes as one all-or-nothing statement: a last SELECT makes `idem_expect`
   * (migrations/000009.sql) raise unless every checked CTE returned its rows, and a statement
   * that raises writes nothing. `value`: a column of the one row a checked CTE returned
   * (`{ cte, column }`), answered when the writes went through.
   */
  async all(q: Queryable, value?: { cte: string; column: string }): Promise<unknown> {
    const ok = this.checks.map((c) => `(SELECT count(*) FROM ${c.name}) = ${c.rows}`).join(' AND ');
    const picked = value ? `, (SELECT ${value.column} FROM ${value.cte}) AS v` : '';
    const { rows } = await q.query<{ v?: unknown }>(`WITH ${this.ctes.join(',\n')}\nSELECT idem_expect(${ok || 'true'}) AS ok${picked}`, this.params);
    return rows[0]?.v;
  }
}
