/**
 * Verifying Idem's webhooks (Standard Webhooks; docs/events.md, "Webhooks"): `webhook-signature`
 * holds one or more `v1,<base64 HMAC-SHA256>` of `"<webhook-id>.<webhook-timestamp>.<body>"`
 * under the secret's base64 bytes (`whsec_…`). HMAC runs on WebCrypto, so the same code works in
 * Node ≥ 20, browsers and edge runtimes.
 */

export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
}

export interface VerifyOptions {
  /** How far `webhook-timestamp` may be from now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** Milliseconds since the epoch (default `Date.now()`). */
  now?: number;
}

type HeaderBag = Headers | Record<string, string | string[] | undefined>;

/**
 * Checks a delivery and returns its event; throws {@link WebhookVerificationError} when a
 * header is missing, the timestamp is out of tolerance, or no signature matches. Pass the body
 * exactly as received (not re-serialised JSON).
 *
 * @example
 * const event = await verifyWebhook(process.env.IDEM_WHSEC!, rawBody, request.headers);
 */
export async function verifyWebhook<E = unknown>(secret: string, body: string | Uint8Array, headers: HeaderBag, o: VerifyOptions = {}): Promise<E> {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature');
  if (!/^\d+$/.test(timestamp)) throw new WebhookVerificationError('webhook-timestamp is not a number of seconds');
  const now = Math.floor((o.now ?? Date.now()) / 1000);
  if (Math.abs(now - Number(timestamp)) > (o.toleranceSeconds ?? 300)) throw new WebhookVerificationError('webhook-timestamp is too far from now');
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  const expected = await sign(secret, `${id}.${timestamp}.${text}`);
  for (const part of signatures.split(' ')) {
    const [version, value] = part.split(',', 2);
    if (version === 'v1' && value !== undefined && sameBytes(fromBase64(value), expected)) return JSON.parse(text) as E;
  }
  throw new WebhookVerificationError('no signature matches');
}

/** `v1,<base64>` for a body: what Idem sends, for tests of a receiver. */
export async function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): Promise<string> {
  return `v1,${toBase64(await sign(secret, `${id}.${timestampSeconds}.${body}`))}`;
}

async function sign(secret: string, content: string): Promise<Uint8Array> {
  const raw = fromBase64(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret);
  const key = await globalThis.crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', key, new TextEncoder().encode(content)));
}

function header(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const bag = headers as Record<string, string | string[] | undefined>;
  const v = bag[name] ?? Object.entries(bag).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(v) ? v.join(' ') : v;
}

/** Compares in time that depends on the length only. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function fromBase64(s: string): Uint8Array<ArrayBuffer> {
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  } catch {
    return new Uint8Array(0);
  }
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}
