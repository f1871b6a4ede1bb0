-- Double-entry ledger: append-only journal entries, each unique per (payment, event), whose
-- postings sum to zero per currency. Written in the same transaction as the state change.

CREATE TABLE ledger_entries (
  id          bigserial PRIMARY KEY,
  payment_id  text NOT NULL REFERENCES payments (id),
  event       text NOT NULL,
  currency    text NOT NULL,
  created_at  timestamptz NOT NULL,
  UNIQUE (payment_id, event)
);

CREATE TABLE ledger_postings (
  entry_id  bigint NOT NULL REFERENCES ledger_entries (id),
  account   text NOT NULL,
  amount    bigint NOT NULL CHECK (amount <> 0),   -- debit positive, credit negative
  PRIMARY KEY (entry_id, account)
);
CREATE INDEX ledger_postings_account ON ledger_postings (account);

-- The client key whose request opened each attempt, so recovery can finish that request.
ALTER TABLE payment_attempts ADD COLUMN idempotency_key text;
ALTER TABLE payments ADD COLUMN amount_requested bigint;  -- capture or refund amount in flight
