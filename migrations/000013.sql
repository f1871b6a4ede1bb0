-- Probe leases (docs/resilience.md, "Shared by every instance"): the right to send the one probe
-- of a down gateway in an interval, for the whole deployment. PostgreSQL holds them when Redis
-- is absent or down. `gap_ms` is the interval's length; it doubles while the outage lasts.

CREATE TABLE gateway_probe_leases (
  gateway      text NOT NULL,
  operation    text NOT NULL,
  holder       text NOT NULL,
  lease_until  timestamptz NOT NULL,
  gap_ms       integer NOT NULL,
  PRIMARY KEY (gateway, operation)
);
