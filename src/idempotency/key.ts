import { IdemError } from '../errors/registry.js';

/** Idempotency keys are 1–255 printable ASCII characters (0x20–0x7E). */
const VALID_KEY = /^[\x20-\x7e]{1,255}$/;

/** True when `header` is a key {@link parseIdempotencyKey} would accept as it is. */
export function isIdempotencyKey(header: string): boolean {
  return VALID_KEY.test(header);
}

/**
 * Reads the `Idempotency-Key` header value, refusing a missing one with `IDEM_KEY_MISSING` and
 * a malformed one (empty, longer than 255, anything outside printable ASCII, sent twice) with
 * `IDEM_KEY_INVALID`.
 */
export function parseIdempotencyKey(header: string | string[] | undefined): string {
  if (header === undefined) throw new IdemError('IDEM_KEY_MISSING', 'send an Idempotency-Key header with every POST');
  if (Array.isArray(header)) throw new IdemError('IDEM_KEY_INVALID', 'send exactly one Idempotency-Key header');
  if (!VALID_KEY.test(header)) {
    const why = header.length === 0 ? 'is empty' : header.length > 255 ? `is ${header.length} characters long (at most 255)` : 'has characters outside printable ASCII';
    throw new IdemError('IDEM_KEY_INVALID', `Idempotency-Key ${why}`);
  }
  return header;
}
