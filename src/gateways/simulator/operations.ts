/**
 * What the simulated processor executed: its authorizations (captured, refunded, voided), its
 * answer per idempotency key and its transaction log, the truth reconciliation and the
 * gateway-log check (src/ledger/gatewayLog.ts) hold Idem to. Every execution appends exactly
 * one log entry and stores one answer under its key.
 *
 * Retention (docs/testing.md, "The simulated processor"): like a real processor's
 * idempotency-key retention, the book may keep only the last `retentionMs` of history. An
 * entry older than that leaves the log, its key's answer goes with it, and an authorization
 * nothing touched for that long is forgotten. Positions in the log are absolute (the n-th
 * entry ever logged is position n whatever was dropped before it), so a reader's cursor stays
 * valid while entries leave; a read that would start among dropped entries is refused
 * (`expired`), never answered from a later entry as if nothing were missing.
 *
 *   positions:   0 … dropped-1 │ dropped … dropped+held-1 │ next
 *                (gone)        │ (held, oldest first)     │ (the next entry's)
 */
import type { Random } from '../../ports/clock.js';
import { newId } from '../../ports/ids.js';
import type { GatewayLogEntry } from '../../ledger/gatewayLog.js';
import type { GatewayOperation } from '../port.js';
import type { OperationRequest } from './request.js';

/** What an executed operation ended as, in the processor's log. */
export const SIMULATOR_LOG_STATUSES = ['succeeded', 'declined'] as const;

export type SimulatorLogStatus = (typeof SIMULATOR_LOG_STATUSES)[number];

/**
 * One line of the processor's transaction log: the truth reconciliation checks against. The
 * fields every gateway log has are the ledger's `GatewayLogEntry`; the simulator adds these.
 */
export interface SimulatorLogEntry extends GatewayLogEntry {
  /** For authorize: the `auth_…` created (null when declined). Otherwise the one acted on. */
  authorization_id: string | null;
  status: SimulatorLogStatus;
  decline_code?: string;
  /** ISO 8601, from the injected clock. */
  created_at: string;
  /** The merchant the request named (Idem's `Idem-Merchant-Id`), when it named one. */
  merchant_id?: string;
}

/** The first answer to an operation: the processor keeps it per key and replays it. */
export interface OperationResult {
  status: number;
  body: Record<string, unknown>;
}

/** What the book keeps under an idempotency key: the request, to tell a re-send from a reuse, and its answer. */
export interface StoredOperation extends OperationResult {
  request: OperationRequest;
}

/** A log entry as a page lists it: a keyless one without its idempotency key. */
export type ListedLogEntry = SimulatorLogEntry | Omit<SimulatorLogEntry, 'idempotency_key'>;

/** One page of the log, or why it cannot be read from where it was asked. */
export type LogPage =
  | { ok: true; data: ListedLogEntry[]; next_cursor: string; has_more: boolean }
  | { ok: false; error: 'log_expired'; message: string };

/** The processor's book; see {@link createOperationBook}. */
export interface OperationBook {
  /**
   * Executes a valid request that is new under its key, logs it and stores its answer under
   * the key. `declineDraw` below `declineRate` declines an authorization whose token does not
   * decide by itself. A `keyless` entry is read from the log (`page`) without its key.
   */
  execute(req: OperationRequest, key: string, declineDraw: number, declineRate: number, now: number, keyless?: boolean): StoredOperation;
  /** The answer stored under `key`, while it is retained. */
  stored(key: string, now: number): StoredOperation | undefined;
  /**
   * One page of the log: from position `cursor` (an earlier page's `next_cursor`) when given,
   * else from the first entry created at or after `sinceMs`; at most `limit` entries. The
   * cursor is the position after the page's last entry, as a decimal string. A read that would
   * start among entries dropped for retention is refused with `log_expired`. Entries executed
   * `keyless` come without their idempotency key, as a settlement file would list them.
   */
  page(sinceMs: number, cursor: number | null, limit: number, now: number): LogPage;
  /** A copy of the retained log, every entry with its key: the truth the invariants read. */
  log(now: number): SimulatorLogEntry[];
  /** What the book holds now (entries, keys, authorizations) and has dropped, for tests and the soak bench. */
  size(now: number): { entries: number; keys: number; authorizations: number; dropped: number };
}

/** What {@link createOperationBook} needs. */
export interface OperationBookOptions {
  /** Ids (`txn_…`, `auth_…`) come from here. */
  random: Random;
  /** Hears of every log entry. */
  onExecuted: (operation: GatewayOperation) => void;
  /** How long history is kept (ms); `Infinity` (the default) keeps everything. */
  retentionMs?: number;
}

interface Authorization {
  id: string;
  amount: number;
  currency: string;
  captured: number;
  refunded: number;
  voided: boolean;
  /** Last time an operation touched it: it is forgotten `retentionMs` after. */
  touchedAtMs: number;
}

/**
 * One executed operation, as the book holds it. Every record is built by the one constructor
 * below with the same fields in the same order (an absent decline code is null, not a missing
 * property), so all records share one hidden class; the wire entry is made on read.
 */
class LogRecord {
  constructor(
    readonly id: string,
    readonly key: string,
    readonly request: OperationRequest,
    readonly amount: number,
    readonly authorizationId: string | null,
    readonly status: SimulatorLogStatus,
    readonly declineCode: string | null,
    /** The answer's HTTP status and, for a decline, its message. */
    readonly httpStatus: number,
    readonly message: string | null,
    /** Never below the previous record's, so the log stays in time order for binary search. */
    readonly createdAtMs: number,
    readonly createdAt: string,
    /** Its log entry leaves the key off when read as a page (see `SimulatorFaults.keylessRecordRate`). */
    readonly keyless: boolean,
  ) {}

  /** The entry as the log reads it (`page`): without its key when it is a keyless one. */
  listed(): ListedLogEntry {
    const e = this.entry();
    if (this.request.merchantId !== null) e.merchant_id = this.request.merchantId;
    if (!this.keyless) return e;
    const { idempotency_key: _key, ...rest } = e;
    return rest;
  }

  entry(): SimulatorLogEntry {
    const e: SimulatorLogEntry = {
      id: this.id,
      idempotency_key: this.key,
      operation: this.request.operation,
      amount: this.amount,
      currency: this.request.currency,
      reference: this.request.reference,
      authorization_id: this.authorizationId,
      status: this.status,
      created_at: this.createdAt,
    };
    if (this.declineCode !== null) e.decline_code = this.declineCode;
    return e;
  }

  stored(): StoredOperation {
    const body: Record<string, unknown> = { ...this.entry() };
    if (this.status === 'declined') {
      body.error = 'declined';
      body.message = this.message;
    }
    return { request: this.request, status: this.httpStatus, body };
  }
}

type Refusal = { status: number; code: string; message: string };

const DECLINE_TOKEN_PREFIX = 'tok_decline_';

/**
 * Creates an empty book.
 *
 * @example
 * const book = createOperationBook({ random: seededRandom(1), onExecuted: () => {}, retentionMs: 180_000 });
 */
export function createOperationBook(options: OperationBookOptions): OperationBook {
  const { random, onExecuted } = options;
  const retentionMs = options.retentionMs ?? Infinity;
  if (!(retentionMs > 0)) throw new RangeError(`retentionMs must be positive (got ${retentionMs})`);
  // Insertion order is last-touched order: touching an authorization moves it to the end.
  const authorizations = new Map<string, Authorization>();
  const byKey = new Map<string, LogRecord>();
  // records[head …] are held; positions are `dropped + (index - head)`.
  let records: LogRecord[] = [];
  let head = 0;
  let dropped = 0;
  let lastDroppedAtMs = -Infinity;
  let lastAtMs = -Infinity;

  /** Drops what is older than the retention at `now`: log entries with their keys, idle authorizations. */
  function forget(now: number): void {
    if (retentionMs === Infinity) return;
    const horizon = now - retentionMs;
    while (head < records.length && records[head]!.createdAtMs < horizon) {
      const r = records[head]!;
      if (byKey.get(r.key) === r) byKey.delete(r.key);
      lastDroppedAtMs = r.createdAtMs;
      records[head] = undefined as unknown as LogRecord;
      head++;
      dropped++;
    }
    // Compact once the dropped prefix is half the array: amortised O(1) per entry.
    if (head > 1024 && head * 2 > records.length) {
      records = records.slice(head);
      head = 0;
    }
    for (const [id, auth] of authorizations) {
      if (auth.touchedAtMs >= horizon) break;
      authorizations.delete(id);
    }
  }

  function touch(auth: Authorization, now: number): void {
    auth.touchedAtMs = now;
    authorizations.delete(auth.id);
    authorizations.set(auth.id, auth);
  }

  function append(req: OperationRequest, key: string, amount: number, authorizationId: string | null, refusal: Refusal | null, now: number, keyless: boolean): StoredOperation {
    const id = newId(random, 'txn');
    const at = Math.max(now, lastAtMs);
    lastAtMs = at;
    const record = new LogRecord(
      id,
      key,
      req,
      amount,
      authorizationId,
      refusal === null ? 'succeeded' : 'declined',
      refusal === null ? null : refusal.code,
      refusal === null ? 200 : refusal.status,
      refusal === null ? null : refusal.message,
      at,
      new Date(now).toISOString(),
      keyless,
    );
    records.push(record);
    byKey.set(key, record);
    onExecuted(req.operation);
    return record.stored();
  }

  /** Index into `records` of the first held record created at or after `sinceMs`. */
  function lowerBound(sinceMs: number): number {
    let lo = head;
    let hi = records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (records[mid]!.createdAtMs < sinceMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function execute(req: OperationRequest, key: string, declineDraw: number, declineRate: number, now: number, keyless = false): StoredOperation {
    forget(now);
    const decline = (refusal: Refusal, authorizationId: string | null) => append(req, key, req.amount, authorizationId, refusal, now, keyless);

    if (req.operation === 'authorize') {
      const token = req.token ?? '';
      if (token.startsWith(DECLINE_TOKEN_PREFIX)) {
        const code = token.slice(DECLINE_TOKEN_PREFIX.length) || 'card_declined';
        return decline({ status: 402, code, message: `declined: ${code}` }, null);
      }
      if (declineDraw < declineRate) {
        return decline({ status: 402, code: 'card_declined', message: 'declined by the issuer' }, null);
      }
      const auth: Authorization = {
        id: newId(random, 'auth'),
        amount: req.amount,
        currency: req.currency,
        captured: 0,
        refunded: 0,
        voided: false,
        touchedAtMs: now,
      };
      authorizations.set(auth.id, auth);
      return append(req, key, req.amount, auth.id, null, now, keyless);
    }

    const authId = req.authorizationId;
    const auth = authId === null ? undefined : authorizations.get(authId);
    if (auth === undefined) {
      return decline({ status: 422, code: 'unknown_authorization', message: `no authorization ${authId ?? '(none)'}` }, authId);
    }
    touch(auth, now);
    if (req.currency !== auth.currency) {
      return decline({ status: 422, code: 'currency_mismatch', message: `authorization is in ${auth.currency}` }, auth.id);
    }
    const invalidState = (message: string) => decline({ status: 409, code: 'invalid_state', message }, auth.id);
    const exceeds = (available: number) =>
      decline({ status: 422, code: 'amount_exceeds_available', message: `at most ${available} available` }, auth.id);
    const succeed = (amount: number) => append(req, key, amount, auth.id, null, now, keyless);

    switch (req.operation) {
      case 'capture': {
        if (auth.voided) return invalidState('authorization is voided');
        const available = auth.amount - auth.captured;
        if (req.amount > available) return exceeds(available);
        auth.captured += req.amount;
        return succeed(req.amount);
      }
      case 'void': {
        if (auth.voided) return invalidState('authorization is already voided');
        if (auth.captured > 0) return invalidState('authorization has captures');
        auth.voided = true;
        // The log records what the void released, whatever amount the request carried.
        return succeed(auth.amount);
      }
      case 'refund': {
        const available = auth.captured - auth.refunded;
        if (req.amount > available) return exceeds(available);
        auth.refunded += req.amount;
        return succeed(req.amount);
      }
    }
  }

  const held = () => records.length - head;

  return {
    execute,
    stored(key, now) {
      forget(now);
      return byKey.get(key)?.stored();
    },
    page(sinceMs, cursor, limit, now) {
      forget(now);
      const next = dropped + held();
      let start: number;
      if (cursor === null) {
        if (sinceMs <= lastDroppedAtMs) return expired(`entries created since ${isoOrEpoch(sinceMs)} were dropped after the retention of ${retentionMs} ms`);
        start = dropped + (lowerBound(sinceMs) - head);
      } else {
        if (cursor < dropped) return expired(`entries from position ${cursor} to ${dropped - 1} were dropped after the retention of ${retentionMs} ms`);
        start = Math.min(cursor, next);
      }
      const end = Math.min(next, start + Math.max(0, limit));
      const from = head + (start - dropped);
      const data = records.slice(from, from + (end - start)).map((r) => r.listed());
      return { ok: true, data, next_cursor: String(end), has_more: end < next };
    },
    log(now) {
      forget(now);
      return records.slice(head).map((r) => r.entry());
    },
    size(now) {
      forget(now);
      return { entries: held(), keys: byKey.size, authorizations: authorizations.size, dropped };
    },
  };
}

function expired(message: string): LogPage {
  return { ok: false, error: 'log_expired', message: `${message}; read again from a later time (since)` };
}

function isoOrEpoch(ms: number): string {
  return Number.isFinite(ms) ? new Date(Math.max(0, ms)).toISOString() : String(ms);
}
