import type { Queryable } from '../../db/database.js';
import { eventName } from '../../ledger/ledger.js';
import type { BatchWrite } from '../../payments/store.js';
import type { NewPaymentEvent } from '../../events/model.js';
import { eventsJson, insertEventsSql } from './events.js';
import { balancedPostings } from './ledger.js';

/**
 * A check failed inside a batch statement: `idem_expect` (migrations/000009.sql) raised, and
 * the statement wrote nothing. So did a unique key taken meanwhile, or a deadlock.
 */
const REFUSED = new Set(['IDM01', '23505', '40P01']);

/**
 * `Store.writeBatch` as one statement (src/payments/batch.ts): each write a data-modifying CTE
 * that checks its own rows (the key's fence and state, the payment's version, the attempt
 * still open), and a last SELECT that makes `idem_expect` raise unless each wrote what it
 * must. A statement that raises writes nothing, so all of it lands or none: one round trip,
 * no BEGIN, no COMMIT. The writes are the single operations' statements (./keys.ts,
 * ./payments.ts, ./ledger.ts, ./events.ts) folded together.
 */
export async function writeBatch(q: Queryable, writes: readonly BatchWrite[]): Promise<boolean> {
  const s = new BatchStatement();
  // A key completed in the batch is fenced by its completion; guarding it too would update
  // its row twice in one statement, which PostgreSQL does not order.
  const completed = new Set(writes.filter((w) => w.op === 'completeKey').map((w) => `${w.merchantId}\u0000${w.key}`));
  const events: NewPaymentEvent[] = [];
  // The key's row first, as a transaction's guard takes it: its lock comes before the
  // payment's, in the order a takeover's transaction takes them, so the two can't deadlock.
  const keyFirst = [...writes.filter((w) => w.op === 'guardKey' || w.op === 'completeKey'), ...writes.filter((w) => w.op !== 'guardKey' && w.op !== 'completeKey')];
  for (const w of keyFirst) {
    switch (w.op) {
      case 'guardKey':
        if (completed.has(`${w.merchantId}\u0000${w.key}`)) break;
        s.expectOne(
          `UPDATE idempotency_keys SET lease_until = ${s.p(new Date(w.now + w.leaseMs))}
            WHERE merchant_id = ${s.p(w.merchantId)} AND key = ${s.p(w.key)} AND fence = ${s.p(w.fence)} AND state = 'in_progress'
           RETURNING 1`,
        );
        break;
      case 'completeKey':
        s.expectOne(
          `UPDATE idempotency_keys
              SET state = 'completed', response_status = ${s.p(w.response.status)}, response_type = ${s.p(w.response.contentType)},
                  response_body = ${s.p(w.response.body)}, completed_at = ${s.p(new Date(w.now))}, expires_at = ${s.p(new Date(w.now + w.ttlMs))},
                  lease_until = NULL
            WHERE merchant_id = ${s.p(w.merchantId)} AND key = ${s.p(w.key)} AND fence = ${s.p(w.fence)} AND state = 'in_progress'
           RETURNING 1`,
        );
        break;
      case 'recordAttempt': {
        const final = w.result.status !== 'unknown';
        const recorded = s.expectOne(
          `UPDATE payment_attempts SET status = ${s.p(w.result.status)}, gateway_reference = ${s.p(w.result.gatewayReference ?? null)},
                  decline_code = ${s.p(w.result.declineCode ?? null)}, error = ${s.p(w.result.error ?? null)}, completed_at = ${s.p(final ? w.now : null)}::timestamptz
            WHERE id = ${s.p(w.attempt.id)} AND status IN ('pending', 'unknown')
           RETURNING id`,
        );
        const at = s.p(w.now);
        s.also(
          `UPDATE outbox SET ${final ? `state = 'done', done_at = ${at}` : `tries = tries + 1, run_after = ${at}`}
            WHERE attempt_id IN (SELECT id FROM ${recorded}) AND state = 'pending'
           RETURNING 1`,
        );
        break;
      }
      case 'updatePayment': {
        const cols = Object.keys(w.changes) as Array<keyof typeof w.changes>;
        const sets = cols.map((c) => `${c} = ${s.p(w.changes[c])}`);
        s.expectOne(
          `UPDATE payments SET ${[...sets, 'version = version + 1', `updated_at = ${s.p(w.now)}`].join(', ')}
            WHERE id = ${s.p(w.current.id)} AND version = ${s.p(w.current.version)}
           RETURNING 1`,
        );
        break;
      }
      case 'postEntry': {
        const postings = balancedPostings(w.paymentId, w.event);
        const entry = s.expectOne(
          `INSERT INTO ledger_entries (payment_id, event, currency, created_at)
           VALUES (${s.p(w.paymentId)}, ${s.p(eventName(w.event))}, ${s.p(w.currency)}, ${s.p(w.now)}) RETURNING id`,
        );
        s.also(
          `INSERT INTO ledger_postings (entry_id, account, amount)
           SELECT e.id, p.account, p.amount FROM ${entry} e, unnest(${s.p(postings.map((p) => p.account))}::text[], ${s.p(postings.map((p) => p.amount))}::bigint[]) AS p (account, amount)
           RETURNING 1`,
        );
        break;
      }
      case 'insertAttempt': {
        const a = w.attempt;
        const attempt = s.expectOne(
          `INSERT INTO payment_attempts (id, payment_id, operation, attempt_no, gateway, gateway_key, amount, status, idempotency_key, created_at)
           VALUES (${[a.id, a.payment_id, a.operation, a.attempt_no, a.gateway, a.gateway_key, a.amount].map((v) => s.p(v)).join(', ')}, 'pending', ${s.p(a.idempotency_key)}, ${s.p(a.created_at)})
           RETURNING id, payment_id, created_at`,
        );
        s.also(
          `INSERT INTO outbox (payment_id, attempt_id, kind, run_after, created_at)
           SELECT payment_id, id, 'gateway_call', ${s.p(w.runAfter)}, created_at FROM ${attempt}
           RETURNING 1`,
        );
        break;
      }
      case 'insertEvent':
        events.push(w.event);
        break;
    }
  }
  if (events.length > 0) s.expect(events.length, `${insertEventsSql(s.p(eventsJson(events)))} RETURNING 1`);
  if (s.empty) return true;
  try {
    await q.query(s.sql(), s.params);
    return true;
  } catch (err) {
    if (REFUSED.has((err as { code?: string }).code ?? '')) return false;
    throw err;
  }
}

/** Data-modifying CTEs with numbered parameters, and how many rows each must return. */
class BatchStatement {
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

  /** A write that must touch exactly one row; returns its CTE's name. */
  expectOne(sql: string): string {
    return this.expect(1, sql);
  }

  expect(rows: number, sql: string): string {
    const name = this.also(sql);
    this.checks.push({ name, rows });
    return name;
  }

  /** A write whose rows follow from another's (run, but not counted). */
  also(sql: string): string {
    const name = `w${this.ctes.length + 1}`;
    this.ctes.push(`${name} AS (${sql})`);
    return name;
  }

  sql(): string {
    const ok = this.checks.map((c) => `(SELECT count(*) FROM ${c.name}) = ${c.rows}`).join(' AND ');
    return `WITH ${this.ctes.join(',\n')}\nSELECT idem_expect(${ok || 'true'}) AS ok`;
  }
}
