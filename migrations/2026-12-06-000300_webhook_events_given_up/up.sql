-- An event its receiver keeps refusing is given up after `webhooks.max_attempts` ('failed'), so
-- that it stops holding back the later events of its room for that endpoint (the worker takes
-- only the oldest pending row per endpoint and room). "Send again" queues it once more.
ALTER TABLE webhook_outbox DROP CONSTRAINT webhook_outbox_state_check,
    ADD CONSTRAINT webhook_outbox_state_check CHECK (state IN ('pending', 'delivered', 'failed'));
