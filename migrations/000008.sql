-- Scored matching in the reconciliation loop (docs/reconciliation.md, "The loop"): a settled
-- record keeps the attempt it was matched to and the evidence of that match (rule, probability,
-- each feature's value and weight, the lead over the runner-up) — an attempt matched by score
-- is seen at the gateway even though no record carries its key — and the attempts a gateway
-- record that lost its keys may answer are found by gateway and time.
ALTER TABLE reconciliation_records ADD COLUMN matched_attempt_id text, ADD COLUMN match_evidence jsonb;
CREATE INDEX reconciliation_records_matched_attempt ON reconciliation_records (gateway, matched_attempt_id) WHERE matched_attempt_id IS NOT NULL;
CREATE INDEX payment_attempts_gateway_time ON payment_attempts (gateway, created_at);
