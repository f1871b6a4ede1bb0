import type { Queryable } from '../../db/database.js';
import type { BatchWrite } from '../../payments/store.js';
import type { NewPaymentEvent } from '../../events/model.js';
import { insertEventsWrite } from './events.js';
import { completeKeyWrite, guardKeyWrite } from './keys.js';
import { postEntryWrite } from './ledger.js';
import { insertAttemptWrite, recordAttemptWrite, updatePaymentWrite } from './payments.js';
import { Statement } from './statement.js';

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
 * no BEGIN, no COMMIT. The writes are the single operations' own fragments (./keys.ts,
 * ./payments.ts, ./ledger.ts, ./events.ts; ./statement.ts), folded together.
 */
export async function writeBatch(q: Queryable, writes: readonly BatchWrite[]): Promise<boolean> {
  const s = new Statement();
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
        if (!completed.has(`${w.merchantId}\u0000${w.key}`)) s.check(guardKeyWrite(s, w), 1);
        break;
      case 'completeKey':
        s.check(completeKeyWrite(s, w), 1);
        break;
      case 'recordAttempt':
        s.check(recordAttemptWrite(s, w.attempt, w.result, w.now), 1);
        break;
      case 'updatePayment':
        s.check(updatePaymentWrite(s, w.current, w.changes, w.now), 1);
        break;
      case 'postEntry':
        s.check(postEntryWrite(s, w.paymentId, w.currency, w.event, w.now), 1);
        break;
      case 'insertAttempt':
        s.check(insertAttemptWrite(s, w.attempt, w.runAfter), 1);
        break;
      case 'insertEvent':
        events.push(w.event);
        break;
    }
  }
  if (events.length > 0) s.check(insertEventsWrite(s, events), events.length);
  if (s.empty) return true;
  try {
    await s.all(q);
    return true;
  } catch (err) {
    if (REFUSED.has((err as { code?: string }).code ?? '')) return false;
    throw err;
  }
}
