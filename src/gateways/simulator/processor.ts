/**
 * The simulated payment processor, without any transport: the HTTP server and the in-process
 * connector both drive this one object, so they behave identically and replay from one seed.
 *
 * The processor executes an operation the moment it receives it; the answer then travels back
 * after `latencyMs` (applied by the transport with injected timers), or never (`answer: 'drop'`).
 * That is the order a real processor has, and it is what makes a client timeout ambiguous.
 *
 * Its parts, one concern each: `./request.ts` (what a request is, when it is valid, when two are
 * the same), `./faults.ts` (fault settings, latency, outages), `./operations.ts` (authorizations
 * and the transaction log), `./wire.ts` (the request and answer as transports carry them).
 */
import type { Clock, Random } from '../../ports/clock.js';
import { GATEWAY_OPERATIONS, type GatewayOperation } from '../port.js';
import { defaultSimulatorFaults, latencyOf, mergeFaults, outageRetryAfter, type SimulatorFaults } from './faults.js';
import { createOperationBook, type SimulatorLogEntry } from './operations.js';
import { invalidRequest, operationRequest, sameRequest, type SimulatorRequest } from './request.js';

export { defaultSimulatorFaults, type SimulatorDegradedWindow, type SimulatorFaults, type SimulatorWindow } from './faults.js';
export { SIMULATOR_LOG_STATUSES, type SimulatorLogEntry, type SimulatorLogStatus } from './operations.js';
export type { SimulatorRequest } from './request.js';

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
  /**
   * Log entries created at or after `sinceMs`, as `{ data: [...], next_cursor, has_more }`; or,
   * given `cursor` (an earlier answer's `next_cursor`), the entries after it; at most `limit`.
   * `410 { error: 'log_expired' }` when the read would start among entries dropped for retention.
   */
  transactions(sinceMs: number, cursor?: number | null, limit?: number): SimulatorAnswer;
  /** A copy of the retained transaction log (all of it without a retention), bypassing faults (for tests and verification). */
  log(): SimulatorLogEntry[];
  /** What the processor holds now and has dropped for retention (see {@link ProcessorOptions.retentionMs}). */
  held(): { entries: number; keys: number; authorizations: number; dropped: number };
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
  /**
   * Where the choice of the entries the log lists without their key (`keylessRecordRate`) is
   * drawn from, one draw per executed operation, so that choice never moves a fault's draw or
   * an id (the deterministic simulator gives each processor its own seeded stream). Absent: the
   * fault source, only while the rate is positive.
   */
  listingRandom?: Random;
  /**
   * How long the processor keeps its history (ms): log entries, the answer per idempotency
   * key, and authorizations nothing touched for that long. Like a real processor's key
   * retention, a key asked about after it answers 404 and may execute again, and an
   * authorization forgotten declines `unknown_authorization`. A log read that would start
   * among dropped entries answers 410 `log_expired`. Default `Infinity`: everything is kept
   * (tests, the deterministic simulation, `idem gateway-sim`, whose whole log
   * `idem ledger verify` reads).
   */
  retentionMs?: number;
}

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
    byOperation: Object.fromEntries(GATEWAY_OPERATIONS.map((op) => [op, { received: 0, executed: 0, replayed: 0 }])) as SimulatorStats['byOperation'],
  };
  const book = createOperationBook({
    random,
    onExecuted: (operation) => {
      stats.executed++;
      stats.byOperation[operation].executed++;
    },
    ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
  });

  const latency = (u: number, now: number) => latencyOf(faults, u, now);
  // One draw per executed operation from the listing source, whatever the rate; from the fault
  // source only while the rate is positive (a processor given no listing source of its own).
  const listedKeyless = (): boolean => {
    if (options.listingRandom) return options.listingRandom.float() < faults.keylessRecordRate;
    return faults.keylessRecordRate > 0 && random.float() < faults.keylessRecordRate;
  };

  /** The 503 an outage gives, or undefined when the processor is up. */
  function outageAnswer(now: number, latencyMs: number): SimulatorAnswer | undefined {
    const retryAfter = outageRetryAfter(faults, now);
    return retryAfter === undefined ? undefined : unavailable(retryAfter, latencyMs, 'outage');
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

      const req = operationRequest(request);
      const key = request.idempotencyKey;
      let stored = book.stored(key, now);
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
        stored = book.execute(req, key, uDecline, faults.declineRate, now, listedKeyless());
      }

      if (uTimeout < faults.timeoutAfterProcessingRate) {
        stats.dropped++;
        return { status: stored.status, body: stored.body, latencyMs, answer: 'drop' };
      }
      if (uAmbiguous < faults.ambiguousErrorRate) {
        stats.ambiguous++;
        return { status: 500, body: { error: 'internal' }, latencyMs, answer: 'send' };
      }
      return {
        status: stored.status,
        body: stored.body,
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
      const stored = book.stored(key, now);
      if (stored === undefined) return { status: 404, body: { error: 'not_found' }, latencyMs, answer: 'send' };
      return { status: stored.status, body: stored.body, latencyMs, answer: 'send' };
    },

    transactions(sinceMs, cursor = null, limit = Number.MAX_SAFE_INTEGER) {
      const now = clock.now();
      const latencyMs = latency(random.float(), now);
      const down = outageAnswer(now, latencyMs);
      if (down) return down;
      const page = book.page(sinceMs, cursor, limit, now);
      if (!page.ok) return { status: 410, body: { error: page.error, message: page.message }, latencyMs, answer: 'send' };
      const { ok: _ok, ...body } = page;
      return { status: 200, body, latencyMs, answer: 'send' };
    },

    log: () => book.log(clock.now()),

    held: () => book.size(clock.now()),

    stats: () => structuredClone(stats),

    faults: () => structuredClone(faults),

    setFaults(partial) {
      faults = mergeFaults(faults, partial);
      return structuredClone(faults);
    },
  };
}
