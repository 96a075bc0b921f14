-- One retention batch of 1,000 guests, as `service::retention` deletes them, timed: included
-- twice by guest-deletion.sql, inside a transaction it rolls back.
CREATE TEMP TABLE batch ON COMMIT DROP AS
SELECT guest_id AS id FROM support_sessions WHERE status = 'closed' ORDER BY closed_at LIMIT 1000;
\timing on
SELECT count(*) AS rooms_locked FROM (
    SELECT id FROM rooms WHERE kind = 'support'
       AND id IN (SELECT room_id FROM support_sessions WHERE guest_id = ANY (ARRAY(SELECT id FROM batch)))
     ORDER BY id FOR UPDATE) l;
DELETE FROM rooms WHERE id = ANY (ARRAY(SELECT room_id FROM support_sessions WHERE guest_id IN (SELECT id FROM batch)));
DELETE FROM users WHERE id = ANY (ARRAY(SELECT id FROM batch)) AND role = 'guest';
\timing off
