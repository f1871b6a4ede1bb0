import { hasValidSignature, type NotificationLog, parseNotifications, paymentOfKey } from './notifications.js';

/** One Adyen gateway as its notification endpoint knows it. Secrets stay here, never in an answer or a log line. */
export interface AdyenNotificationTarget {
  gateway: string;
  hmacKey: string;
  merchantAccount: string;
  log: NotificationLog;
  /** Which of these gateway keys name an attempt Idem recorded at this gateway. */
  recordedKeys(gatewayKeys: readonly string[]): Promise<ReadonlySet<string>>;
  /**
   * News stored for these payments (the payment id of each Idem gateway key a notification
   * named): their open attempts' rows fall due and the relay is woken, so the attempt is
   * settled now rather than at its next scheduled look (docs/gateways.md).
   */
  wake?(paymentIds: readonly string[]): Promise<void>;
}

/** What receiving one notification request came to, for the route to answer and log. */
export type Received =
  | { kind: 'accepted'; stored: number; duplicates: number; items: Array<{ pspReference: string; eventCode: string; success: boolean; merchantReference: string; recorded: boolean }> }
  | { kind: 'malformed'; reason: string }
  | { kind: 'bad_signature'; pspReference: string }
  | { kind: 'other_account' };

/**
 * Receives one notification request (docs/gateways.md, "How notifications flow"): read, every
 * item's HMAC verified, the merchant account checked — all before anything is written, so a
 * request refused for any item changes nothing — then stored (duplicates kept once) before
 * the caller acknowledges with `[accepted]`. A notification for a reference Idem never
 * recorded is stored too and left to reconciliation (`recorded: false`); none moves money.
 *
 * @example
 * const r = await receiveAdyenNotifications(target, body, Date.now());
 * if (r.kind === 'accepted') reply.send('[accepted]');
 */
export async function receiveAdyenNotifications(target: AdyenNotificationTarget, body: unknown, now: number): Promise<Received> {
  const parsed = parseNotifications(body);
  if (!parsed.ok) return { kind: 'malformed', reason: parsed.reason };
  for (const { item, signed } of parsed.items) {
    if (!hasValidSignature(signed, target.hmacKey)) return { kind: 'bad_signature', pspReference: item.pspReference };
  }
  if (parsed.items.some(({ item }) => item.merchantAccount !== target.merchantAccount)) return { kind: 'other_account' };
  const items = parsed.items.map(({ item }) => item);
  const stored = await target.log.record(target.gateway, items, now);
  const recorded = await target.recordedKeys(items.map((i) => i.merchantReference));
  const paymentIds = [...new Set(items.map((i) => paymentOfKey(i.merchantReference)).filter((p) => p !== null))];
  // Stored already: a wake-up that fails only leaves the attempt to its scheduled look.
  if (paymentIds.length > 0) await target.wake?.(paymentIds).catch(() => {});
  return {
    kind: 'accepted',
    stored,
    duplicates: items.length - stored,
    items: items.map((i) => ({ pspReference: i.pspReference, eventCode: i.eventCode, success: i.success, merchantReference: i.merchantReference, recorded: recorded.has(i.merchantReference) })),
  };
}
