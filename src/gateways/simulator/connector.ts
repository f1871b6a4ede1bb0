/**
 * An in-process GatewayConnector over the simulated processor: no sockets, so a deterministic
 * simulation can run thousands of payments under simulated time, while the answer still goes
 * through the same transformer as the HTTP connector, and the request and answer through the
 * same mapping as the simulator's HTTP server (`./wire.ts`).
 */
import { type Timers, sleep } from '../../ports/clock.js';
import { toTransactionLogPage } from '../http/transactions.js';
import { type HttpExchange, toOperationStatus, toOutcome } from '../http/transform.js';
import type { GatewayConnector } from '../port.js';
import type { Processor, SimulatorAnswer } from './processor.js';
import { operationBody, toSimulatorRequest, wireAnswer } from './wire.js';

/** What {@link createSimulatorConnector} needs. */
export interface SimulatorConnectorOptions {
  name: string;
  processor: Processor;
  /** Latency and the timeout run on these, so simulated time drives them. */
  timers: Timers;
  /** An answer slower than this (or dropped) becomes an `unknown` outcome after `timeoutMs`. */
  timeoutMs: number;
}

/**
 * Creates the in-process connector.
 *
 * @example
 * const processor = createProcessor({ clock, random: seededRandom(seed) });
 * const gateway = createSimulatorConnector({ name: 'sim-a', processor, timers, timeoutMs: 2000 });
 */
export function createSimulatorConnector(options: SimulatorConnectorOptions): GatewayConnector {
  const { name, processor, timers, timeoutMs } = options;

  async function travel(answer: SimulatorAnswer, signal: AbortSignal | undefined): Promise<HttpExchange> {
    // The processor has already acted; from here on only the answer's journey is simulated.
    const arrivesAfter = answer.answer === 'drop' ? Infinity : answer.latencyMs;
    const waitMs = Math.min(arrivesAfter, timeoutMs);
    if (waitMs > 0) await sleep(timers, waitMs, signal);
    if (signal?.aborted) return { kind: 'no_answer', sent: true, reason: 'aborted' };
    if (arrivesAfter > timeoutMs) return { kind: 'no_answer', sent: true, reason: 'timeout' };
    return { kind: 'answer', ...wireAnswer(answer) };
  }

  return {
    name,

    async execute(request, signal, context) {
      if (signal?.aborted) return toOutcome({ kind: 'no_answer', sent: false, reason: 'aborted_before_sending' });
      // The same body and mapping as over HTTP (./wire.ts).
      const answer = processor.handle(toSimulatorRequest(request.operation, request.gatewayKey, operationBody(request), context?.metadata.merchant_id));
      return toOutcome(await travel(answer, signal));
    },

    async status(key, signal) {
      if (signal?.aborted) return toOperationStatus({ kind: 'no_answer', sent: false, reason: 'aborted_before_sending' });
      return toOperationStatus(await travel(processor.status(key), signal));
    },

    async transactions(sinceMs, cursor, limit, signal) {
      if (signal?.aborted) return { ok: false, reason: 'aborted' };
      // The server's query check: a cursor is a position, as the simulator hands it out.
      const position = cursor === null ? null : /^[0-9]{1,15}$/.test(cursor) ? Number(cursor) : NaN;
      if (Number.isNaN(position)) return { ok: false, reason: `transaction log refused cursor ${cursor}` };
      return toTransactionLogPage(name, await travel(processor.transactions(sinceMs, position, limit), signal), cursor);
    },
  };
}
