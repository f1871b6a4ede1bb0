-- Gateway answers shared between instances so each learns every gateway's health from all the
-- traffic (docs/resilience.md). PostgreSQL is the fallback when Redis is absent or down. A
-- learning signal, not a record of money: rows older than an hour are pruned.

CREATE TABLE gateway_observations (
  id        bigserial PRIMARY KEY,
  instance  text NOT NULL,
  at        timestamptz NOT NULL,
  body      jsonb NOT NULL
);
CREATE INDEX gateway_observations_at ON gateway_observations (at);
