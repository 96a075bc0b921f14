UPDATE webhook_outbox SET state = 'pending' WHERE state = 'failed';
ALTER TABLE webhook_outbox DROP CONSTRAINT webhook_outbox_state_check,
    ADD CONSTRAINT webhook_outbox_state_check CHECK (state IN ('pending', 'delivered'));
