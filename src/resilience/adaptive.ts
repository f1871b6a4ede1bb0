import type { GatewayOperation } from '../gateways/port.js';
import type { Clock, Random } from '../ports/clock.js';
import type { HealthBook } from './book.js';
import { staticPolicy, type GatewayAnswer, type NotProcessed, type PolicyAdvice, type RetryPolicy } from './policy.js';
import type { SharedProbes } from './probes.js';
import type { SharedHealth } from './shared.js';

export interface AdaptivePolicyOptions {
  book: HealthBook;
  /** Where answers are learned and shared; absent: this instance's book alone. */
  shared?: SharedHealth | undefined;
  /** Probes of a down gateway leased across the deployment; absent: each gateway's own probe pacing. */
  probes?: SharedProbes | undefined;
  clock: Clock;
  random: Random;
  /** A hard cap on tries at one gateway, whatever the model says (3 unless told). */
  maxTriesPerGateway?: number;
}

/**
 * The learned retry policy (docs/resilience.md): routes new authorizations around gateways the
 * health model calls down (bounded probes excepted), retries a "not processed" answer after
 * the delay the learned retry sensitivity prefers — jittered on the injected random source,
 * never before Retry-After, within the per-gateway retry budget — or fails over at once when
 * waiting is expected to cost more than moving. It is asked only about "not processed"
 * answers: an unknown outcome never reaches it and is never failed over (decideNext).
 */
export function adaptivePolicy(o: AdaptivePolicyOptions): RetryPolicy {
  const fallback = staticPolicy({ triesPerGateway: o.maxTriesPerGateway ?? 3 });
  const now = () => o.clock.now();
  const down = (gateway: string, operation: GatewayOperation) => o.book.state(gateway, operation) === 'down';
  return Object.freeze({
    name: 'adaptive',
    triesPerGateway: fallback.triesPerGateway,
    backoff: fallback.backoff,
    deferMs: fallback.deferMs,

    /**
     * The first candidate by priority, other than the answering gateway, that is neither down
     * nor inside a Retry-After it asked for — an earlier one too, since it may have recovered
     * (a payment routed to a probe starts low in the list); else one that is not down (it will
     * be retried after its Retry-After); else the next one after it anyway.
     * `decideNext` bounds the moves.
     */
    nextGateway(answer: NotProcessed, candidates: readonly string[]): string | null {
      const others = candidates.filter((g) => g !== answer.gateway);
      return (
        others.find((g) => o.book.available(g, answer.operation, now())) ??
        others.find((g) => !down(g, answer.operation)) ??
        candidates.slice(candidates.indexOf(answer.gateway) + 1).find((g) => g !== answer.gateway) ??
        null
      );
    },

    advise(answer: NotProcessed, _triesHere: number, alternative: string | null): PolicyAdvice {
      const advice = o.book.adviseRetry(answer.gateway, answer.operation, answer.reason, answer.retryAfterMs ?? 0, alternative, now());
      switch (advice.kind) {
        case 'retry': {
          // Equal jitter: between half and all of the learned delay, so instances that saw the
          // same blip do not come back in lockstep; never before Retry-After.
          const jittered = Math.round(advice.delayMs * (0.5 + 0.5 * o.random.float()));
          return { kind: 'retry', backoffMs: Math.max(answer.retryAfterMs ?? 0, jittered) };
        }
        case 'failover':
          return { kind: 'failover' };
        case 'defer':
          return { kind: 'defer', afterMs: advice.delayMs };
      }
    },

    route(candidates: readonly string[], operation: GatewayOperation): readonly string[] | Promise<readonly string[]> {
      const at = now();
      const probes = o.probes;
      // With shared probes a down gateway is routed to only once its lease is won: the route
      // without it is worked out first, and the payment waits for the claim (one round trip,
      // at most once per interval and instance) only when a probe is due.
      let due: string | null = null;
      const probe = probes
        ? (gateway: string, since: number) => {
            if (due === null && probes.due(gateway, operation, since, at)) due = gateway;
            return false;
          }
        : undefined;
      const routed = o.book.route(candidates, operation, at, () => o.random.float(), probe);
      // Every gateway down and no probe due: the first candidate still gets the payment (it
      // answers "not processed" fast, and the payment fails over or fails as it would anyway).
      const order = routed.length > 0 ? routed : candidates;
      const wanted: string | null = due;
      if (!probes || wanted === null || routed.includes(wanted)) return order;
      return probes.claim(wanted, operation, at).then((won) => (won ? [wanted, ...order] : order));
    },

    observe(answer: GatewayAnswer): void {
      if (o.shared) o.shared.record(answer);
      else o.book.observe(answer);
    },

    isDown: down,
  });
}
