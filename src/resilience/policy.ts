import type { GatewayOperation } from '../gateways/port.js';
import { exponentialBackoff, type Backoff } from './backoff.js';

/** The "not processed" answer a policy is asked about, and where it came from. */
export interface NotProcessed {
  gateway: string;
  operation: GatewayOperation;
  /** The connector's reason (`503`, `429`, `connection refused`, …). */
  reason: string;
  /** The gateway's `Retry-After`, when it sent one. */
  retryAfterMs?: number | undefined;
}

/**
 * What the payment pipeline does after a gateway answers "not processed": how many tries one
 * operation gets at one gateway, how long it waits between them, where an authorization fails
 * over to, and how long a deferred attempt waits for the relay. The pure decision core
 * (`decideNext` in src/payments/decide.ts) asks it; the service injects it, so another policy
 * (a learned one, say) can replace the static one without touching the pipeline. A policy only
 * ever sees "not processed" answers: what an unknown outcome or a decline leads to is fixed by
 * the rules in docs/payments.md, whatever the policy.
 */
export interface RetryPolicy {
  /** Tries one operation gets at one gateway (the first send included) before it moves on. */
  readonly triesPerGateway: number;
  /**
   * The wait before the next try at the same gateway, after `triesHere` tries there answered
   * "not processed" (the last one being `answer`); never shorter than its `retryAfterMs`.
   */
  backoff(triesHere: number, answer: NotProcessed): number;
  /**
   * The gateway an authorization fails over to from `answer.gateway`, among `candidates` (the
   * payment's gateways in the order to try them), or null when none is left.
   */
  nextGateway(answer: NotProcessed, candidates: readonly string[]): string | null;
  /** How long an attempt deferred to the relay waits, given the backoff its last try had. */
  deferMs(backoffMs: number): number;
  /** `static` or `adaptive`, as `GET /v1/gateways` and the logs name it. */
  readonly name: string;
  /**
   * A learned policy's advice after a "not processed" answer, within `triesPerGateway`: retry
   * here after a delay, move to `alternative` now, or defer. Without it the fixed tries rule.
   * `alternative` is `nextGateway`'s answer (null for a capture, void or refund).
   */
  advise?(answer: NotProcessed, triesHere: number, alternative: string | null): PolicyAdvice;
  /**
   * The order new authorizations try the candidates in (and which may be tried at all). A
   * promise only when a probe lease is being asked for (once per interval and instance).
   */
  route?(candidates: readonly string[], operation: GatewayOperation): readonly string[] | Promise<readonly string[]>;
  /** Learns from one gateway answer (every send, on every instance). */
  observe?(answer: GatewayAnswer): void;
  /** True when the gateway is known to refuse everything, so a lookup would be refused too. */
  isDown?(gateway: string, operation: GatewayOperation): boolean;
}

export type PolicyAdvice = { kind: 'retry'; backoffMs: number } | { kind: 'failover' } | { kind: 'defer'; afterMs: number };

/** One gateway answer as the pipeline saw it, for a learning policy. */
export interface GatewayAnswer {
  at: number;
  gateway: string;
  operation: GatewayOperation;
  outcome: 'success' | 'decline' | 'not_processed' | 'unknown';
  latencyMs: number;
  reason?: string | undefined;
  retryAfterMs?: number | undefined;
  /** The first try of this operation at this gateway (not a retry there). */
  first: boolean;
  /** For a retry: the wait since the failure it follows. */
  retryDelayMs?: number | undefined;
  /**
   * A lookup that checked a "not processed" send and was refused too (docs/resilience.md):
   * evidence that the gateway serves nothing now, which the `down` detector counts; not a send,
   * so latency, success rate, baselines, degradation and the retry budget leave it out.
   */
  lookup?: true;
}

export interface StaticPolicyOptions {
  /** 2 unless told. */
  triesPerGateway?: number;
  /** The first wait between tries at one gateway; doubles each try. 50 ms unless told. */
  baseMs?: number;
}

/**
 * Idem's policy as docs/payments.md describes it: 2 tries per gateway, 50 ms doubling between
 * them (no jitter: a request's own retries are few and short) and never shorter than the
 * gateway's Retry-After; then failover by priority (the merchant's preferred gateway first);
 * then, with nowhere left, a deferral to the relay for ten times the last backoff, at most 60 s.
 */
export function staticPolicy(o: StaticPolicyOptions = {}): RetryPolicy {
  const backoff: Backoff = exponentialBackoff({ baseMs: o.baseMs ?? 50, capMs: 60_000 });
  return Object.freeze({
    name: 'static',
    triesPerGateway: o.triesPerGateway ?? 2,
    backoff: (triesHere: number, answer: NotProcessed) => backoff.delay(triesHere - 1, answer.retryAfterMs ?? 0),
    // A gateway no longer among the candidates hands over to the first of them.
    nextGateway: (answer: NotProcessed, candidates: readonly string[]) => candidates[candidates.indexOf(answer.gateway) + 1] ?? null,
    deferMs: (backoffMs: number) => Math.min(60_000, backoffMs * 10),
  });
}
