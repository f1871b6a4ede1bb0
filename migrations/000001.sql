-- Merchants, their API keys (hashed), idempotency keys, payments, attempts, outbox, events.
-- Times that decide leases and expiry are written from Idem's clock, not the database's, so a
-- simulator can drive them; columns default to now() only for bookkeeping.

CREATE TABLE merchants (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  key_hash     text PRIMARY KEY,           -- sha256 hex of the whole key; the key itself is never stored
  merchant_id  text NOT NULL REFERENCES merchants (id),
  prefix       text NOT NULL,              -- first characters, to tell keys apart in listings
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz
);
CREATE INDEX api_keys_merchant ON api_keys (merchant_id);

-- Grows with every new lease on any key; a write carrying an older fence is refused.
CREATE SEQUENCE idempotency_fence_seq;

CREATE TABLE idempotency_keys (
  merchant_id      text NOT NULL REFERENCES merchants (id),
  key              text NOT NULL,
  fingerprint      text NOT NULL,
  method           text NOT NULL,
  path             text NOT NULL,
  state            text NOT NULL CHECK (state IN ('in_progress', 'completed')),
  fence            bigint NOT NULL,
  lease_until      timestamptz,
  -- The business resource the first execution created (e.g. the payment id), so a takeover
  -- resumes it instead of starting again.
  resource_id      text,
  response_status  integer,
  response_type    text,
  response_body    text,
  created_at       timestamptz NOT NULL,
  completed_at     timestamptz,
  expires_at       timestamptz,
  PRIMARY KEY (merchant_id, key),
  CHECK ((state = 'completed') = (response_status IS NOT NULL AND response_body IS NOT NULL AND expires_at IS NOT NULL))
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at) WHERE state = 'completed';
CREATE INDEX idempotency_keys_lease ON idempotency_keys (lease_until) WHERE state = 'in_progress';

CREATE TABLE payments (
  id                 text PRIMARY KEY,
  merchant_id        text NOT NULL REFERENCES merchants (id),
  amount             bigint NOT NULL CHECK (amount > 0),
  currency           text NOT NULL,
  capture_method     text NOT NULL CHECK (capture_method IN ('automatic', 'manual')),
  status             text NOT NULL,
  token              text NOT NULL,
  reference          text,
  metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
  preferred_gateway  text,
  gateway            text,
  authorization_id   text,
  amount_authorized  bigint NOT NULL DEFAULT 0,
  amount_captured    bigint NOT NULL DEFAULT 0,
  amount_refunded    bigint NOT NULL DEFAULT 0,
  amount_voided      bigint NOT NULL DEFAULT 0,
  decline_code       text,
  idempotency_key    text NOT NULL,
  version            integer NOT NULL DEFAULT 0,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  CHECK (amount_captured <= amount_authorized),
  CHECK (amount_refunded <= amount_captured)
);
CREATE INDEX payments_merchant_newest ON payments (merchant_id, created_at DESC, id DESC);

CREATE TABLE payment_attempts (
  id                 text PRIMARY KEY,
  payment_id         text NOT NULL REFERENCES payments (id),
  operation          text NOT NULL CHECK (operation IN ('authorize', 'capture', 'void', 'refund')),
  attempt_no         integer NOT NULL,
  gateway            text NOT NULL,
  gateway_key        text NOT NULL UNIQUE,
  amount             bigint NOT NULL,
  status             text NOT NULL CHECK (status IN ('pending', 'succeeded', 'declined', 'not_processed', 'unknown')),
  gateway_reference  text,
  decline_code       text,
  error              text,
  created_at         timestamptz NOT NULL,
  completed_at       timestamptz,
  UNIQUE (payment_id, operation, attempt_no)
);

-- Work still to do, written in the same transaction as the state change that calls for it.
CREATE TABLE outbox (
  id           bigserial PRIMARY KEY,
  payment_id   text NOT NULL REFERENCES payments (id),
  attempt_id   text NOT NULL REFERENCES payment_attempts (id),
  kind         text NOT NULL,
  state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
  run_after    timestamptz NOT NULL,
  lease_until  timestamptz,
  fence        bigint NOT NULL DEFAULT 0,
  tries        integer NOT NULL DEFAULT 0,
  created_at   timestamptz NOT NULL,
  done_at      timestamptz,
  UNIQUE (attempt_id, kind)
);
CREATE INDEX outbox_pending ON outbox (run_after) WHERE state = 'pending';

CREATE TABLE payment_events (
  id          bigserial PRIMARY KEY,
  payment_id  text NOT NULL REFERENCES payments (id),
  type        text NOT NULL,
  data        jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL
);
CREATE INDEX payment_events_payment ON payment_events (payment_id, id);
