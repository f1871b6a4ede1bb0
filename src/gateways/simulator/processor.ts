/**
 * The simulated payment processor, without any transport: the HTTP server and the in-process
 * connector both drive this one object, so they behave identically and replay from one seed.
 *
 * The processor executes an operation the moment it receives it; the answer then travels back
 * after `latencyMs` (applied by the transport with injected timers), or never (`answer: 'drop'`).
 * That is the order a real processor has, and it is what makes a client timeout ambiguous.
 */
import type { Clock, Random } from '../../ports/clock.js';
import { newId } from '../../ports/ids.js';
import { GATEWAY_OPERATIONS, type GatewayOperation } from '../port.js';

/** One operation request, as the processor sees it once the transport has parsed it. */
export interface SimulatorRequest {
  operation: GatewayOperation;
  /** The processor's own idempotency key (Idem's gateway key). */
  idempotencyKey: string;
  /** Minor units (cents). For `void` the amount is part of the request's identity only. */
  amount: number;
  /** ISO 4217, upper case, e.g. `EUR`. */
  currency: string;
  /** The caller's reference (Idem's payment id). */
  reference: string;
  /** Required for capture / void / refund. */
  authorizationId?: string | null;
  /** Card token for authorize; `tok_decline_<code>` always declines with `<code>`. */
  token?: string | null;
}

/** What an executed operation ended as, in the processor's log. */
export const SIMULATOR_LOG_STATUSES = ['succeeded', 'declined'] as const;

export type SimulatorLogStatus = (typeof SIMULATOR_LOG_STATUSES)[number];

/** One line of the processor's transaction log: the truth reconciliation checks against. */
export interface SimulatorLogEntry {
  /** `txn_…`, the processor's id for this operation. */
  id: string;
  idempotency_key: string;
  operation: GatewayOperation;
  amount: number;
  currency: string;
  reference: string;
  /** For authorize: the `auth_…` created (null when declined). Otherwise the one acted on. */
  authorization_id: string | null;
  status: SimulatorLogStatus;
  decline_code?: string;
  /** ISO 8601, from the injected clock. */
  created_at: string;
}

/**
 * An answer ready for a transport. `answer: 'drop'` means the operation ran but the answer is
 * lost: the HTTP server never replies, the in-process connector times out.
 */
export interface SimulatorAnswer {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
  /** How long the transport waits (injected timers) before delivering the answer. */
  latencyMs: number;
  answer: 'send' | 'drop';
}

/** A time window, ISO 8601 bounds, start inclusive, end exclusive. */
export interface SimulatorWindow {
  start: string;
  end: string;
}

/** A window during which every answer takes `latencyMs` longer. */
export interface SimulatorDegradedWindow extends SimulatorWindow {
  latencyMs: number;
}

/**
 * Faults the processor injects. Every probabilistic fault draws from the seeded random source:
 * each operation request consumes exactly five floats (latency, error before processing,
 * timeout after processing, ambiguous error, decline) whatever the settings, so changing one
 * rate does not shift the draws of the others.
 */
export interface SimulatorFaults {
  /** Uniform latency per answer, whole milliseconds in [minMs, maxMs]. */
  latency: { minMs: number; maxMs: number };
  /** Share of authorizations (without a `tok_decline_` token) declined with `card_declined`. */
  declineRate: number;
  /** Share answered 503 `{ processed: false }` with nothing executed and nothing logged. */
  errorBeforeProcessingRate: number;
  /** Share executed and logged whose answer is then lost. */
  timeoutAfterProcessingRate: number;
  /** Share executed and logged, answered 500. */
  ambiguousErrorRate: number;
  /** Scheduled outages: every request (status and log queries too) gets 503 `processed:false`. */
  outages: SimulatorWindow[];
  /** Scheduled degraded periods adding latency. Overlapping windows add up. */
  degraded: SimulatorDegradedWindow[];
  /** Immediate outage switch. */
  outage: boolean;
  /** `Retry-After` (seconds) on 503s outside a scheduled outage. */
  retryAfterSeconds: number;
}

/** Counters for tests, benchmarks and the demo summary. */
export interface SimulatorStats {
  /** Operation requests received (status and log queries not included). */
  received: number;
  /** Operations executed (each appended one log entry). */
  executed: number;
  /** Requests answered from a stored answer without executing. */
  replayed: number;
  /** 503 answers: errors before processing and outages. */
  unavailable: number;
  /** Answers lost after executing. */
  dropped: number;
  /** 500 answers after executing. */
  ambiguous: number;
  /** Same key, different request. */
  keyReused: number;
  /** Malformed requests refused with 400. */
  invalid: number;
  /** `status(key)` queries received. */
  statusQueries: number;
  byOperation: Record<GatewayOperation, { received: number; executed: number; replayed: number }>;
}

/** The simulated processor. See {@link createProcessor}. */
export interface Processor {
  /** Receives one operation request. */
  handle(request: SimulatorRequest): SimulatorAnswer;
  /** The stored answer for a gateway key: 200/402/409/422 as first answered, or 404. */
  status(idempotencyKey: string): SimulatorAnswer;
  /** Log entries created at or after `sinceMs`, as `{ data: [...] }`. */
  transactions(sinceMs: number): SimulatorAnswer;
  /** A copy of the whole transaction log, bypassing faults (for tests and verification). */
  log(): SimulatorLogEntry[];
  stats(): SimulatorStats;
  faults(): SimulatorFaults;
  /** Merges `partial` into the current faults; throws `RangeError` on an invalid setting. */
  setFaults(partial: Partial<SimulatorFaults>): SimulatorFaults;
}

/** What {@link createProcessor} needs. */
export interface ProcessorOptions {
  clock: Clock;
  /** Use `seededRandom(seed)` for reproducible faults and ids. */
  random: Random;
  faults?: Partial<SimulatorFaults>;
}

/** The faults of a processor created without any: no latency, no failures. */
export function defaultSimulatorFaults(): SimulatorFaults {
  return {
    latency: { minMs: 0, maxMs: 0 },
    declineRate: 0,
    errorBeforeProcessingRate: 0,
    timeoutAfterProcessingRate: 0,
    ambiguousErrorRate: 0,
    outages: [],
    degraded: [],
    outage: false,
    retryAfterSeconds: 1,
  };
}

interface Authorization {
  id: string;
  amount: number;
  currency: string;
  captured: number;
  refunded: number;
  voided: boolean;
}

interface StoredOperation {
  request: Required<Pick<SimulatorRequest, 'operation' | 'amount' | 'currency' | 'reference'>> & {
    authorizationId: string | null;
    token: string | null;
  };
  status: number;
  body: Record<string, unknown>;
}

type Refusal = { status: number; code: string; message: string };

const DECLINE_TOKEN_PREFIX = 'tok_decline_';
const CURRENCY = /^[A-Z]{3}$/;

/**
 * Creates a simulated processor.
 *
 * @example
 * const processor = createProcessor({ clock: systemClock, random: seededRandom(1) });
 * processor.handle({ operation: 'authorize', idempotencyKey: 'pay_1.authorize.1', amount: 1000,
 *   currency: 'EUR', reference: 'pay_1', token: 'tok_visa' }); // → { status: 200, body: { id: 'txn_…', authorization_id: 'auth_…', … } }
 */
export function createProcessor(options: ProcessorOptions): Processor {
  const { clock, random } = options;
  let faults = mergeFaults(defaultSimulatorFaults(), options.faults ?? {});
  const operations = new Map<string, StoredOperation>();
  const authorizations = new Map<string, Authorization>();
  const entries: (SimulatorLogEntry & { createdAtMs: number })[] = [];
  const stats: SimulatorStats = {
    received: 0,
    executed: 0,
    replayed: 0,
    unavailable: 0,
    dropped: 0,
    ambiguous: 0,
    keyReused: 0,
    invalid: 0,
    statusQueries: 0,
    byOperation: {
      authorize: { received: 0, executed: 0, replayed: 0 },
      capture: { received: 0, executed: 0, replayed: 0 },
      void: { received: 0, executed: 0, replayed: 0 },
      refund: { received: 0, executed: 0, replayed: 0 },
    },
  };

  function latency(u: number, now: number): number {
    const { minMs, maxMs } = faults.latency;
    let ms = minMs + Math.floor(u * (maxMs - minMs + 1));
    for (const w of faults.degraded) if (inWindow(w, now)) ms += w.latencyMs;
    return ms;
  }

  /** The 503 an outage gives, or undefined when the processor is up. */
  function outageAnswer(now: number, latencyMs: number): SimulatorAnswer | undefined {
    if (faults.outage) return unavailable(faults.retryAfterSeconds, latencyMs, 'outage');
    for (const w of faults.outages) {
      if (inWindow(w, now)) {
        const untilEnd = Math.ceil((Date.parse(w.end) - now) / 1000);
        return unavailable(Math.max(1, untilEnd), latencyMs, 'outage');
      }
    }
    return undefined;
  }

  function unavailable(retryAfterSeconds: number, latencyMs: number, reason: string): SimulatorAnswer {
    stats.unavailable++;
    return {
      status: 503,
      body: { error: 'unavailable', processed: false, reason },
      headers: { 'retry-after': String(retryAfterSeconds) },
      latencyMs,
      answer: 'send',
    };
  }

  function append(entry: Omit<SimulatorLogEntry, 'id' | 'created_at'>, now: number): SimulatorLogEntry {
    const full: SimulatorLogEntry = { id: newId(random, 'txn'), ...entry, created_at: new Date(now).toISOString() };
    if (full.decline_code === undefined) delete full.decline_code;
    entries.push({ ...full, createdAtMs: now });
    stats.executed++;
    stats.byOperation[entry.operation].executed++;
    return full;
  }

  function execute(req: StoredOperation['request'], key: string, declineDraw: number, now: number): { status: number; body: Record<string, unknown> } {
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
      if (declineDraw < faults.declineRate) {
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
    handle(request) {
      const now = clock.now();
      // Five draws per request, always, in this order: see SimulatorFaults.
      const uLatency = random.float();
      const uBefore = random.float();
      const uTimeout = random.float();
      const uAmbiguous = random.float();
      const uDecline = random.float();
      const latencyMs = latency(uLatency, now);

      stats.received++;
      const problem = invalidRequest(request);
      if (problem !== undefined) {
        stats.invalid++;
        return { status: 400, body: { error: 'invalid_request', message: problem }, latencyMs, answer: 'send' };
      }
      stats.byOperation[request.operation].received++;

      const down = outageAnswer(now, latencyMs);
      if (down) return down;
      if (uBefore < faults.errorBeforeProcessingRate) {
        return unavailable(faults.retryAfterSeconds, latencyMs, 'error_before_processing');
      }

      const req: StoredOperation['request'] = {
        operation: request.operation,
        amount: request.amount,
        currency: request.currency,
        reference: request.reference,
        authorizationId: request.authorizationId ?? null,
        token: request.token ?? null,
      };
      const key = request.idempotencyKey;
      let stored = operations.get(key);
      const replayed = stored !== undefined;
      if (stored !== undefined) {
        if (!sameRequest(stored.request, req)) {
          stats.keyReused++;
          return {
            status: 422,
            body: {
              error: 'idempotency_key_reused',
              decline_code: 'idempotency_key_reused',
              message: `key ${key} was used for a different ${stored.request.operation} request`,
            },
            latencyMs,
            answer: 'send',
          };
        }
        stats.replayed++;
        stats.byOperation[request.operation].replayed++;
      } else {
        stored = { request: req, ...execute(req, key, uDecline, now) };
        operations.set(key, stored);
      }

      if (uTimeout < faults.timeoutAfterProcessingRate) {
        stats.dropped++;
        return { status: stored.status, body: structuredClone(stored.body), latencyMs, answer: 'drop' };
      }
      if (uAmbiguous < faults.ambiguousErrorRate) {
        stats.ambiguous++;
        return { status: 500, body: { error: 'internal' }, latencyMs, answer: 'send' };
      }
      return {
        status: stored.status,
        body: structuredClone(stored.body),
        ...(replayed ? { headers: { 'idempotent-replayed': 'true' } } : {}),
        latencyMs,
        answer: 'send',
      };
    },

    status(key) {
      const now = clock.now();
      const latencyMs = latency(random.float(), now);
      stats.statusQueries++;
      const down = outageAnswer(now, latencyMs);
      if (down) return down;
      const stored = operations.get(key);
      if (stored === undefined) return { status: 404, body: { error: 'not_found' }, latencyMs, answer: 'send' };
      return { status: stored.status, body: structuredClone(stored.body), latencyMs, answer: 'send' };
    },

    transactions(sinceMs) {
      const now = clock.now();
      const latencyMs = latency(random.float(), now);
      const down = outageAnswer(now, latencyMs);
      if (down) return down;
      const data = entries.filter((e) => e.createdAtMs >= sinceMs).map(stripInternal);
      return { status: 200, body: { data }, latencyMs, answer: 'send' };
    },

    log: () => entries.map(stripInternal),

    stats: () => structuredClone(stats),

    faults: () => structuredClone(faults),

    setFaults(partial) {
      faults = mergeFaults(faults, partial);
      return structuredClone(faults);
    },
  };
}

function stripInternal(e: SimulatorLogEntry & { createdAtMs: number }): SimulatorLogEntry {
  const { createdAtMs: _ignored, ...entry } = e;
  return entry;
}

function inWindow(w: SimulatorWindow, now: number): boolean {
  return Date.parse(w.start) <= now && now < Date.parse(w.end);
}

function sameRequest(a: StoredOperation['request'], b: StoredOperation['request']): boolean {
  return (
    a.operation === b.operation &&
    a.amount === b.amount &&
    a.currency === b.currency &&
    a.reference === b.reference &&
    a.authorizationId === b.authorizationId &&
    a.token === b.token
  );
}

function invalidRequest(r: SimulatorRequest): string | undefined {
  if (!(GATEWAY_OPERATIONS as readonly string[]).includes(r.operation)) return `unknown operation ${String(r.operation)}`;
  if (typeof r.idempotencyKey !== 'string' || r.idempotencyKey.length === 0) return 'Idempotency-Key is required';
  const minimum = r.operation === 'void' ? 0 : 1;
  if (!Number.isSafeInteger(r.amount) || r.amount < minimum) return `amount must be an integer >= ${minimum}`;
  if (typeof r.currency !== 'string' || !CURRENCY.test(r.currency)) return 'currency must be ISO 4217 upper case';
  if (typeof r.reference !== 'string' || r.reference.length === 0) return 'reference is required';
  if (r.operation !== 'authorize' && (typeof r.authorizationId !== 'string' || r.authorizationId.length === 0)) {
    return `authorization_id is required for ${r.operation}`;
  }
  if (r.operation === 'authorize' && (typeof r.token !== 'string' || r.token.length === 0)) return 'token is required for authorize';
  return undefined;
}

function mergeFaults(current: SimulatorFaults, partial: Partial<SimulatorFaults>): SimulatorFaults {
  const next: SimulatorFaults = {
    ...current,
    ...stripUndefined(partial),
    latency: { ...current.latency, ...(partial.latency ?? {}) },
  };
  const rates = ['declineRate', 'errorBeforeProcessingRate', 'timeoutAfterProcessingRate', 'ambiguousErrorRate'] as const;
  for (const name of rates) {
    const v = next[name];
    if (!(typeof v === 'number' && v >= 0 && v <= 1)) throw new RangeError(`${name} must be a number in [0, 1], got ${String(v)}`);
  }
  const { minMs, maxMs } = next.latency;
  if (!(Number.isInteger(minMs) && Number.isInteger(maxMs) && minMs >= 0 && maxMs >= minMs)) {
    throw new RangeError(`latency must be whole milliseconds with 0 <= minMs <= maxMs, got ${minMs}..${maxMs}`);
  }
  if (!(Number.isFinite(next.retryAfterSeconds) && next.retryAfterSeconds >= 0)) {
    throw new RangeError('retryAfterSeconds must be a non-negative number');
  }
  if (typeof next.outage !== 'boolean') throw new RangeError('outage must be a boolean');
  for (const w of [...next.outages, ...next.degraded]) {
    const start = Date.parse(w.start);
    const end = Date.parse(w.end);
    if (!(Number.isFinite(start) && Number.isFinite(end) && start < end)) {
      throw new RangeError(`window ${w.start}..${w.end} must have ISO bounds with start < end`);
    }
  }
  for (const w of next.degraded) {
    if (!(Number.isInteger(w.latencyMs) && w.latencyMs >= 0)) throw new RangeError('degraded latencyMs must be whole milliseconds >= 0');
  }
  return structuredClone(next);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
