import type { Queryable } from '../../db/database.js';
import { eventView } from '../../events/model.js';
import type { DeliveryUpdate, DeliveryWork, EndpointRow } from '../../events/webhooks.js';
import type { DeliveryRow, WebhookStore } from '../../events/webhookStore.js';

interface DeliverySqlRow {
  id: string | number;
  endpoint_id: string;
  event_id: string;
  type: string;
  payment_id: string | null;
  state: DeliveryRow['state'];
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: Date | string;
  created_at: Date | string;
  completed_at: Date | string | null;
}
import { toStoredEvent } from './events.js';

interface EndpointSqlRow {
  id: string;
  merchant_id: string;
  url: string;
  event_types: string[] | null;
  status: EndpointRow['status'];
  secret: string;
  previous_secret: string | null;
  previous_secret_until: Date | null;
  failing_since: Date | null;
  disabled_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

function toEndpoint(r: EndpointSqlRow): EndpointRow {
  return {
    id: r.id,
    merchantId: r.merchant_id,
    url: r.url,
    eventTypes: r.event_types,
    status: r.status,
    secret: r.secret,
    previousSecret: r.previous_secret,
    previousSecretUntil: r.previous_secret_until,
    failingSince: r.failing_since,
    disabledReason: r.disabled_reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Webhook endpoints and their leased, fenced, per-payment-ordered deliveries in SQL. */
export class SqlWebhooks implements WebhookStore {
  constructor(private readonly q: Queryable) {}

  async insertEndpoint(e: Parameters<WebhookStore['insertEndpoint']>[0]): Promise<EndpointRow> {
    const { rows } = await this.q.query<EndpointSqlRow>(
      `INSERT INTO webhook_endpoints (id, merchant_id, url, event_types, status, secret, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING *`,
      [e.id, e.merchantId, e.url, e.eventTypes, e.status, e.secret, e.createdAt],
    );
    return toEndpoint(rows[0]!);
  }

  async listEndpoints(merchantId: string): Promise<EndpointRow[]> {
    const { rows } = await this.q.query<EndpointSqlRow>(`SELECT * FROM webhook_endpoints WHERE merchant_id = $1 ORDER BY created_at, id`, [merchantId]);
    return rows.map(toEndpoint);
  }

  async findEndpoint(merchantId: string, id: string): Promise<EndpointRow | null> {
    const { rows } = await this.q.query<EndpointSqlRow>(`SELECT * FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2`, [id, merchantId]);
    return rows[0] ? toEndpoint(rows[0]) : null;
  }

  async setEndpointStatus(merchantId: string, id: string, status: EndpointRow['status'], reason: string | null, now: Date) {
    const { rows } = await this.q.query<EndpointSqlRow & { changed: boolean }>(
      `WITH before AS (SELECT status FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2 FOR UPDATE)
       UPDATE webhook_endpoints w SET status = $3, disabled_reason = $4, updated_at = $5,
              failing_since = CASE WHEN $3 = 'enabled' THEN NULL ELSE w.failing_since END
         FROM before WHERE w.id = $1
       RETURNING w.*, before.status <> $3 AS changed`,
      [id, merchantId, status, status === 'disabled' ? reason : null, now],
    );
    const r = rows[0];
    return r ? { endpoint: toEndpoint(r), changed: r.changed } : null;
  }

  async rotateEndpointSecret(merchantId: string, id: string, secret: string, previousUntil: Date, now: Date): Promise<EndpointRow | null> {
    const { rows } = await this.q.query<EndpointSqlRow>(
      `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $4, secret = $3, updated_at = $5
        WHERE id = $1 AND merchant_id = $2 RETURNING *`,
      [id, merchantId, secret, previousUntil, now],
    );
    return rows[0] ? toEndpoint(rows[0]) : null;
  }

  async deleteEndpoint(merchantId: string, id: string): Promise<boolean> {
    const { rowCount } = await this.q.query(`DELETE FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2`, [id, merchantId]);
    return rowCount === 1;
  }

  async claimDeliveries(now: number, limit: number, leaseMs: number, perEndpoint: number, busy: ReadonlyMap<string, number>, laneSize = 1): Promise<DeliveryWork[]> {
    const { rows } = await this.q.query<{
      id: number;
      fence: number;
      attempts: number;
      lane: number;
      endpoint_id: string;
      url: string;
      secret: string;
      previous_secret: string | null;
      previous_secret_until: Date | null;
      ev: Parameters<typeof toStoredEvent>[0];
    }>(
      // `candidates` ranks each endpoint's due deliveries so no endpoint gets more than its
      // room; `leaders` locks the chosen; `followers` extends each leader into its lane: the
      // payment's next deliveries to the endpoint while each is due and free. Nobody else can
      // lease a follower meanwhile: it is not first in its queue.
      `WITH busy AS (
         SELECT * FROM unnest($4::text[], $5::int[]) AS b (endpoint_id, n)
       ), oldest AS (
         -- The oldest sendable rows only, so a claim costs a bounded number of index probes
         -- whatever the backlog: due, enabled, and first in their payment's queue. Every step
         -- after this scan reads by key (the queue's head, a row by id): the plan cannot turn
         -- into scans of the queue, whatever the statistics say (taken while it was empty, say).
         SELECT d.id, d.endpoint_id, d.next_attempt_at
           FROM webhook_deliveries d
           JOIN webhook_endpoints w ON w.id = d.endpoint_id
           LEFT JOIN LATERAL (
             SELECT e.position FROM webhook_deliveries e
              WHERE e.endpoint_id = d.endpoint_id AND e.payment_id = d.payment_id AND e.state = 'pending'
              ORDER BY e.endpoint_id, e.payment_id, e.position
              LIMIT 1
           ) head ON true
          WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
            AND w.status = 'enabled' AND NOT (d.endpoint_id = ANY ($9::text[]))
            AND (d.payment_id IS NULL OR head.position = d.position)
          ORDER BY d.next_attempt_at, d.id
          LIMIT $7
       ), candidates AS (
         SELECT id, endpoint_id, next_attempt_at, row_number() OVER (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS rank FROM oldest
       ), chosen AS (
         SELECT c.id FROM candidates c LEFT JOIN busy b ON b.endpoint_id = c.endpoint_id
          WHERE c.rank <= $6 - coalesce(b.n, 0)
          ORDER BY c.next_attempt_at, c.id
          LIMIT $2
       ), leaders AS (
         -- Locked, re-checking state and lease on the locked row (a concurrent claimer may have
         -- leased it since this statement's snapshot).
         SELECT d.id, d.endpoint_id, d.payment_id, d.position FROM webhook_deliveries d
          WHERE d.id = ANY (ARRAY(SELECT id FROM chosen))
            AND d.state = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= $1)
          FOR UPDATE SKIP LOCKED
       ), queued AS (
         SELECT f.id, l.id AS lane, f.position, (f.next_attempt_at <= $1 AND (f.lease_until IS NULL OR f.lease_until <= $1)) AS sendable
           FROM leaders l
           CROSS JOIN LATERAL (
             SELECT f.id, f.position, f.next_attempt_at, f.lease_until FROM webhook_deliveries f
              WHERE l.payment_id IS NOT NULL AND f.endpoint_id = l.endpoint_id AND f.payment_id = l.payment_id
                AND f.state = 'pending' AND f.position > l.position
              ORDER BY f.endpoint_id, f.payment_id, f.position
              LIMIT $8
           ) f
       ), followers AS (
         SELECT id, lane FROM (
           SELECT id, lane, bool_and(sendable) OVER (PARTITION BY lane ORDER BY position) AS unbroken FROM queued
         ) q WHERE unbroken
       ), lanes AS (
         SELECT id, id AS lane FROM leaders
         UNION ALL
         SELECT id, lane FROM followers
       ), leased AS (
         UPDATE webhook_deliveries d SET lease_until = $3, fence = nextval('idempotency_fence_seq')
          WHERE d.id = ANY (ARRAY(SELECT id FROM lanes)) AND d.state = 'pending'
         RETURNING d.id, d.fence, d.attempts, d.endpoint_id, d.event_id, d.position
       )
       SELECT l.id, l.fence, l.attempts, lanes.lane, l.endpoint_id, w.url, w.secret, w.previous_secret, w.previous_secret_until,
              json_build_object('event_id', e.event_id, 'type', e.type, 'merchant_id', e.merchant_id, 'payment_id', e.payment_id,
                                'seq', e.seq, 'position', e.position, 'data', e.data, 'metadata', e.metadata, 'created_at', e.created_at) AS ev
         FROM leased l
         JOIN lanes ON lanes.id = l.id
         JOIN webhook_endpoints w ON w.id = l.endpoint_id
         JOIN payment_events e ON e.event_id = l.event_id
        ORDER BY lanes.lane, l.position`,
      // Candidates: twice what may be taken, from endpoints with room left. The scan behind them
      // passes every pending row older than the last one (followers and leased rows included),
      // so it is kept short: a claim's cost follows what it takes, not the backlog.
      [new Date(now), limit, new Date(now + leaseMs), [...busy.keys()], [...busy.values()], perEndpoint, Math.max(64, limit * 2), Math.max(0, laneSize - 1),
       [...busy].filter(([, n]) => n >= perEndpoint).map(([id]) => id)],
    );
    return rows.map((r) => {
      const ev = toStoredEvent({ ...r.ev, created_at: new Date(r.ev.created_at) });
      const secrets = [r.secret];
      if (r.previous_secret && r.previous_secret_until && r.previous_secret_until.getTime() > now) secrets.push(r.previous_secret);
      return {
        id: r.id,
        fence: r.fence,
        attempts: r.attempts,
        endpointId: r.endpoint_id,
        merchantId: ev.merchantId!,
        url: r.url,
        secrets,
        eventId: ev.id,
        paymentId: ev.paymentId,
        body: JSON.stringify(eventView(ev)),
        lane: r.lane,
      };
    });
  }

  async releaseDeliveries(leases: ReadonlyArray<{ id: number; fence: number }>): Promise<void> {
    if (leases.length === 0) return;
    await this.q.query(
      `UPDATE webhook_deliveries d SET lease_until = NULL
         FROM unnest($1::bigint[], $2::bigint[]) AS r (id, fence)
        WHERE d.id = r.id AND d.fence = r.fence AND d.state = 'pending'`,
      [leases.map((l) => l.id), leases.map((l) => l.fence)],
    );
  }

  async finishDelivery(id: number, fence: number, u: DeliveryUpdate, now: Date): Promise<boolean> {
    // A retried delivery's followers (same endpoint and payment, later events) wait with it:
    // they are not due before it is, so claims do not scan them meanwhile.
    const { rows } = await this.q.query<{ n: number }>(
      `WITH finished AS (
         UPDATE webhook_deliveries SET state = $3, attempts = attempts + 1, next_attempt_at = coalesce($4, next_attempt_at), lease_until = NULL,
                last_status = $5, last_error = $6, completed_at = CASE WHEN $3 = 'pending' THEN NULL ELSE $7::timestamptz END
          WHERE id = $1 AND fence = $2 AND state = 'pending' AND lease_until IS NOT NULL
         RETURNING endpoint_id, payment_id, position, state, next_attempt_at
       ), followers AS (
         UPDATE webhook_deliveries d SET next_attempt_at = f.next_attempt_at
           FROM finished f
          WHERE f.state = 'pending' AND d.endpoint_id = f.endpoint_id AND d.payment_id = f.payment_id
            AND d.state = 'pending' AND d.position > f.position AND d.next_attempt_at < f.next_attempt_at
       ), healthy AS (
         -- A success: the endpoint is not failing (most successes find nothing to change).
         UPDATE webhook_endpoints w SET failing_since = NULL
           FROM finished f
          WHERE f.state = 'succeeded' AND w.id = f.endpoint_id AND w.failing_since IS NOT NULL
       )
       SELECT count(*)::int AS n FROM finished`,
      [id, fence, u.state, u.nextAttemptAt, u.status, u.error, now],
    );
    return rows[0]!.n === 1;
  }

  async succeedDeliveries(leases: ReadonlyArray<{ id: number; fence: number; status: number }>, at: Date): Promise<number[]> {
    if (leases.length === 0) return [];
    const { rows } = await this.q.query<{ id: string | number }>(
      `WITH done AS (
         UPDATE webhook_deliveries d SET state = 'succeeded', attempts = d.attempts + 1, lease_until = NULL,
                last_status = r.status, last_error = NULL, completed_at = $4
           FROM unnest($1::bigint[], $2::bigint[], $3::int[]) AS r (id, fence, status)
          WHERE d.id = r.id AND d.fence = r.fence AND d.state = 'pending' AND d.lease_until IS NOT NULL
         RETURNING d.id, d.endpoint_id
       ), healthy AS (
         -- The endpoints are not failing (most lanes find nothing to change).
         UPDATE webhook_endpoints w SET failing_since = NULL
          WHERE w.id IN (SELECT endpoint_id FROM done) AND w.failing_since IS NOT NULL
       )
       SELECT id FROM done`,
      [leases.map((l) => l.id), leases.map((l) => l.fence), leases.map((l) => l.status), at],
    );
    return rows.map((r) => Number(r.id));
  }

  async noteEndpointResult(endpointId: string, ok: boolean, now: Date): Promise<Date | null> {
    if (ok) {
      // Most successes change nothing: then no row is written (or locked).
      await this.q.query(`UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`, [endpointId]);
      return null;
    }
    const { rows } = await this.q.query<{ failing_since: Date | null }>(
      `UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2) WHERE id = $1 RETURNING failing_since`,
      [endpointId, now],
    );
    return rows[0]?.failing_since ?? null;
  }

  async listDeliveries(merchantId: string, filter: { endpointId?: string; paymentId?: string }, limit: number): Promise<DeliveryRow[]> {
    const { rows } = await this.q.query<DeliverySqlRow>(
      `SELECT d.id, d.endpoint_id, d.event_id, e.type, d.payment_id, d.state, d.attempts, d.last_status, d.last_error, d.next_attempt_at, d.created_at, d.completed_at
         FROM webhook_deliveries d
         JOIN webhook_endpoints w ON w.id = d.endpoint_id
         JOIN payment_events e ON e.event_id = d.event_id
        WHERE w.merchant_id = $1 AND ($2::text IS NULL OR d.endpoint_id = $2) AND ($3::text IS NULL OR d.payment_id = $3)
        ORDER BY d.id DESC LIMIT $4`,
      [merchantId, filter.endpointId ?? null, filter.paymentId ?? null, limit],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      endpointId: r.endpoint_id,
      eventId: r.event_id,
      eventType: r.type,
      paymentId: r.payment_id,
      state: r.state,
      attempts: r.attempts,
      lastStatus: r.last_status,
      lastError: r.last_error,
      nextAttemptAt: new Date(r.next_attempt_at),
      createdAt: new Date(r.created_at),
      completedAt: r.completed_at === null ? null : new Date(r.completed_at),
    }));
  }

  async replayDeliveries(merchantId: string, endpointId: string, from: Date, to: Date, now: Date, limit: number): Promise<number> {
    const { rows } = await this.q.query<{ n: number }>(
      `WITH queued AS (
         INSERT INTO webhook_deliveries (endpoint_id, event_id, position, payment_id, next_attempt_at, created_at)
         SELECT w.id, e.event_id, e.position, e.payment_id, $5, $5
           FROM webhook_endpoints w
           JOIN payment_events e ON e.merchant_id = w.merchant_id AND e.position IS NOT NULL
                                AND (w.event_types IS NULL AND e.type NOT LIKE 'attempt.%' OR e.type = ANY (w.event_types))
          WHERE w.id = $1 AND w.merchant_id = $2 AND e.created_at >= $3 AND e.created_at < $4
          ORDER BY e.position
          LIMIT $6
         RETURNING 1
       )
       SELECT count(*)::int AS n FROM queued`,
      [endpointId, merchantId, from, to, now, limit],
    );
    return rows[0]!.n;
  }
}
