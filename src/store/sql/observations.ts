import type { Queryable } from '../../db/database.js';
import type { Clock } from '../../ports/clock.js';
import type { GatewayObservation } from '../../resilience/book.js';
import type { ObservationLog } from '../../resilience/shared.js';

/**
 * The shared gateway-answer log in PostgreSQL (or PGlite), used when Redis is absent or down
 * (docs/resilience.md). Read by id; a row whose id was taken before a concurrent one but
 * committed after it can be missed by a reader already past it — acceptable for a learning
 * signal, never used for money. Rows older than an hour are pruned every few hundred appends.
 */
export class SqlObservationLog implements ObservationLog {
  readonly name = 'postgres';
  private appended = 0;

  constructor(
    private readonly db: Queryable,
    private readonly clock: Clock,
    private readonly keepMs = 3_600_000,
  ) {}

  async append(instance: string, batch: readonly GatewayObservation[]): Promise<void> {
    if (batch.length === 0) return;
    await this.db.query(
      `INSERT INTO gateway_observations (instance, at, body)
       SELECT $1, to_timestamp((b->>'at')::double precision / 1000), b FROM jsonb_array_elements($2::jsonb) AS b`,
      [instance, JSON.stringify(batch)],
    );
    this.appended += batch.length;
    if (this.appended >= 500) {
      this.appended = 0;
      await this.db.query(`DELETE FROM gateway_observations WHERE at < $1`, [new Date(this.clock.now() - this.keepMs)]);
    }
  }

  async read(cursor: string | null, limit: number, warmMs: number) {
    const { rows } = cursor === null
      ? await this.db.query<{ id: string; instance: string; body: GatewayObservation }>(
          `SELECT id::text, instance, body FROM gateway_observations WHERE at > $1 ORDER BY id LIMIT $2`,
          [new Date(this.clock.now() - warmMs), limit],
        )
      : await this.db.query<{ id: string; instance: string; body: GatewayObservation }>(
          `SELECT id::text, instance, body FROM gateway_observations WHERE id > $1 ORDER BY id LIMIT $2`,
          [cursor, limit],
        );
    return { entries: rows.map((r) => ({ instance: r.instance, observation: r.body })), cursor: rows.at(-1)?.id ?? cursor };
  }
}
