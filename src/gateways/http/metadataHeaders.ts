/**
 * The standard transaction metadata on the wire (docs/metadata.md, "Gateway calls"): every
 * field as an `Idem-…` request header (`merchant_id` → `Idem-Merchant-Id`), beside W3C
 * `traceparent`. The HTTP connector writes them; the simulator reads them back.
 */
import { METADATA_FIELDS, pickMetadata, type TransactionMetadata } from '../../events/metadata.js';

/** Header names by metadata field, lowercase as Node hands them over. */
export const METADATA_HEADERS: Readonly<Record<keyof TransactionMetadata, string>> = Object.freeze(
  Object.fromEntries(METADATA_FIELDS.map((f) => [f, `idem-${f.replace(/_/g, '-')}`])) as Record<keyof TransactionMetadata, string>,
);

/** The headers for `metadata` (the fields that are set), and `traceparent` when given. */
export function metadataHeaders(metadata: TransactionMetadata, traceparent?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of METADATA_FIELDS) {
    const v = metadata[f];
    if (v !== undefined) out[METADATA_HEADERS[f]] = String(v);
  }
  if (traceparent !== undefined) out.traceparent = traceparent;
  return out;
}

/** Reads the metadata headers back (`attempt_no` as a number); absent ones are left out. */
export function metadataFromHeaders(headers: Record<string, string | string[] | undefined>): TransactionMetadata {
  const raw: Record<string, unknown> = {};
  for (const f of METADATA_FIELDS) {
    const v = headers[METADATA_HEADERS[f]];
    const s = Array.isArray(v) ? v[0] : v;
    if (s !== undefined) raw[f] = f === 'attempt_no' ? Number(s) : s;
  }
  return pickMetadata(raw);
}
