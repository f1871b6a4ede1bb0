/**
 * The standard transaction metadata (docs/metadata.md): one schema on every event, log line
 * about a request, trace span and outgoing gateway call. A field is omitted only where it does
 * not exist yet (no payment before the body is validated, no attempt before the first send).
 */
export interface TransactionMetadata {
  merchant_id?: string;
  payment_id?: string;
  idempotency_key?: string;
  request_id?: string;
  attempt_id?: string;
  attempt_no?: number;
  operation?: string;
  gateway?: string;
  gateway_key?: string;
  trace_id?: string;
}

/** The field names, in the documented order. */
export const METADATA_FIELDS = [
  'merchant_id',
  'payment_id',
  'idempotency_key',
  'request_id',
  'attempt_id',
  'attempt_no',
  'operation',
  'gateway',
  'gateway_key',
  'trace_id',
] as const satisfies readonly (keyof TransactionMetadata)[];

/** The same schema as JSON Schema (draft 2020-12), for consumers of events and logs. */
export const transactionMetadataJsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://idem.dev/schemas/transaction-metadata.json',
  title: 'TransactionMetadata',
  type: 'object',
  additionalProperties: false,
  properties: {
    merchant_id: { type: 'string' },
    payment_id: { type: 'string' },
    idempotency_key: { type: 'string' },
    request_id: { type: 'string' },
    attempt_id: { type: 'string' },
    attempt_no: { type: 'integer', minimum: 1 },
    operation: { type: 'string' },
    gateway: { type: 'string' },
    gateway_key: { type: 'string' },
    trace_id: { type: 'string', pattern: '^[0-9a-f]{32}$' },
  },
} as const;

/** Copies the fields that are set, in the documented order; drops undefined ones. */
export function pickMetadata(from: Partial<Record<keyof TransactionMetadata, unknown>>): TransactionMetadata {
  const out: Record<string, unknown> = {};
  for (const f of METADATA_FIELDS) if (from[f] !== undefined && from[f] !== null) out[f] = from[f];
  return out as TransactionMetadata;
}
