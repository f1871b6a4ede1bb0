import { PAYMENT_STATUSES } from '../payments/states.js';

/**
 * Every event type Idem writes, listed once (docs/events.md lists the same; a test keeps the
 * two in step). Webhook endpoints subscribe to these names; NATS subjects end with them.
 */
export const EVENT_TYPES = {
  'payment.created': 'A payment was accepted; its first attempt is written with it.',
  ...(Object.fromEntries(PAYMENT_STATUSES.filter((s) => s !== 'processing').map((s) => [`payment.${s}`, `The payment became ${s}.`])) as Record<
    `payment.${Exclude<(typeof PAYMENT_STATUSES)[number], 'processing'>}`,
    string
  >),
  'payment.failover': 'The payment moved to another gateway after a "not processed" answer.',
  'attempt.started': 'An attempt (one try of one operation at one gateway) was opened, with its gateway key.',
  'attempt.succeeded': 'The gateway executed the attempt.',
  'attempt.declined': 'The gateway declined the attempt.',
  'attempt.not_processed': 'The gateway did not process the attempt (checked by a lookup).',
  'attempt.unknown': 'The outcome is unknown; recovery will look it up or re-send with the same gateway key.',
  'attempt.retry_scheduled': 'Another attempt at the same gateway follows after a backoff.',
  'attempt.deferred': 'The next attempt waits for the gateway (Retry-After, or a gateway known down).',
  'webhook_endpoint.disabled': 'A webhook endpoint was disabled: by the merchant, after 410 Gone, or after failing for days.',
  'reconciliation.case_opened': 'Reconciliation opened a case for support or the settlement team (docs/reconciliation.md).',
  'reconciliation.case_resolved': 'A reconciliation case was resolved.',
  'reconciliation.remediation_scheduled': 'Reconciliation scheduled a remediation (a void under its own gateway key).',
  'reconciliation.remediated': 'A remediation was executed at the gateway.',
  'reconciliation.remediation_failed': 'A remediation could not be executed at the gateway.',
  'reconciliation.adopted': 'Idem adopted what the gateway did (state and ledger follow the money).',
  'gateway.degraded': 'A gateway\'s learned health became degraded: failure rate or latency above its baseline (system event, no merchant).',
  'gateway.down': 'A gateway is down: no new first attempts, probes only (system event, no merchant).',
  'gateway.recovering': 'A probe of a down gateway succeeded; traffic ramps back (system event, no merchant).',
  'gateway.recovered': 'A gateway is healthy again (system event, no merchant).',
} as const;

export type EventType = keyof typeof EVENT_TYPES;

export function isEventType(t: string): t is EventType {
  return Object.hasOwn(EVENT_TYPES, t);
}

/**
 * Whether an endpoint subscribed to `eventTypes` gets an event of `type`. Registered without
 * `event_types` (null), an endpoint gets the merchant-facing events — `payment.*`,
 * `reconciliation.*`, `webhook_endpoint.*` — and no `attempt.*` step: those come only when named
 * (docs/events.md, "Webhook endpoints"). SQL stores say the same in their queries.
 */
export function subscribes(eventTypes: readonly string[] | null, type: string): boolean {
  return eventTypes === null ? !type.startsWith(OPT_IN_PREFIX) : eventTypes.includes(type);
}

/** Event types an endpoint gets only by naming them. */
export const OPT_IN_PREFIX = 'attempt.';
