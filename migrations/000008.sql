-- Scored matching in the reconciliation loop (docs/reconciliation.md, "The loop"): a settled
-- record keeps the evidence of the match it was settled on (rule, probability, each feature's
-- value and weight, the lead over the runner-up), and the attempts a gateway record that lost
-- its keys may answer are found by gateway and time.
ALTER TABLE reconciliation_records ADD COLUMN match_evidence jsonb;
CREATE INDEX payment_attempts_gateway_time ON payment_attempts (gateway, created_at);
