import type { GatewayConnector, GatewayOperation, GatewayOperationStatus, GatewayOutcome, GatewayRequest, StatusUnknown } from '../../src/gateways/port.js';
import type { GatewayLogEntry } from '../../src/ledger/verify.js';

/**
 * What the gateway does with the next call of an operation:
 * - `success`: executes it and approves;
 * - `decline`: refuses it, definitively (logged as declined, like a processor does);
 * - `not_processed`: does nothing and says so (a 503 that says it did nothing);
 * - `unknown_after`: executes it, but the answer is lost (timeout after processing);
 * - `unknown_before`: does nothing, and the caller cannot tell (timeout before processing);
 * - `not_processed_twin_executed`: answers "did nothing" to the copy the caller hears from while
 *   a second copy of the same request (a proxy's retry) executes and approves.
 */
export type ScriptedAnswer = 'success' | 'decline' | 'not_processed' | 'unknown_after' | 'unknown_before' | 'not_processed_twin_executed';

/**
 * A gateway whose answers the test scripts per operation, behaving like a real processor where
 * it matters for exactly-once: an operation is executed at most once per gateway key (a re-send
 * with the same key gets the first answer), status lookups by key tell what happened, and its
 * transaction log — what it executed — is in `verifyLedger`'s format. Unscripted calls succeed
 * (or decline for `tok_decline_<code>` tokens).
 */
export class ScriptedGateway implements GatewayConnector {
  readonly name: string;
  /** Every `execute` call, in order, with the class it was answered. */
  readonly requests: Array<{
    gatewayKey: string;
    operation: GatewayOperation;
    amount: number;
    authorizationId: string | undefined;
    answered: GatewayOutcome['class'];
  }> = [];
  /** Every status lookup, by gateway key. */
  readonly lookups: string[] = [];
  /** The gateway's own transaction log: one entry per executed gateway key. */
  readonly log: GatewayLogEntry[] = [];
  private readonly outcomes = new Map<string, GatewayOutcome>();
  private readonly scripts = new Map<GatewayOperation, ScriptedAnswer[]>();

  constructor(name: string) {
    this.name = name;
  }

  /** Queues answers for the next calls of `operation` that carry a new gateway key. */
  script(operation: GatewayOperation, ...answers: ScriptedAnswer[]): void {
    this.scripts.set(operation, [...(this.scripts.get(operation) ?? []), ...answers]);
  }

  /** Scripted answers not used yet, by operation: a test that scripted them expects none left. */
  unused(): Record<string, ScriptedAnswer[]> {
    const out: Record<string, ScriptedAnswer[]> = {};
    for (const [op, list] of this.scripts) if (list.length > 0) out[op] = [...list];
    return out;
  }

  /** Calls (executes and lookups) that concerned one payment. */
  callsFor(paymentId: string): { requests: string[]; lookups: string[]; log: GatewayLogEntry[] } {
    const mine = (key: string) => key.startsWith(`${paymentId}.`);
    return {
      requests: this.requests.filter((r) => mine(r.gatewayKey)).map((r) => `${r.gatewayKey}:${r.answered}`),
      lookups: this.lookups.filter(mine),
      log: this.log.filter((e) => e.reference === paymentId),
    };
  }

  async execute(request: GatewayRequest): Promise<GatewayOutcome> {
    const answer = (outcome: GatewayOutcome) => {
      const { gatewayKey, operation, amount, authorizationId } = request;
      this.requests.push({ gatewayKey, operation, amount, authorizationId, answered: outcome.class });
      return outcome;
    };
    const before = this.outcomes.get(request.gatewayKey);
    if (before) return answer(before);
    const scripted = this.scripts.get(request.operation)?.shift();
    const next = scripted ?? (request.token?.startsWith('tok_decline_') ? 'decline' : 'success');
    switch (next) {
      case 'not_processed':
        return answer({ class: 'not_processed', reason: 'scripted: 503, nothing processed' });
      case 'unknown_before':
        return answer({ class: 'unknown', reason: 'scripted: timeout before processing' });
      case 'decline': {
        const code = request.token?.startsWith('tok_decline_') ? request.token.slice(12) : 'do_not_honor';
        return answer(this.record(request, { class: 'decline', declineCode: code }));
      }
      case 'success':
        return answer(this.record(request, this.approve(request)));
      case 'unknown_after':
        this.record(request, this.approve(request));
        return answer({ class: 'unknown', reason: 'scripted: timeout after processing' });
      case 'not_processed_twin_executed':
        this.record(request, this.approve(request));
        return answer({ class: 'not_processed', reason: 'scripted: 503, nothing processed (a twin copy executed)' });
    }
  }

  /** The next status lookups go unanswered (a timeout), one per entry. */
  silentLookups = 0;

  async status(gatewayKey: string): Promise<GatewayOperationStatus | StatusUnknown> {
    this.lookups.push(gatewayKey);
    if (this.silentLookups > 0) {
      this.silentLookups--;
      return { found: 'unknown', reason: 'scripted: lookup timed out' };
    }
    const outcome = this.outcomes.get(gatewayKey);
    return outcome ? { found: true, outcome } : { found: false };
  }

  private approve(request: GatewayRequest): GatewayOutcome {
    const transactionId = `txn_${this.name}_${this.log.length + 1}`;
    return request.operation === 'authorize'
      ? { class: 'success', transactionId, authorizationId: `auth_${this.name}_${request.reference}` }
      : { class: 'success', transactionId };
  }

  private record(request: GatewayRequest, outcome: GatewayOutcome): GatewayOutcome {
    this.outcomes.set(request.gatewayKey, outcome);
    this.log.push({
      id: outcome.class === 'success' ? outcome.transactionId : `txn_${this.name}_${this.log.length + 1}`,
      idempotency_key: request.gatewayKey,
      operation: request.operation,
      amount: request.amount,
      currency: request.currency,
      reference: request.reference,
      status: outcome.class === 'success' ? 'succeeded' : 'declined',
    });
    return outcome;
  }
}
