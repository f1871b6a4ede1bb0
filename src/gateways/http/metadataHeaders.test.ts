import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { METADATA_FIELDS, type TransactionMetadata } from '../../events/metadata.js';
import { METADATA_HEADERS, metadataFromHeaders, metadataHeaders } from './metadataHeaders.js';

const value = fc.stringMatching(/^[\x21-\x7e]{1,40}$/);
const metadata: fc.Arbitrary<TransactionMetadata> = fc.record(
  {
    merchant_id: value,
    payment_id: value,
    idempotency_key: value,
    request_id: value,
    attempt_id: value,
    attempt_no: fc.integer({ min: 1, max: 1_000_000 }),
    operation: value,
    gateway: value,
    gateway_key: value,
    trace_id: fc.stringMatching(/^[0-9a-f]{32}$/),
  },
  { requiredKeys: [] },
);

describe('metadata headers', () => {
  it('read back what they write, field for field, absent fields absent', () => {
    fc.assert(
      fc.property(metadata, (m) => {
        const headers = metadataHeaders(m);
        expect(Object.keys(headers)).toHaveLength(Object.keys(m).length);
        expect(metadataFromHeaders(headers)).toEqual(m);
      }),
    );
  });

  it('are named Idem-<Field-Name>, one per field, and carry traceparent when given', () => {
    expect(METADATA_FIELDS.map((f) => METADATA_HEADERS[f])).toEqual([
      'idem-merchant-id',
      'idem-payment-id',
      'idem-idempotency-key',
      'idem-request-id',
      'idem-attempt-id',
      'idem-attempt-no',
      'idem-operation',
      'idem-gateway',
      'idem-gateway-key',
      'idem-trace-id',
    ]);
    expect(metadataHeaders({ attempt_no: 2 }, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toEqual({
      'idem-attempt-no': '2',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
  });
});
