-- Notifications real processors send (Adyen's standard webhooks, docs/gateways.md): stored
-- before they are acknowledged, once per (gateway, psp_reference, event_code, success) so a
-- duplicate is harmless; read by merchant_reference (Idem's gateway key) to settle an attempt
-- and by id as the gateway's log for reconciliation. No signature or additional data is kept.
CREATE TABLE gateway_notifications (
  id                 bigserial PRIMARY KEY,
  gateway            text NOT NULL,
  psp_reference      text NOT NULL,
  original_reference text,
  merchant_account   text NOT NULL,
  merchant_reference text NOT NULL,
  event_code         text NOT NULL,
  success            boolean NOT NULL,
  amount             bigint NOT NULL CHECK (amount >= 0),
  currency           text NOT NULL,
  event_date         text NOT NULL,
  reason             text,
  received_at        timestamptz NOT NULL,
  UNIQUE (gateway, psp_reference, event_code, success)
);
CREATE INDEX gateway_notifications_reference ON gateway_notifications (gateway, merchant_reference);
