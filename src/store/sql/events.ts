import type { Queryable } from '../../db/database.js';
import { Statement } from './statement.js';
import type { TransactionMetadata } from '../../events/metadata.js';
import type { NewPaymentEvent, NewSystemEvent, StoredEvent } from '../../events/model.js';
import type { EventActivity, EventStore } from '../../events/store.js';

interface EventSqlRow {
  event_id: string;
  type: string;
  merchant_id: string | null;
  payment_id: string | null;
  seq: number | null;
  position: string | number | null;
  data: Record<string, unknown>;
  metadata: TransactionMetadata;
  created_at: Date;
}

const COLUMNS = 'event_id, type, merchant_id, payment_id, seq, position, data, metadata, created_at';

export function toStoredEvent(r: EventSqlRow): StoredEvent {
  return {
    id: r.event_id,
    type: r.type,
    merchantId: r.merchant_id,
    paymentId: r.payment_id,
    seq: r.seq,
    position: r.position === null ? null : Number(r.position),
    data: r.data,
    metadata: r.metadata,
    createdAt: r.created_at,
  };
}

/**
 * Payment events in order (`EventStore.insertEvents`), each payment's numbered on from its last
 * `seq`; returns the CTE, one row per event. The caller holds each payment's row (inserted or
 * locked in its transaction), so no other transaction takes the same seq; the unique
 * (payment_id, seq) would refuse it if one did.
 */
export function insertEventsWrite(s: Statement, events: readonly NewPaymentEvent[]): string {
  const json = JSON.stringify(events.map((e) => ({ id: e.id, payment_id: e.paymentId, merchant_id: e.merchantId, type: e.type, data: e.data, metadata: e.metadata, created_at: e.createdAt.toISOString() })));
  return s.cte(
    `INSERT INTO payment_events (event_id, payment_id, merchant_id, type, data, metadata, created_at, seq)
     SELECT x.e->>'id', x.e->>'payment_id', x.e->>'merchant_id', x.e->>'type', x.e->'data', x.e->'metadata', (x.e->>'created_at')::timestamptz,
            coalesce((SELECT max(seq) FROM payment_events p WHERE p.payment_id = x.e->>'payment_id'), 0)
              + row_number() OVER (PARTITION BY x.e->>'payment_id' ORDER BY x.n)
       FROM jsonb_array_elements(${s.p(json)}::jsonb) WITH ORDINALITY AS x (e, n)
      ORDER BY x.n
     RETURNING 1`,
  );
}

/** Events, their feed positions and webhook fan-out, and the publishers' cursors in SQL. */
export class SqlEvents implements EventStore {
  constructor(private readonly q: Queryable) {}

  insertEvent(e: NewPaymentEvent): Promise<void> {
    return this.insertEvents([e]);
  }

  async insertEvents(events: readonly NewPaymentEvent[]): Promise<void> {
    if (events.length === 0) return;
    const s = new Statement();
    await s.count(this.q, insertEventsWrite(s, events));
  }

  async insertSystemEvent(e: NewSystemEvent): Promise<void> {
    await this.q.query(
      `INSERT INTO payment_events (event_id, payment_id, merchant_id, type, data, metadata, created_at, seq)
       VALUES ($1, NULL, $2, $3, $4, $5, $6, NULL)`,
      [e.id, e.merchantId, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata), e.createdAt],
    );
  }

  async reportGatewayHealth(gateway: string, operation: string, state: string, event: NewSystemEvent): Promise<boolean> {
    // The row lock taken by ON CONFLICT serializes instances reporting the same change: the
    // second finds the state already there, updates nothing and returns no row.
    const { rows } = await this.q.query(
      `INSERT INTO gateway_health_reports (gateway, operation, state, since) VALUES ($1, $2, $3, $4)
       ON CONFLICT (gateway, operation) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since
        WHERE gateway_health_reports.state <> EXCLUDED.state
       RETURNING 1`,
      [gateway, operation, state, event.createdAt],
    );
    if (rows.length === 0) return false;
    await this.insertSystemEvent(event);
    return true;
  }

  async listEvents(paymentId: string): Promise<StoredEvent[]> {
    const { rows } = await this.q.query<EventSqlRow>(`SELECT ${COLUMNS} FROM payment_events WHERE payment_id = $1 ORDER BY seq`, [paymentId]);
    return rows.map(toStoredEvent);
  }

  async positionEvents(now: Date, limit: number): Promise<{ positioned: number; deliveries: number }> {
    // Two statements: the second takes its snapshot after the head's lock is ours, so it sees
    // every event the previous holder positioned (one statement would read with the snapshot
    // taken before waiting, and position them again).
    const { rows: head } = await this.q.query<{ position: string }>(`SELECT position FROM event_feed_head WHERE id = 1 FOR UPDATE`);
    const { rows } = await this.q.query<{ positioned: number; deliveries: number }>(
      `WITH todo AS (
         SELECT id, $2::bigint + row_number() OVER (ORDER BY id) AS pos
           FROM payment_events WHERE position IS NULL ORDER BY id LIMIT $1
       ), positioned AS (
         UPDATE payment_events e SET position = todo.pos FROM todo WHERE e.id = todo.id
         RETURNING e.event_id, e.merchant_id, e.payment_id, e.type, e.position
       ), fanned AS (
         INSERT INTO webhook_deliveries (endpoint_id, event_id, position, payment_id, next_attempt_at, created_at)
         SELECT w.id, p.event_id, p.position, p.payment_id, $3, $3
           FROM positioned p JOIN webhook_endpoints w
             ON w.merchant_id = p.merchant_id AND w.status = 'enabled' AND (w.event_types IS NULL AND p.type NOT LIKE 'attempt.%' OR p.type = ANY (w.event_types))
         RETURNING 1
       ), moved AS (
         UPDATE event_feed_head SET position = position + (SELECT count(*) FROM positioned) WHERE id = 1
       )
       SELECT (SELECT count(*)::int FROM positioned) AS positioned, (SELECT count(*)::int FROM fanned) AS deliveries`,
      [limit, Number(head[0]!.position), now],
    );
    return rows[0]!;
  }

  async listFeed(merchantId: string | null, afterPosition: number, limit: number, types?: readonly string[]): Promise<StoredEvent[]> {
    const params: unknown[] = [afterPosition, limit];
    let where = 'position > $1';
    if (merchantId !== null) {
      params.push(merchantId);
      where += ` AND merchant_id = $${params.length}`;
    }
    if (types && types.length > 0) {
      params.push(types);
      where += ` AND type = ANY ($${params.length}::text[])`;
    }
    const { rows } = await this.q.query<EventSqlRow>(`SELECT ${COLUMNS} FROM payment_events WHERE ${where} ORDER BY position LIMIT $2`, params);
    return rows.map(toStoredEvent);
  }

  async eventActivity(merchantId: string | null, since: number): Promise<EventActivity> {
    const { rows } = await this.q.query<{ minute: string; type: string; n: number }>(
      `SELECT (floor(extract(epoch FROM created_at) / 60) * 60000)::bigint AS minute, type, count(*)::int AS n
         FROM payment_events WHERE created_at >= $1 AND position IS NOT NULL AND ($2::text IS NULL OR merchant_id = $2)
        GROUP BY 1, 2 ORDER BY 1, 2`,
      [new Date(since), merchantId],
    );
    const { rows: last } = await this.q.query<{ event_id: string }>(
      `SELECT event_id FROM payment_events WHERE position IS NOT NULL AND ($1::text IS NULL OR merchant_id = $1) ORDER BY position DESC LIMIT 1`,
      [merchantId],
    );
    return { buckets: rows.map((r) => ({ minute: Number(r.minute), type: r.type, count: r.n })), lastEventId: last[0]?.event_id ?? null };
  }

  async findEvent(merchantId: string, id: string): Promise<StoredEvent | null> {
    const { rows } = await this.q.query<EventSqlRow>(`SELECT ${COLUMNS} FROM payment_events WHERE event_id = $1 AND merchant_id = $2`, [id, merchantId]);
    return rows[0] ? toStoredEvent(rows[0]) : null;
  }

  async claimPublisher(name: string, now: number, leaseMs: number): Promise<{ position: number; fence: number } | null> {
    await this.q.query(`INSERT INTO event_publishers (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, [name]);
    const { rows } = await this.q.query<{ position: string; fence: string }>(
      `UPDATE event_publishers SET lease_until = $3, fence = nextval('idempotency_fence_seq')
        WHERE name = $1 AND (lease_until IS NULL OR lease_until <= $2)
        RETURNING position, fence`,
      [name, new Date(now), new Date(now + leaseMs)],
    );
    return rows[0] ? { position: Number(rows[0].position), fence: Number(rows[0].fence) } : null;
  }

  async advancePublisher(name: string, fence: number, position: number, leaseUntil: number): Promise<boolean> {
    const { rowCount } = await this.q.query(
      `UPDATE event_publishers SET position = greatest(position, $3), lease_until = $4 WHERE name = $1 AND fence = $2`,
      [name, fence, position, new Date(leaseUntil)],
    );
    return rowCount === 1;
  }
}
