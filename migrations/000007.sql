-- The gateway health each state-change event last reported (docs/resilience.md): every
-- instance learns the same change from the shared log, and the first to report it moves this
-- row (compare-and-set under its row lock) and writes the one `gateway.*` event; the others
-- find the row already there and write nothing.
CREATE TABLE gateway_health_reports (
  gateway text NOT NULL,
  operation text NOT NULL,
  state text NOT NULL CHECK (state IN ('healthy', 'degraded', 'down', 'recovering')),
  since timestamptz NOT NULL,
  PRIMARY KEY (gateway, operation)
);
