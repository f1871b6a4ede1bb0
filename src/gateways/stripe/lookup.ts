/**
 * Looking up what Stripe holds under a gateway key whose answer was unknown (docs/gateways.md,
 * "Stripe: lookups"). By id when the PaymentIntent is known (a capture, void or refund carries
 * it; an authorization whose answer came back once is remembered), else by Stripe's search on
 * the `metadata` Idem wrote. Search lags writes: a search that finds nothing is believed only
 * once `searchSettleMs` has passed since the key was sent (or first asked about, after a
 * restart); until then the answer is unknown, so Idem asks again on its learned schedule and
 * never fails over meanwhile.
 */
import type Stripe from 'stripe';
import type { Clock } from '../../ports/clock.js';
import { GATEWAY_OPERATIONS, type GatewayOperation, type GatewayOperationStatus, type GatewayRequest, type StatusUnknown } from '../port.js';
import { type StripeAnswer, toStripeStatus } from './transform.js';

/** What the connector remembers per gateway key it sent (bounded; lost on restart). */
export type KeyMemory = Map<string, { operation: GatewayOperation; paymentId: string; paymentIntentId?: string; since: number }>;

const MEMORY_LIMIT = 50_000;

interface LookupOptions {
  stripe: Stripe;
  clock: Clock;
  memory: KeyMemory;
  searchSettleMs: number;
}

const METADATA = { paymentId: 'idem_payment_id', gatewayKey: 'idem_gateway_key', captureKey: 'idem_capture_key' } as const;

/** The lookups of one Stripe connector. */
export function createStripeLookup(options: LookupOptions) {
  const { stripe, clock, memory, searchSettleMs } = options;

  function keep(key: string, entry: KeyMemory extends Map<string, infer V> ? V : never): void {
    memory.delete(key);
    memory.set(key, entry);
    if (memory.size > MEMORY_LIMIT) memory.delete(memory.keys().next().value!);
  }

  /** The PaymentIntent a key acts on: known, or found by search; `lagging` when search found none yet. */
  async function paymentIntentOf(key: string, operation: GatewayOperation, paymentId: string): Promise<Stripe.PaymentIntent | 'lagging' | 'none'> {
    const known = memory.get(key)?.paymentIntentId;
    if (known !== undefined) return stripe.paymentIntents.retrieve(known);
    const query = operation === 'authorize' ? `metadata['${METADATA.gatewayKey}']:'${quote(key)}'` : `metadata['${METADATA.paymentId}']:'${quote(paymentId)}'`;
    const found = await stripe.paymentIntents.search({ query, limit: 20 });
    // Several for one payment (an authorization declined, then another approved): the one that holds money.
    const intent = found.data.find((pi) => pi.status !== 'requires_payment_method') ?? found.data[0];
    if (intent !== undefined) return intent;
    const entry = memory.get(key);
    const since = entry?.since ?? clock.now();
    if (entry === undefined) keep(key, { operation, paymentId, since });
    return clock.now() - since < searchSettleMs ? 'lagging' : 'none';
  }

  return {
    /** Called before each send: when, and what the key is for. */
    remember(request: GatewayRequest): void {
      const previous = memory.get(request.gatewayKey);
      const paymentIntentId = request.operation === 'authorize' ? previous?.paymentIntentId : request.authorizationId;
      keep(request.gatewayKey, {
        operation: request.operation,
        paymentId: request.reference,
        since: previous?.since ?? clock.now(),
        ...(paymentIntentId !== undefined ? { paymentIntentId } : {}),
      });
    },

    /** An answer named the PaymentIntent: later lookups retrieve it by id. */
    learned(key: string, paymentIntentId: string): void {
      const entry = memory.get(key);
      if (entry !== undefined) entry.paymentIntentId = paymentIntentId;
    },

    /** The library takes no abort signal: its own timeout (the gateway's `timeout_ms`) bounds each call. */
    async status(key: string): Promise<GatewayOperationStatus | StatusUnknown> {
      const parsed = memory.get(key) ?? parseKey(key);
      if (parsed === undefined) return { found: 'unknown', reason: `${key} is not a gateway key Idem derives` };
      const { operation, paymentId } = parsed;
      try {
        const intent = await paymentIntentOf(key, operation, paymentId);
        if (intent === 'lagging') return { found: 'unknown', reason: `stripe search shows nothing under ${key} yet (its index lags writes)` };
        if (intent === 'none') return toStripeStatus(operation, null);
        return toStripeStatus(operation, await answerFor(key, operation, intent));
      } catch (error) {
        return toStripeStatus(operation, { kind: 'error', error });
      }
    },
  };

  /** What the key left on the PaymentIntent: the intent itself, the Refund made under the key, or nothing. */
  async function answerFor(key: string, operation: GatewayOperation, intent: Stripe.PaymentIntent): Promise<StripeAnswer | null> {
    switch (operation) {
      case 'authorize':
      case 'void':
        return { kind: 'object', object: intent };
      case 'capture':
        // Captured, but under another key (an earlier attempt): this key never ran.
        if (intent.status === 'succeeded' && intent.capture_method !== 'automatic' && intent.metadata?.[METADATA.captureKey] !== key) return null;
        return { kind: 'object', object: intent };
      case 'refund': {
        const refunds = await stripe.refunds.list({ payment_intent: intent.id, limit: 100 });
        const refund = refunds.data.find((r) => r.metadata?.[METADATA.gatewayKey] === key);
        return refund === undefined ? null : { kind: 'object', object: refund };
      }
    }
  }
}

/** `pay_abc.capture.2` → capture of `pay_abc`; reconciliation's `recon.void.<gw>.<auth>` → a void. */
function parseKey(key: string): { operation: GatewayOperation; paymentId: string } | undefined {
  const m = /^(.+)\.([a-z]+)\.(\d+)$/.exec(key);
  if (m !== null && (GATEWAY_OPERATIONS as readonly string[]).includes(m[2]!)) return { operation: m[2] as GatewayOperation, paymentId: m[1]! };
  return undefined;
}

function quote(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
}
