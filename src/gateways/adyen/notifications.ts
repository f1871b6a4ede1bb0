/**
 * Adyen's standard notifications (webhooks), as Idem reads them (docs/gateways.md, "How
 * notifications flow"): parsed and checked field by field, their HMAC verified with the
 * official library's validator, stored under (pspReference, eventCode, success) so a duplicate
 * is harmless, then read back by gateway key to settle an attempt, and page by page as the
 * gateway's log for reconciliation. Nothing here moves money: a notification only answers a
 * status lookup Idem makes for an attempt it recorded.
 */
import { hmacValidator } from '@adyen/api-library';
import { REMEDIATION_KEY_PREFIX } from '../../reconciliation/cases.js';
import type { GatewayRecord } from '../../reconciliation/records.js';
import type { GatewayOperation, GatewayOperationStatus, GatewayOutcome } from '../port.js';

/** One notification item, as stored (no signature, no additional data). */
export interface AdyenNotification {
  pspReference: string;
  /** For a modification: the pspReference of the payment it modifies. */
  originalReference: string | null;
  merchantAccount: string;
  /** The `reference` Idem sent: its gateway key for the operation. */
  merchantReference: string;
  eventCode: string;
  success: boolean;
  amount: number;
  currency: string;
  /** The event's time as Adyen wrote it (ISO 8601). */
  eventDate: string;
  reason: string | null;
}

/** A stored notification: its row id (the log's cursor) and when Idem received it (ms). */
export interface StoredNotification extends AdyenNotification {
  id: string;
  gateway: string;
  receivedAt: number;
}

/**
 * Where notifications are kept (`src/store/sql/gatewayNotifications.ts` on PostgreSQL and
 * PGlite, `./memoryLog.ts` without a database). Keyed by (gateway, pspReference, eventCode,
 * success): recording a notification twice keeps the first.
 */
export interface NotificationLog {
  /** Stores the items not stored yet; returns how many were new. */
  record(gateway: string, items: readonly AdyenNotification[], receivedAt: number): Promise<number>;
  /** The notifications whose `merchantReference` is `reference`, oldest first. */
  find(gateway: string, reference: string): Promise<StoredNotification[]>;
  /** The notifications whose `pspReference` is `pspReference` (one operation at Adyen), oldest first. */
  findByPsp(gateway: string, pspReference: string): Promise<StoredNotification[]>;
  /** Up to `limit` notifications after row `afterId` (from the start when null) received at or after `sinceMs`, by id. */
  page(gateway: string, afterId: string | null, sinceMs: number, limit: number): Promise<StoredNotification[]>;
}

/** The event codes that answer an operation Idem asks for, and the operation each answers. */
export const OPERATION_EVENTS: Readonly<Record<string, GatewayOperation>> = {
  AUTHORISATION: 'authorize',
  CAPTURE: 'capture',
  CANCELLATION: 'void',
  REFUND: 'refund',
};

/** The most items one notification request may carry (Adyen's JSON webhooks carry one). */
export const MAX_ITEMS = 100;
const MAX_TEXT = 255;

export type ParsedNotifications =
  | { ok: true; live: boolean; items: Array<{ item: AdyenNotification; signed: Record<string, unknown> }> }
  | { ok: false; reason: string };

/**
 * Reads a notification request body (Webhooks v1 `NotificationRequest`). Total: a body it
 * cannot read is `ok: false` with a reason that names the field, never a value.
 *
 * @example
 * parseNotifications({ live: 'false', notificationItems: [{ NotificationRequestItem: { … } }] })
 */
export function parseNotifications(body: unknown): ParsedNotifications {
  if (!isObject(body)) return { ok: false, reason: 'the body is not a JSON object' };
  const items = body.notificationItems;
  if (!Array.isArray(items) || items.length === 0) return { ok: false, reason: 'notificationItems must be a non-empty array' };
  if (items.length > MAX_ITEMS) return { ok: false, reason: `notificationItems holds more than ${MAX_ITEMS} items` };
  const out: Array<{ item: AdyenNotification; signed: Record<string, unknown> }> = [];
  for (const [i, wrapper] of items.entries()) {
    const raw = isObject(wrapper) ? wrapper.NotificationRequestItem : undefined;
    if (!isObject(raw)) return { ok: false, reason: `notificationItems[${i}] has no NotificationRequestItem object` };
    const item = readItem(raw);
    if (typeof item === 'string') return { ok: false, reason: `notificationItems[${i}].${item}` };
    out.push({ item, signed: raw });
  }
  return { ok: true, live: body.live === 'true', items: out };
}

function readItem(raw: Record<string, unknown>): AdyenNotification | string {
  const fields: Record<string, string> = {};
  for (const name of ['pspReference', 'merchantAccountCode', 'merchantReference', 'eventCode', 'eventDate', 'success']) {
    const v = raw[name];
    if (typeof v !== 'string' || v === '' || v.length > MAX_TEXT) return `${name} must be a string of 1-${MAX_TEXT} characters`;
    fields[name] = v;
  }
  if (fields.success !== 'true' && fields.success !== 'false') return 'success must be "true" or "false"';
  if (!/^[A-Z_]{1,64}$/.test(fields.eventCode!)) return 'eventCode is not an event code';
  const amount = raw.amount;
  if (!isObject(amount) || !Number.isSafeInteger(amount.value) || (amount.value as number) < 0) return 'amount.value must be a whole number of minor units';
  if (typeof amount.currency !== 'string' || !/^[A-Z]{3}$/.test(amount.currency)) return 'amount.currency must be an ISO 4217 code';
  const original = raw.originalReference;
  if (original !== undefined && (typeof original !== 'string' || original.length > MAX_TEXT)) return 'originalReference must be a string';
  const reason = raw.reason;
  if (reason !== undefined && typeof reason !== 'string') return 'reason must be a string';
  if (raw.additionalData !== undefined && !isObject(raw.additionalData)) return 'additionalData must be an object';
  return {
    pspReference: fields.pspReference!,
    originalReference: typeof original === 'string' && original !== '' ? original : null,
    merchantAccount: fields.merchantAccountCode!,
    merchantReference: fields.merchantReference!,
    eventCode: fields.eventCode!,
    success: fields.success === 'true',
    amount: amount.value as number,
    currency: amount.currency,
    eventDate: fields.eventDate!,
    reason: typeof reason === 'string' && reason !== '' ? reason.slice(0, MAX_TEXT) : null,
  };
}

/**
 * Whether an item's `additionalData.hmacSignature` is the HMAC-SHA256 of its signed fields
 * under `hmacKey` (hex), checked by the official library's validator in constant time. A
 * missing signature or an unusable key is simply "not valid".
 */
export function hasValidSignature(signed: Record<string, unknown>, hmacKey: string): boolean {
  try {
    return new hmacValidator().validateHMAC(signed as never, hmacKey);
  } catch {
    return false;
  }
}

/**
 * What the stored notifications say about the operation Idem sent under `gatewayKey`: the
 * first notification of the operation's event code decides (Adyen sends one per operation; a
 * repeat carries the same answer). None yet is `found: false`: Idem then re-sends under the
 * same `Idempotency-Key`, which Adyen answers as it did the first time.
 *
 * | notification | status |
 * |---|---|
 * | AUTHORISATION / CAPTURE / CANCELLATION / REFUND, `success: "true"` | found: success (`transactionId` = `pspReference`; an authorisation's `authorizationId` too) |
 * | the same, `success: "false"` | found: decline `adyen_notification_refused`, the `reason` as message |
 * | none for the operation | not found |
 */
export function statusFromNotifications(operation: GatewayOperation, notifications: readonly AdyenNotification[]): GatewayOperationStatus {
  const n = notifications.find((x) => OPERATION_EVENTS[x.eventCode] === operation);
  if (n === undefined) return { found: false };
  return { found: true, outcome: outcomeOf(n) };
}

function outcomeOf(n: AdyenNotification): GatewayOutcome {
  if (!n.success) {
    return n.reason === null ? { class: 'decline', declineCode: 'adyen_notification_refused' } : { class: 'decline', declineCode: 'adyen_notification_refused', message: n.reason };
  }
  if (n.eventCode === 'AUTHORISATION') return { class: 'success', transactionId: n.pspReference, authorizationId: n.pspReference };
  return n.originalReference === null
    ? { class: 'success', transactionId: n.pspReference }
    : { class: 'success', transactionId: n.pspReference, authorizationId: n.originalReference };
}

/** Idem's gateway key shape, `<payment id>.<operation>.<attempt no>` (`gatewayKey`, src/gateways/port.ts). */
const GATEWAY_KEY = /^[A-Za-z0-9_-]{1,200}\.(authorize|capture|void|refund)\.[1-9][0-9]{0,5}$/;

/** The operation a gateway key names (a remediation's is a void), or null when the reference is not one of Idem's keys. */
export function operationOfKey(reference: string): GatewayOperation | null {
  if (reference.startsWith(REMEDIATION_KEY_PREFIX)) return 'void';
  const m = GATEWAY_KEY.exec(reference);
  return m === null ? null : (m[1] as GatewayOperation);
}

/** The payment a gateway key of Idem's belongs to (`pay_x.capture.1` → `pay_x`), or null when the reference is not one of Idem's payment keys. */
export function paymentOfKey(reference: string): string | null {
  return GATEWAY_KEY.test(reference) ? reference.replace(/\.[a-z]+\.[0-9]+$/, '') : null;
}

/**
 * A stored notification as a record of the gateway's log for reconciliation, or the reason it
 * is not one (an event that is no operation Idem sends, such as a chargeback).
 */
export function toGatewayRecord(n: StoredNotification): GatewayRecord | string {
  const operation = OPERATION_EVENTS[n.eventCode];
  if (operation === undefined) return `event ${n.eventCode} is not an operation Idem reconciles`;
  const at = Date.parse(n.eventDate);
  const record: GatewayRecord = {
    id: `${n.pspReference}:${n.eventCode}:${n.success ? 'true' : 'false'}`,
    gateway: n.gateway,
    operation,
    status: n.success ? 'succeeded' : 'declined',
    amount: n.amount,
    currency: n.currency,
    at: Number.isFinite(at) ? at : n.receivedAt,
    transactionId: n.pspReference,
    authorizationId: n.originalReference ?? n.pspReference,
    // Idem sends its payment id as the reference elsewhere; here it is the key's first part.
    reference: GATEWAY_KEY.test(n.merchantReference) ? n.merchantReference.replace(/\.[a-z]+\.[0-9]+$/, '') : n.merchantReference,
  };
  // Only the key of this very operation: a modification's notification that carries the
  // payment's own reference (its authorisation's key) is matched by its authorisation instead.
  if (operationOfKey(n.merchantReference) === operation) record.gatewayKey = n.merchantReference;
  return record;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
