import { hash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted by code unit, no insignificant whitespace, numbers and
 * strings as `JSON.stringify` writes them. Two bodies that parse to the same value give the
 * same text whatever their key order or spacing.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    // undefined (absent body) and functions have no JSON form; treat them as null.
    return text === undefined ? 'null' : text;
  }
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  const keys = Object.keys(value).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v);
    first = false;
  }
  return out + '}';
}

/**
 * SHA-256 (hex) over method, path and the canonical JSON body. The path is the concrete one
 * (`/v1/payments/pay_1/capture`), so the same key sent to another payment is another request.
 */
export function fingerprint(method: string, path: string, body: unknown): string {
  // One-shot hash: the same digest as createHash().update(…)…digest('hex'), at a third of the
  // cost, and it runs on every POST, replays included.
  return hash('sha256', method.toUpperCase() + '\n' + path + '\n' + canonicalJson(body), 'hex');
}
