-- Reconciliation, deeper (docs/reconciliation.md): a staged gateway record keeps the merchant
-- its gateway reported (the scored matcher's merchant feature reads it; null when the gateway
-- does not say), and what the scored matcher learned outlives the process: one row per model,
-- its evidence as pseudo-counts per feature level, loaded when a pass starts and written after.
ALTER TABLE reconciliation_records ADD COLUMN merchant_id text;
CREATE TABLE reconciliation_models (
  name text PRIMARY KEY,
  counts jsonb NOT NULL,
  evidence_pairs double precision NOT NULL,
  updated_at timestamptz NOT NULL
);
