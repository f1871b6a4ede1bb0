-- Settlement reports read from an Adyen gateway's `settlement_reports_dir`
-- (docs/gateways.md, "Settlement reports"): one row per report file read, remembered by name
-- and SHA-256 so a file is read once and a copy under another name reads as nothing new (a
-- copy is kept as a row with no records, so it is not opened again either). Its
-- records (parsed, gross and net) are kept with it and handed to reconciliation by id, the
-- gateway's cursor (`s:<id>`), so a pass that stops half-way hands them out again.
CREATE TABLE gateway_settlement_files (
  id          bigserial PRIMARY KEY,
  gateway     text NOT NULL,
  name        text NOT NULL,
  sha256      text NOT NULL,
  size        bigint NOT NULL,
  modified_at timestamptz NOT NULL,
  records     jsonb NOT NULL,
  rejected    jsonb NOT NULL,
  copy        boolean NOT NULL,
  read_at     timestamptz NOT NULL,
  UNIQUE (gateway, name, sha256)
);
CREATE INDEX gateway_settlement_files_sha256 ON gateway_settlement_files (gateway, sha256);
CREATE INDEX gateway_settlement_files_name ON gateway_settlement_files (gateway, name);
