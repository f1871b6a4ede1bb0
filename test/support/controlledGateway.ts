import type { GatewayConnector, GatewayOutcome, GatewayRequest } from '../../src/gateways/port.js';

/**
 * A gateway whose answers the test releases by hand, deduplicating by gateway key like a real
 * one, and counting what it executed.
 */
export class ControlledGateway implements GatewayConnector {
  readonly name: string;
  readonly executed = new Map<string, GatewayRequest>();
  calls = 0;
  private gates: Array<() => void> = [];
  held = false;

  constructor(name = 'sim') {
    this.name = name;
  }

  /** From now on, calls wait until `release()`. */
  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    for (const g of this.gates.splice(0)) g();
  }

  /** Resolves once `n` calls are waiting. */
  async waiting(n = 1): Promise<void> {
    while (this.gates.length < n) await new Promise((r) => setTimeout(r, 5));
  }

  async execute(request: GatewayRequest): Promise<GatewayOutcome> {
    this.calls++;
    if (this.held) await new Promise<void>((r) => this.gates.push(r));
    if (!this.executed.has(request.gatewayKey)) this.executed.set(request.gatewayKey, request);
    if (request.token?.startsWith('tok_decline_')) return { class: 'decline', declineCode: request.token.slice(12) };
    return { class: 'success', transactionId: 'tx_' + request.gatewayKey, authorizationId: 'auth_' + request.reference };
  }

  async status(gatewayKey: string) {
    return this.executed.has(gatewayKey)
      ? { found: true as const, outcome: { class: 'success' as const, transactionId: 'tx_' + gatewayKey } }
      : { found: false as const };
  }
}
