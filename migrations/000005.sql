-- One event model (docs/events.md): every payment event and every system or merchant event
-- (no payment) in one table, with a stable id, a per-payment sequence number and the standard
-- transaction metadata. `position` is the feed order: given after commit by the event relay
-- (one at a time, under the lock on event_feed_head), so a reader paging by position never
-- skips an event that a slower transaction commits later. Webhook endpoints, their deliveries
-- (one row per event and endpoint, fanned out when the event gets its position) and the
-- cursors of the stream publishers (NATS) live beside it.

ALTER TABLE payment_events ALTER COLUMN payment_id DROP NOT NULL;
ALTER TABLE payment_events ADD COLUMN event_id text;
ALTER TABLE payment_events ADD COLUMN merchant_id text REFERENCES merchants (id);
ALTER TABLE payment_events ADD COLUMN seq integer;
ALTER TABLE payment_events ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE payment_events ADD COLUMN position bigint;

-- Events written before this migration: their payment's merchant, an id from their row, their
-- order within the payment.
UPDATE payment_events e SET merchant_id = p.merchant_id, event_id = 'evt_' || lpad(e.id::text, 24, '0')
  FROM payments p WHERE p.id = e.payment_id;
UPDATE payment_events e SET seq = n.rn
  FROM (SELECT id, row_number() OVER (PARTITION BY payment_id ORDER BY id) AS rn FROM payment_events) n
 WHERE n.id = e.id;

ALTER TABLE payment_events ALTER COLUMN event_id SET NOT NULL;
ALTER TABLE payment_events ADD CONSTRAINT payment_events_event_id_key UNIQUE (event_id);
ALTER TABLE payment_events ADD CONSTRAINT payment_events_payment_seq_key UNIQUE (payment_id, seq);
ALTER TABLE payment_events ADD CONSTRAINT payment_events_position_key UNIQUE (position);
ALTER TABLE payment_events ADD CONSTRAINT payment_events_seq_check CHECK ((payment_id IS NULL) = (seq IS NULL));
ALTER TABLE payment_events ADD CONSTRAINT payment_events_merchant_check CHECK (payment_id IS NULL OR merchant_id IS NOT NULL);
CREATE INDEX payment_events_unpositioned ON payment_events (id) WHERE position IS NULL;
CREATE INDEX payment_events_feed ON payment_events (merchant_id, position);
CREATE INDEX payment_events_time ON payment_events (merchant_id, created_at);

-- The last position given; its row lock makes the event relay's passes one at a time.
CREATE TABLE event_feed_head (
  id        integer PRIMARY KEY CHECK (id = 1),
  position  bigint NOT NULL
);
INSERT INTO event_feed_head (id, position) VALUES (1, 0);

CREATE TABLE webhook_endpoints (
  id                     text PRIMARY KEY,
  merchant_id            text NOT NULL REFERENCES merchants (id),
  url                    text NOT NULL,
  event_types            text[],                  -- NULL: every type
  status                 text NOT NULL CHECK (status IN ('enabled', 'disabled')),
  -- The signing secrets are needed in clear to sign; they are never shown after creation or rotation.
  secret                 text NOT NULL,
  previous_secret        text,                    -- still signed with until previous_secret_until
  previous_secret_until  timestamptz,
  failing_since          timestamptz,             -- first failure since the last success
  disabled_reason        text,
  created_at             timestamptz NOT NULL,
  updated_at             timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_merchant ON webhook_endpoints (merchant_id, created_at, id);

CREATE TABLE webhook_deliveries (
  id               bigserial PRIMARY KEY,
  endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  event_id         text NOT NULL REFERENCES payment_events (event_id),
  position         bigint NOT NULL,
  payment_id       text,
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL,
  lease_until      timestamptz,
  fence            bigint NOT NULL DEFAULT 0,
  last_status      integer,
  last_error       text,
  created_at       timestamptz NOT NULL,
  completed_at     timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, payment_id, position) WHERE state = 'pending';

-- Where each stream publisher (e.g. NATS JetStream) has got to in the feed, leased and fenced.
CREATE TABLE event_publishers (
  name         text PRIMARY KEY,
  position     bigint NOT NULL DEFAULT 0,
  lease_until  timestamptz,
  fence        bigint NOT NULL DEFAULT 0
);
