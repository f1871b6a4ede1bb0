import type { TransactionMetadata } from '../events/metadata.js';
import type { GatewayCallContext, GatewayOutcome, GatewayRequest } from '../gateways/port.js';
import type { GatewayRouter } from '../gateways/router.js';
import type { Runtime } from '../ports/clock.js';
import { NO_SPAN, type Span, type Tracer } from '../ports/tracing.js';
import type { RetryPolicy } from '../resilience/policy.js';
import { firstMove, outcomeOfLookup, settleNotProcessed } from './decide.js';
import type { AttemptRow, PaymentRow } from './rows.js';

export interface GatewayRoundOptions {
  gateways: GatewayRouter;
  runtime: Runtime;
  policy: RetryPolicy;
  tracer: Tracer;
  log?: { info(obj: object, msg: string): void };
}

/**
 * One round of the pipeline with the gateway for an open attempt (docs/payments.md): the
 * calls themselves, what the retry policy learns from them, their span and their log line.
 * What the answer leads to is decided by the caller (src/payments/decide.ts).
 */
export class GatewayRound {
  constructor(private readonly o: GatewayRoundOptions) {}

  /**
   * `ambiguous`: the attempt may have executed already (a resumed or retried send); `after`:
   * the wait before this round when it is a retry; `parent`: the request's span.
   */
  async run(
    payment: PaymentRow,
    attempt: AttemptRow,
    r: { ambiguous: boolean; signal: AbortSignal; after: { retryDelayMs: number } | null; parent: Span | undefined; metadata: TransactionMetadata },
  ): Promise<GatewayOutcome> {
    const outcome = await this.span(r.parent, r.metadata, (span) =>
      this.call(payment, attempt, r.ambiguous, r.signal, r.after, { metadata: r.metadata, traceparent: span.traceparent }),
    );
    this.logAnswer(r.metadata, outcome);
    return outcome;
  }

  /**
   * One round with the gateway for an open attempt: a lookup first when its last answer was
   * unknown, else a send with its own gateway key; a "not processed" answer is checked by a
   * lookup before it may lead to a new key (`settleNotProcessed`).
   */
  private async call(
    payment: PaymentRow,
    attempt: AttemptRow,
    ambiguous: boolean,
    signal: AbortSignal,
    after: { retryDelayMs: number } | null,
    call: GatewayCallContext,
  ): Promise<GatewayOutcome> {
    const connector = this.o.gateways.connector(attempt.gateway);
    if (firstMove(attempt) === 'lookup') {
      const found = outcomeOfLookup(await connector.status(attempt.gateway_key, signal, call));
      if (found !== null) return found;
    }
    const { clock } = this.o.runtime;
    const sentAt = clock.now();
    const outcome = await connector.execute(gatewayRequest(payment, attempt), signal, call);
    this.o.policy.observe?.({
      at: clock.now(),
      gateway: attempt.gateway,
      operation: attempt.operation,
      outcome: outcome.class,
      latencyMs: clock.now() - sentAt,
      ...(outcome.class === 'not_processed' || outcome.class === 'unknown' ? { reason: outcome.reason } : {}),
      ...(outcome.class === 'not_processed' && outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
      first: after === null,
      ...(after ? { retryDelayMs: after.retryDelayMs } : {}),
    });
    if (outcome.class !== 'not_processed') return outcome;
    // A gateway the model knows to be down refuses lookups too: skip the call, as if refused.
    if (!ambiguous && this.o.policy.isDown?.(attempt.gateway, attempt.operation)) {
      const skipped = { found: 'unknown' as const, refused: true as const, reason: `${attempt.gateway} is down (learned); lookup skipped` };
      return settleNotProcessed(outcome, skipped, { mayHaveExecuted: ambiguous, operation: attempt.operation, gatewayKey: attempt.gateway_key });
    }
    const askedAt = clock.now();
    const lookup = await connector.status(attempt.gateway_key, signal, call);
    // Refused as well: a second piece of evidence that the gateway serves nothing now, so a
    // gateway that went dark is learned from fewer sends (docs/resilience.md).
    if (lookup.found === 'unknown' && lookup.refused) {
      this.o.policy.observe?.({
        at: clock.now(),
        gateway: attempt.gateway,
        operation: attempt.operation,
        outcome: 'not_processed',
        latencyMs: clock.now() - askedAt,
        reason: `lookup: ${lookup.reason}`,
        first: false,
        lookup: true,
      });
    }
    return settleNotProcessed(outcome, lookup, { mayHaveExecuted: ambiguous, operation: attempt.operation, gatewayKey: attempt.gateway_key });
  }

  /**
   * One span per round with the gateway (its send, and the lookups that settle it), under the
   * request's span; the gateway gets its `traceparent`. Without tracing: `fn` alone, handed the
   * request's span (a client's `traceparent`, or none).
   */
  private async span(parent: Span | undefined, metadata: TransactionMetadata, fn: (span: Span) => Promise<GatewayOutcome>): Promise<GatewayOutcome> {
    const { tracer } = this.o;
    if (!tracer.enabled) return fn(parent ?? NO_SPAN);
    const span = tracer.start(`gateway ${metadata.operation}`, { ...metadata }, { parent, kind: 'client' });
    // The attempt's own span id names it to the gateway; its trace id is the request's.
    metadata.trace_id = span.traceId;
    try {
      const outcome = await fn(span);
      span.set({ 'idem.outcome': outcome.class, ...(outcome.class === 'decline' ? { 'idem.decline_code': outcome.declineCode } : {}) });
      return outcome;
    } catch (err) {
      span.fail(err);
      throw err;
    } finally {
      span.end();
    }
  }

  private logAnswer(metadata: TransactionMetadata, outcome: GatewayOutcome): void {
    this.o.log?.info(
      {
        ...metadata,
        outcome: outcome.class,
        ...(outcome.class === 'decline' ? { decline_code: outcome.declineCode } : {}),
        ...(outcome.class === 'not_processed' || outcome.class === 'unknown' ? { reason: outcome.reason } : {}),
      },
      'gateway answered',
    );
  }
}

function gatewayRequest(payment: PaymentRow, attempt: AttemptRow): GatewayRequest {
  return {
    operation: attempt.operation,
    gatewayKey: attempt.gateway_key,
    amount: attempt.amount,
    currency: payment.currency,
    reference: payment.id,
    ...(attempt.operation === 'authorize' ? { token: payment.token } : {}),
    ...(payment.authorization_id ? { authorizationId: payment.authorization_id } : {}),
  };
}
