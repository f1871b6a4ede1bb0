-- Thinner event writes (docs/performance.md, "The event table's indexes"). A payment's round
-- inserts its events; the relay gives them their feed positions afterwards (an UPDATE that
-- touches every index again, since `position` is indexed). Each index left is named by what
-- needs it:
--   pkey (id), event_id unique (an event's identity; webhook deliveries refer to it),
--   (payment_id, seq) unique (a payment's timeline order: the round's own `max(seq)` read, and
--   every read of one payment's events), position unique (the feed's order), unpositioned (the
--   relay's work list).
-- Dropped: (payment_id, id): every read of a payment's events is by (payment_id, seq).
DROP INDEX payment_events_payment;
-- Readers' indexes only for positioned events: an event enters them when the relay positions
-- it, not also when the round inserts it. Every query they serve reads positioned events only
-- (the feed, `position > n`; the dashboard's activity, `position IS NOT NULL`).
ALTER TABLE payment_events DROP CONSTRAINT payment_events_position_key;
CREATE UNIQUE INDEX payment_events_position_key ON payment_events (position) WHERE position IS NOT NULL;
DROP INDEX payment_events_feed;
CREATE INDEX payment_events_feed ON payment_events (merchant_id, position) WHERE position IS NOT NULL;
DROP INDEX payment_events_time;
CREATE INDEX payment_events_time ON payment_events (merchant_id, created_at) WHERE position IS NOT NULL;
