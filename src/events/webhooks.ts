import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { Random } from '../ports/clock.js';

/**
 * Webhook delivery's domain rules (docs/events.md, "Webhooks"), pure: Standard Webhooks
 * signing, the retry schedule, what a receiver's answer leads to, and which URLs may be
 * endpoints. The delivery worker (./delivery.ts) applies them; the HTTP client is an adapter
 * (src/outbound/).
 */

/** An endpoint as stored. Secrets are `whsec_` + base64 of 24 random bytes. */
export interface EndpointRow {
  id: string;
  merchantId: string;
  url: string;
  /** null: every event type. */
  eventTypes: string[] | null;
  status: 'enabled' | 'disabled';
  secret: string;
  previousSecret: string | null;
  previousSecretUntil: Date | null;
  failingSince: Date | null;
  disabledReason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** One claimed delivery: the event's body as sent, where, with which secrets. */
export interface DeliveryWork {
  id: number;
  fence: number;
  attempts: number;
  endpointId: string;
  merchantId: string;
  url: string;
  secrets: string[];
  eventId: string;
  paymentId: string | null;
  /** The JSON body, the same bytes every time it is sent. */
  body: string;
  /** The id of its lane's first delivery: a lane is sent one delivery after another, in order. */
  lane: number;
}

/** What the worker writes after one send. */
export interface DeliveryUpdate {
  state: 'pending' | 'succeeded' | 'failed';
  nextAttemptAt: Date | null;
  status: number | null;
  error: string | null;
}

/** A new endpoint's signing secret. */
export function newSigningSecret(random: Random): string {
  return 'whsec_' + Buffer.from(random.bytes(24)).toString('base64');
}

/**
 * The `webhook-signature` header of Standard Webhooks: `v1,<base64 HMAC-SHA256>` of
 * `id.timestamp.body` under each secret (the key is the base64 after `whsec_`), space-separated
 * — two while a rotated secret is still honoured, so receivers holding either one verify.
 */
export function signatureHeader(secrets: readonly string[], id: string, timestampSec: number, body: string): string {
  return secrets.map((s) => 'v1,' + sign(s, id, timestampSec, body)).join(' ');
}

function sign(secret: string, id: string, timestampSec: number, body: string): string {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
  return createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64');
}

/** True if one of the header's `v1` signatures is `secret`'s (what a receiver checks). */
export function verifySignature(secret: string, header: string, id: string, timestampSec: number, body: string): boolean {
  const want = Buffer.from(sign(secret, id, timestampSec, body));
  return header.split(' ').some((part) => {
    const [v, sig] = part.split(',');
    const got = Buffer.from(sig ?? '');
    return v === 'v1' && got.length === want.length && timingSafeEqual(got, want);
  });
}

/** The headers of one send. `webhook-id` is the event id, so receivers deduplicate on it. */
export function deliveryHeaders(w: Pick<DeliveryWork, 'eventId' | 'secrets' | 'body'>, nowMs: number): Record<string, string> {
  const ts = Math.floor(nowMs / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': 'Idem-Webhooks/1',
    'webhook-id': w.eventId,
    'webhook-timestamp': String(ts),
    'webhook-signature': signatureHeader(w.secrets, w.eventId, ts, w.body),
  };
}

/**
 * Waits after each failed send, in ms: 1 s, 5 s, 30 s, 2 min, 10 min, 30 min, then hours —
 * 3 days 3½ hours in all before a delivery is given up (more than the 3 days asked for).
 */
export const RETRY_SCHEDULE_MS: readonly number[] = [
  1_000, 5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000, 43_200_000, 86_400_000, 86_400_000,
];

/** An endpoint that has failed without a success for this long is disabled. */
export const DISABLE_AFTER_FAILING_MS = 3 * 86_400_000;

/** The longest `Retry-After` honoured (a receiver asking for more gets this). */
const MAX_RETRY_AFTER_MS = 86_400_000;

/** What a receiver did with one send. */
export type SendResult =
  | { kind: 'answered'; status: number; retryAfterMs?: number }
  | { kind: 'failed'; error: string };

/** What follows one send: the delivery's next state and what happens to its endpoint. */
export interface DeliveryDecision {
  update: DeliveryUpdate;
  endpoint: 'healthy' | 'failing' | 'disable';
  reason?: string;
}

/**
 * The rule after one send (`attempts` = sends before this one). 2xx: delivered. 410 Gone: the
 * receiver asked to stop — the endpoint is disabled (the delivery stays pending, so re-enabling
 * resumes it). Anything else retries on the schedule, no sooner than `Retry-After`; past the
 * schedule the delivery is given up. An endpoint failing since more than
 * `DISABLE_AFTER_FAILING_MS` is disabled.
 *
 * Jitter draws from `random` (at most 10% of the wait), so receivers that failed together are
 * not all retried in the same instant.
 */
export function decideAfterSend(
  result: SendResult,
  attempts: number,
  nowMs: number,
  failingSince: Date | null,
  random: Random,
): DeliveryDecision {
  const status = result.kind === 'answered' ? result.status : null;
  const error = result.kind === 'failed' ? result.error : status !== null && (status < 200 || status >= 300) ? `HTTP ${status}` : null;
  if (status !== null && status >= 200 && status < 300) {
    return { update: { state: 'succeeded', nextAttemptAt: null, status, error: null }, endpoint: 'healthy' };
  }
  if (status === 410) {
    return { update: { state: 'pending', nextAttemptAt: new Date(nowMs), status, error }, endpoint: 'disable', reason: 'the receiver answered 410 Gone' };
  }
  const failingFor = failingSince ? nowMs - failingSince.getTime() : 0;
  if (failingFor >= DISABLE_AFTER_FAILING_MS) {
    return {
      update: { state: 'pending', nextAttemptAt: new Date(nowMs), status, error },
      endpoint: 'disable',
      reason: `failing for ${Math.round(failingFor / 3_600_000)} hours`,
    };
  }
  if (attempts >= RETRY_SCHEDULE_MS.length) {
    return { update: { state: 'failed', nextAttemptAt: null, status, error }, endpoint: 'failing' };
  }
  const base = RETRY_SCHEDULE_MS[attempts]!;
  const wait = Math.max(base + Math.floor(random.float() * base * 0.1), Math.min(result.kind === 'answered' ? (result.retryAfterMs ?? 0) : 0, MAX_RETRY_AFTER_MS));
  return { update: { state: 'pending', nextAttemptAt: new Date(nowMs + wait), status, error }, endpoint: 'failing' };
}

/** `Retry-After` as seconds or an HTTP date, in ms from `nowMs`; undefined if absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d{1,9}$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** The longest endpoint URL accepted. */
export const MAX_ENDPOINT_URL_LENGTH = 2048;

/** Why a URL may not be an endpoint, or null if its form is fine (addresses are checked apart). */
export function urlProblem(raw: string): { code: 'WEBHOOK_URL_INVALID'; detail: string } | null {
  if (raw.length > MAX_ENDPOINT_URL_LENGTH) return { code: 'WEBHOOK_URL_INVALID', detail: `url is longer than ${MAX_ENDPOINT_URL_LENGTH} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { code: 'WEBHOOK_URL_INVALID', detail: 'url is not an absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { code: 'WEBHOOK_URL_INVALID', detail: 'url must be http or https' };
  if (url.username || url.password) return { code: 'WEBHOOK_URL_INVALID', detail: 'url must not carry credentials' };
  if (url.hostname === '') return { code: 'WEBHOOK_URL_INVALID', detail: 'url has no host' };
  return null;
}

/**
 * True for addresses a webhook must not reach unless the operator allows it: loopback,
 * private (RFC 1918, unique-local), link-local (cloud metadata), carrier-grade NAT, unspecified,
 * multicast and reserved ranges, and IPv4 mapped into IPv6.
 */
export function isPrivateAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  const v = isIP(a);
  if (v === 4) {
    const [p0, p1] = a.split('.').map(Number) as [number, number];
    return (
      p0 === 0 || p0 === 10 || p0 === 127 || p0 >= 224 ||
      (p0 === 100 && p1 >= 64 && p1 <= 127) ||
      (p0 === 169 && p1 === 254) ||
      (p0 === 172 && p1 >= 16 && p1 <= 31) ||
      (p0 === 192 && p1 === 168) ||
      (p0 === 192 && p1 === 0) ||
      (p0 === 198 && (p1 === 18 || p1 === 19))
    );
  }
  if (v === 6) {
    if (a === '::' || a === '::1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
    if (mapped) return isPrivateAddress(mapped[1]!);
    if (/^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(a)) {
      const [hi, lo] = a.slice(7).split(':').map((h) => parseInt(h, 16)) as [number, number];
      return isPrivateAddress(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
    }
    return /^(fc|fd|fe[89ab]|ff)/.test(a) || a.startsWith('64:ff9b:') || a.startsWith('2001:db8');
  }
  return true;
}
