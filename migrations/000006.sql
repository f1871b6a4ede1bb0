-- Continuous reconciliation (docs/reconciliation.md, "The loop", "Remediation", "Cases").

-- One row per gateway: where its transaction log was last read, and the lease a pass holds on
-- the next window of it, so N instances split the gateways and never read one window twice.
CREATE TABLE reconciliation_cursors (
  gateway      text PRIMARY KEY,
  cursor       text,                        -- the gateway's own cursor after the last window read
  since_at     timestamptz NOT NULL,        -- where the first window starts (no cursor yet)
  lease_until  timestamptz,
  fence        bigint NOT NULL DEFAULT 0,   -- from idempotency_fence_seq; a stale pass cannot move the cursor
  owner        text,
  passes       integer NOT NULL DEFAULT 0,
  last_error   text,
  updated_at   timestamptz NOT NULL
);

-- Every record fetched from a gateway's log, under the gateway's own id, kept so a pass can be
-- repeated and audited. `verdict` is null until a pass has settled what the record means.
CREATE TABLE reconciliation_records (
  gateway           text NOT NULL,
  record_id         text NOT NULL,
  operation         text NOT NULL CHECK (operation IN ('authorize', 'capture', 'void', 'refund')),
  status            text NOT NULL CHECK (status IN ('succeeded', 'declined')),
  amount            bigint NOT NULL CHECK (amount >= 0),
  currency          text NOT NULL,
  executed_at       timestamptz NOT NULL,
  gateway_key       text,
  authorization_id  text,
  reference         text,
  raw               jsonb NOT NULL,
  fetched_at        timestamptz NOT NULL,
  fetched_fence     bigint NOT NULL,
  verdict           text,
  verdict_detail    text,
  settled_at        timestamptz,
  PRIMARY KEY (gateway, record_id)
);
CREATE INDEX reconciliation_records_unsettled ON reconciliation_records (gateway, executed_at) WHERE verdict IS NULL;
CREATE INDEX reconciliation_records_gateway_key ON reconciliation_records (gateway_key);

-- Remediations the gateway must execute (today: voids of orphaned and duplicate
-- authorizations). Their own leased, fenced work rows rather than outbox rows: an orphan has
-- no payment and no attempt for outbox.attempt_id to point at. The gateway key is derived
-- from (gateway, authorization) and unique, so however many passes or instances decide the
-- same void, it is written once and executed once.
CREATE TABLE reconciliation_remediations (
  id                bigserial PRIMARY KEY,
  gateway           text NOT NULL,
  action            text NOT NULL CHECK (action IN ('void')),
  reason            text NOT NULL CHECK (reason IN ('duplicate_authorization', 'orphaned_authorization')),
  gateway_key       text NOT NULL UNIQUE,
  authorization_id  text NOT NULL,
  record_id         text NOT NULL,
  amount            bigint NOT NULL,
  currency          text NOT NULL,
  reference         text NOT NULL,
  payment_id        text REFERENCES payments (id),
  merchant_id       text REFERENCES merchants (id),
  state             text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
  run_after         timestamptz NOT NULL,
  lease_until       timestamptz,
  fence             bigint NOT NULL DEFAULT 0,
  tries             integer NOT NULL DEFAULT 0,
  result            text,
  created_at        timestamptz NOT NULL,
  done_at           timestamptz
);
CREATE INDEX reconciliation_remediations_due ON reconciliation_remediations (run_after) WHERE state = 'pending';

-- Cases for people: support (operations Idem never asked for) and the acquirer's settlement
-- team (amounts, currencies, settlement). `dedupe_key` makes opening the same case twice a no-op.
CREATE TABLE reconciliation_cases (
  id            text PRIMARY KEY,
  dedupe_key    text NOT NULL UNIQUE,
  merchant_id   text REFERENCES merchants (id),
  payment_id    text REFERENCES payments (id),
  gateway       text NOT NULL,
  class         text NOT NULL,
  team          text NOT NULL CHECK (team IN ('support', 'settlement')),
  status        text NOT NULL CHECK (status IN ('open', 'resolved')),
  evidence      jsonb NOT NULL,
  action        text NOT NULL,
  action_result text,
  resolution    text,
  opened_at     timestamptz NOT NULL,
  resolved_at   timestamptz
);
CREATE INDEX reconciliation_cases_merchant ON reconciliation_cases (merchant_id, status, opened_at);

-- Reconciliation finds a payment by the authorization a gateway record acts on.
CREATE INDEX payments_authorization ON payments (authorization_id);
