/**
 * What the simulated processor executed: its authorizations (captured, refunded, voided) and
 * its transaction log, the truth reconciliation and the gateway-log check (src/ledger/
 * gatewayLog.ts) hold Idem to. Every execution appends exactly one log entry.
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
}

/** The first answer to an operation: the processor keeps it per key and replays it. */
export interface OperationResult {
  status: number;
  body: Record<string, unknown>;
}

/** The processor's book; see {@link createOperationBook}. */
export interface OperationBook {
  /**
   * Executes a valid request that is new under its key and logs it. `declineDraw` below
   * `declineRate` declines an authorization whose token does not decide by itself.
   */
  execute(req: OperationRequest, key: string, declineDraw: number, declineRate: number, now: number): OperationResult;
  /** Log entries created at or after `sinceMs`. */
  since(sinceMs: number): SimulatorLogEntry[];
  /**
   * One page of the log: from position `cursor` (an earlier page's `next_cursor`) when given,
   * else from the first entry created at or after `sinceMs`; at most `limit` entries. The
   * cursor is the position after the page's last entry, as a decimal string.
   */
  page(sinceMs: number, cursor: number | null, limit: number): { data: SimulatorLogEntry[]; next_cursor: string; has_more: boolean };
  /** A copy of the whole log. */
  log(): SimulatorLogEntry[];
}

interface Authorization {
  id: string;
  amount: number;
  currency: string;
  captured: number;
  refunded: number;
  voided: boolean;
}

type Refusal = { status: number; code: string; message: string };

const DECLINE_TOKEN_PREFIX = 'tok_decline_';

/** Creates an empty book; ids come from `random`, and `onExecuted` hears of every log entry. */
export function createOperationBook(random: Random, onExecuted: (operation: GatewayOperation) => void): OperationBook {
  const authorizations = new Map<string, Authorization>();
  const entries: (SimulatorLogEntry & { createdAtMs: number })[] = [];

  function append(entry: Omit<SimulatorLogEntry, 'id' | 'created_at'>, now: number): SimulatorLogEntry {
    const full: SimulatorLogEntry = { id: newId(random, 'txn'), ...entry, created_at: new Date(now).toISOString() };
    if (full.decline_code === undefined) delete full.decline_code;
    entries.push({ ...full, createdAtMs: now });
    onExecuted(entry.operation);
    return full;
  }

  function execute(req: OperationRequest, key: string, declineDraw: number, declineRate: number, now: number): OperationResult {
    const base = {
      idempotency_key: key,
      operation: req.operation,
      amount: req.amount,
      currency: req.currency,
      reference: req.reference,
    };
    const decline = (refusal: Refusal, authorizationId: string | null) => {
      const entry = append({ ...base, authorization_id: authorizationId, status: 'declined', decline_code: refusal.code }, now);
      return { status: refusal.status, body: { ...entry, error: 'declined', message: refusal.message } };
    };

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
      };
      authorizations.set(auth.id, auth);
      return { status: 200, body: { ...append({ ...base, authorization_id: auth.id, status: 'succeeded' }, now) } };
    }

    const authId = req.authorizationId;
    const auth = authId === null ? undefined : authorizations.get(authId);
    if (auth === undefined) {
      return decline({ status: 422, code: 'unknown_authorization', message: `no authorization ${authId ?? '(none)'}` }, authId);
    }
    if (req.currency !== auth.currency) {
      return decline({ status: 422, code: 'currency_mismatch', message: `authorization is in ${auth.currency}` }, auth.id);
    }
    const invalidState = (message: string) => decline({ status: 409, code: 'invalid_state', message }, auth.id);
    const exceeds = (available: number) =>
      decline({ status: 422, code: 'amount_exceeds_available', message: `at most ${available} available` }, auth.id);
    const succeed = (amount: number) => ({
      status: 200,
      body: { ...append({ ...base, amount, authorization_id: auth.id, status: 'succeeded' }, now) },
    });

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

  return {
    execute,
    since: (sinceMs) => entries.filter((e) => e.createdAtMs >= sinceMs).map(stripInternal),
    page(sinceMs, cursor, limit) {
      let start = cursor ?? entries.findIndex((e) => e.createdAtMs >= sinceMs);
      if (start < 0) start = entries.length;
      start = Math.min(start, entries.length);
      const end = Math.min(entries.length, start + Math.max(0, limit));
      return { data: entries.slice(start, end).map(stripInternal), next_cursor: String(end), has_more: end < entries.length };
    },
    log: () => entries.map(stripInternal),
  };
}

function stripInternal(e: SimulatorLogEntry & { createdAtMs: number }): SimulatorLogEntry {
  const { createdAtMs: _ignored, ...entry } = e;
  return entry;
}
