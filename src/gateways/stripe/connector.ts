/**
 * A GatewayConnector for Stripe on the official `stripe` library (docs/gateways.md, "Stripe").
 */
import { ConfigError } from '../../config/config.js';
import type { Clock } from '../../ports/clock.js';
import type { Secret } from '../credentials.js';
import type { GatewayConnector } from '../port.js';

/** What {@link createStripeConnector} needs. */
export interface StripeConnectorOptions {
  /** The gateway's name in `IDEM_GATEWAYS`. */
  name: string;
  /** The secret key (`sk_…` or `rk_…`), from `credentials_ref`. */
  secret: Secret;
  /** Overrides `https://api.stripe.com` (the local fake in tests). */
  baseUrl?: string | undefined;
  /** Whole request budget; on expiry the outcome is `unknown`. */
  timeoutMs: number;
  clock: Clock;
}

export function createStripeConnector(options: StripeConnectorOptions): GatewayConnector {
  throw new ConfigError(`gateway "${options.name}": kind "stripe" is not available in this build yet`);
}
