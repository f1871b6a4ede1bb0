import type { GatewayConfig } from '../config/config.js';
import { AdyenGateways } from '../gateways/adyen/wiring.js';
import { resolveCredential } from '../gateways/credentials.js';
import { createHttpConnector } from '../gateways/http/connector.js';
import type { GatewayConnector } from '../gateways/port.js';
import { createSimulatorConnector } from '../gateways/simulator/connector.js';
import { createProcessor, type Processor } from '../gateways/simulator/processor.js';
import { createStripeConnector } from '../gateways/stripe/connector.js';
import type { Runtime } from '../ports/clock.js';

/**
 * One gateway's connector, by `kind` (docs/gateways.md, "Adding a connector"). A real
 * processor's secret is read here, once, from `credentials_ref`; a bad or missing one stops
 * start-up with a `ConfigError` naming the gateway.
 */
export function connectorFor(g: GatewayConfig, runtime: Runtime, simulators: Map<string, Processor>, retentionMs: number, adyen = new AdyenGateways()): GatewayConnector {
  if (g.kind === 'http') return createHttpConnector({ name: g.name, baseUrl: g.baseUrl!, timeoutMs: g.timeoutMs, timers: runtime.timers });
  if (g.kind === 'stripe') {
    return createStripeConnector({
      name: g.name,
      secret: resolveCredential(g.name, g.credentialsRef!),
      baseUrl: g.baseUrl,
      timeoutMs: g.timeoutMs,
      clock: runtime.clock,
      ...(g.searchSettleMs !== undefined ? { searchSettleMs: g.searchSettleMs } : {}),
    });
  }
  if (g.kind === 'adyen') return adyen.connector(g, resolveCredential(g.name, g.credentialsRef!), runtime.timers, runtime.clock);
  const processor = createProcessor({
    clock: runtime.clock,
    random: runtime.random,
    faults: { latency: { minMs: g.latencyMs, maxMs: g.latencyMs }, declineRate: g.declineRate },
    retentionMs,
  });
  simulators.set(g.name, processor);
  return createSimulatorConnector({ name: g.name, processor, timers: runtime.timers, timeoutMs: g.timeoutMs });
}
