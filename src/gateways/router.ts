import type { GatewayConnector } from './port.js';

export interface RoutedGateway {
  name: string;
  priority: number;
  connector: GatewayConnector;
}

/**
 * Orders gateways for a payment: the merchant's preferred one first, then the rest by
 * priority. Failover walks this list, and only after a `not_processed` outcome.
 */
export class GatewayRouter {
  private readonly byPriority: RoutedGateway[];

  constructor(gateways: RoutedGateway[]) {
    if (gateways.length === 0) throw new Error('at least one gateway is needed');
    this.byPriority = [...gateways].sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
  }

  has(name: string): boolean {
    return this.byPriority.some((g) => g.name === name);
  }

  get names(): string[] {
    return this.byPriority.map((g) => g.name);
  }

  connector(name: string): GatewayConnector {
    const g = this.byPriority.find((x) => x.name === name);
    if (!g) throw new Error(`no gateway named ${name}`);
    return g.connector;
  }

  /** Gateways in the order to try them. */
  candidates(preferred?: string | null): string[] {
    const names = this.names;
    if (!preferred || !names.includes(preferred)) return names;
    return [preferred, ...names.filter((n) => n !== preferred)];
  }

  /** The gateway to fail over to after `current`, or null when none is left. */
  next(current: string, preferred?: string | null): string | null {
    const order = this.candidates(preferred);
    return order[order.indexOf(current) + 1] ?? null;
  }
}
