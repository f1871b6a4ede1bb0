import type { Processor, SimulatorAnswer, SimulatorRequest } from '../gateways/simulator/processor.js';
import type { World } from './world.js';

/** Fault rates of the simulated network between Idem and one processor. */
export interface NetworkFaults {
  /** The request never reaches the processor (the connector times out: unknown). */
  dropRequest: number;
  /** The processor acts, the answer is lost (unknown). */
  dropAnswer: number;
  /**
   * The request arrives twice, the copy before the answer is back (the processor deduplicates
   * copies by gateway key, unless it refused the first one before processing).
   */
  duplicate: number;
  /** One-way delay, uniform in [0, maxDelayMs]; independent draws reorder requests. */
  maxDelayMs: number;
}

/** A quiet network: no loss, 1–5 ms each way. */
export const calmNetwork: NetworkFaults = { dropRequest: 0, dropAnswer: 0, duplicate: 0, maxDelayMs: 5 };

/** Counts faults by kind, for the run summary. */
export type FaultCounter = (kind: string) => void;

/**
 * A processor seen through a simulated network: the same interface as the processor, so the
 * real in-process connector runs over it unchanged. The connector reads `answer` and
 * `latencyMs` when it sends and the rest when the answer arrives, so the network decides the
 * round trip up front and fills in status and body when the (delayed) request reaches the
 * processor. A processor's own "timeout after processing" becomes a 504 (unknown outcome) on a
 * round trip already promised to arrive.
 */
export function networkedProcessor(
  world: World,
  processor: Processor,
  name: string,
  faults: () => NetworkFaults,
  count: FaultCounter,
  /** Hears of every gateway key whose request the network delivered twice. */
  onDuplicate: (gatewayKey: string) => void = () => {},
): Processor {
  function roundTrip(what: string, deliver: () => SimulatorAnswer, duplicable: boolean, key = ''): SimulatorAnswer {
    const f = faults();
    const there = 1 + world.int(0, f.maxDelayMs);
    const back = 1 + world.int(0, f.maxDelayMs);
    const dropRequest = world.chance(f.dropRequest);
    const dropAnswer = !dropRequest && world.chance(f.dropAnswer);
    const duplicate = !dropRequest && duplicable && world.chance(f.duplicate);
    const out: SimulatorAnswer = {
      status: 599,
      body: {},
      latencyMs: there + back,
      answer: dropRequest || dropAnswer ? 'drop' : 'send',
    };
    if (dropRequest) {
      count('net.drop_request');
      world.log(name, `${what}: request lost`);
      return out;
    }
    world.after(there, () => {
      const a = deliver();
      world.log(name, `${what}: processed → ${a.status}${a.answer === 'drop' ? ' (answer lost by processor)' : ''}${dropAnswer ? ' (answer lost)' : ''}`);
      if (a.answer === 'drop') {
        out.status = 504;
        out.body = { error: 'gateway_timeout' };
      } else {
        out.status = a.status;
        out.body = a.body;
        if (a.headers) out.headers = a.headers;
      }
    });
    if (dropAnswer) count('net.drop_answer');
    if (duplicate) {
      count('net.duplicate');
      onDuplicate(key);
      // The copy lands before the answer is back at Idem, as when a proxy or load balancer
      // retries on its own: one the gateway receives after Idem has heard the answer and asked
      // again is beyond what a caller can prevent (reconciliation's work).
      world.after(there + world.int(0, back - 1), () => {
        const a = deliver();
        world.log(name, `${what}: duplicate delivered → ${a.status}`);
      });
    }
    return out;
  }

  return {
    ...processor,
    handle: (request: SimulatorRequest) => roundTrip(`${request.operation} ${request.idempotencyKey}`, () => processor.handle(request), true, request.idempotencyKey),
    status: (key: string) => roundTrip(`status ${key}`, () => processor.status(key), false),
  };
}
