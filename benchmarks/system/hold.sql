-- The SQL one hold runs (POST /v1/bookings, one slot), statement by statement as scheduling sends
-- it to PostgreSQL (log_statement = all), for pgbench -M prepared. Client c takes its slots
-- md5('slot' || c * 1000000 + n) for n = 1, 2, ... (-D n=0): every hold is on its own open slot.
-- :envelope is a real booking.held envelope taken from scheduling's outbox.
\set n :n + 1
\set k :client_id * 1000000 + :n
BEGIN;
WITH claimed AS (SELECT slot.id FROM slot WHERE slot.id = ANY(ARRAY[md5('slot' || :k::text)::uuid]) ORDER BY slot.id
  FOR UPDATE NOWAIT)
UPDATE slot SET status = 'held', booking_id = md5('booking' || :k::text)::uuid, status_reason = NULL,
  version = slot.version + 1, updated_at = now(), updated_by = 'developer/bench'
  FROM claimed WHERE slot.id = claimed.id AND slot.status = 'open'
  RETURNING slot.id, slot.suite_id, slot.facility_id, slot.starts_at, slot.ends_at, slot.status,
  (SELECT suite_view.retired FROM suite_view WHERE suite_view.suite_id = slot.suite_id) AS retired,
  (SELECT facility_view.country FROM facility_view WHERE facility_view.facility_id = slot.facility_id) AS country,
  (SELECT array_agg((c.number, c.status, c.expires_on, c.reason)) FROM certificate_view c
  WHERE c.facility_id = slot.facility_id) AS certificates \gset
WITH written AS (INSERT INTO booking (id, version, status, org_id, facility_id, suite_id, slot_ids, starts_at, ends_at, product,
  run_kind, approval_id, material_needs, at_risk_reasons, shortfalls, hold_expires_at, materials_requested_at,
  materials_asked_at, materials_attempts, materials_overdue_since, waitlist_entry_id, cancel_reason, created_at,
  created_by, updated_at, updated_by)
  VALUES (md5('booking' || :k::text)::uuid, 1, 'held', 'ORG-BENCH', :facility_id, :suite_id, ARRAY[md5('slot' || :k::text)::uuid],
  :starts_at, :ends_at, 'CAR-T CD19 autologous', 'development', NULL, '[]', '{}', '[]', now() + interval '1 day',
  NULL, NULL, 0, NULL, NULL, NULL, now(), 'developer/bench', now(), 'developer/bench'))
INSERT INTO outbox (event_id, topic, key, type, envelope) SELECT event_id, topic, key, type, envelope::jsonb
  FROM unnest(ARRAY[gen_random_uuid()], ARRAY['gmphub.scheduling.v1'], ARRAY[md5('booking' || :k::text)],
  ARRAY['gmphub.scheduling.booking.held.v1'], ARRAY[:envelope::text]) AS e(event_id, topic, key, type, envelope);
COMMIT;
