-- The request kind each idempotency key belongs to (for payments: create, capture, void,
-- refund), set by the route that claimed it, so recovery finishes the request from this
-- column instead of reading it back out of the stored path. Null for keys of other requests.
ALTER TABLE idempotency_keys ADD COLUMN operation text;

-- Keys claimed before this column existed (an upgrade while requests are in flight): the kind
-- their route would have set. Once, here; nothing reads the path for it afterwards.
UPDATE idempotency_keys SET operation = CASE
    WHEN path = '/v1/payments' THEN 'create'
    WHEN path ~ '^/v1/payments/[^/]+/capture$' THEN 'capture'
    WHEN path ~ '^/v1/payments/[^/]+/void$' THEN 'void'
    WHEN path ~ '^/v1/payments/[^/]+/refunds$' THEN 'refund'
  END
  WHERE operation IS NULL;
